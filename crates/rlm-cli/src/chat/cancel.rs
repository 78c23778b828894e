//! Ctrl-C in `rlm chat`: during an answer the first Ctrl-C cancels that answer and the session
//! goes on; a second one during the same answer exits 130 at once. Outside an answer (reading a
//! piped question, loading the context) Ctrl-C exits 130 at once. At the interactive prompt the
//! line editor reads Ctrl-C as a key (it clears the line), so no signal comes.
//!
//! SIGINT is watched on a thread of its own with its own small runtime, as in `rlm run`
//! ([`crate::interrupt::spawn_watcher`]).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::interrupt::{Listener, exit_now, spawn_watcher};

#[derive(Default)]
struct Shared {
    /// The stop signal of the answer running now (`None`: no answer is running).
    answer: Mutex<Option<Arc<Notify>>>,
    /// Ctrl-C presses during the answer running now.
    count: AtomicU32,
}

/// The installed watcher.
pub struct Cancel {
    shared: Arc<Shared>,
}

/// An answer in progress: Ctrl-C completes [`Answer::stopped`]; dropping it ends the answer.
pub struct Answer {
    shared: Arc<Shared>,
    stop: Arc<Notify>,
}

impl Cancel {
    /// Starts watching SIGINT.
    pub fn install() -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let watched = shared.clone();
        spawn_watcher("rlm-chat-ctrl-c", move |listener| async move {
            watch(listener, &watched).await;
        })?;
        Ok(Self { shared })
    }

    /// Marks an answer as running until the returned [`Answer`] is dropped.
    pub fn answer(&self) -> Answer {
        let stop = Arc::new(Notify::new());
        self.shared.count.store(0, Ordering::SeqCst);
        *lock(&self.shared.answer) = Some(stop.clone());
        Answer {
            shared: self.shared.clone(),
            stop,
        }
    }
}

impl Answer {
    /// Completes on the first Ctrl-C of this answer.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let stop = self.stop.clone();
        async move { stop.notified().await }
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        *lock(&self.shared.answer) = None;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn watch(mut listener: Listener, shared: &Shared) {
    while listener.recv().await {
        let answer = lock(&shared.answer).clone();
        match answer {
            Some(stop) if shared.count.fetch_add(1, Ordering::SeqCst) == 0 => {
                // `notify_one` keeps the permit if the answer is not waiting yet.
                stop.notify_one();
            }
            Some(_) => exit_now("[rlm] interrupted again: exiting at once"),
            None => exit_now("[rlm] interrupted"),
        }
    }
}
