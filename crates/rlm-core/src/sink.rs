//! Event sinks: whoever listens to a run's [`RunEvent`]s. A sink says whether it wants the
//! content fields ([`EventSink::wants_content`]); one that fails or panics is logged and
//! skipped: it never breaks a run.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use crate::RunEvent;

/// A subscriber's own failure (reported in the log, never to the run).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event subscriber failed: {message}")]
pub struct SinkError {
    /// What went wrong.
    pub message: String,
}

/// Receives run events. Called synchronously on the run's task: keep it quick (hand heavy work
/// to a channel).
pub trait EventSink: Send + Sync {
    /// Handles one event.
    fn on_event(&self, event: &RunEvent) -> Result<(), SinkError>;

    /// Whether this sink wants the content fields of the events (the conversation, code,
    /// output, sub-call prompts and answers). Asked once per run tree; when no sink wants
    /// content, the runner copies none. Default: `false`.
    fn wants_content(&self) -> bool {
        false
    }

    /// Whether this sink wants the root model's reply as it streams in
    /// ([`RunEvent::RootDelta`]). Asked once per run tree; when no sink wants deltas, the
    /// runner asks for no stream at all (the wire traffic stays non-streaming), and delta
    /// events go only to the sinks that want them. Default: `false`.
    fn wants_deltas(&self) -> bool {
        false
    }
}

impl<F> EventSink for F
where
    F: Fn(&RunEvent) + Send + Sync,
{
    fn on_event(&self, event: &RunEvent) -> Result<(), SinkError> {
        self(event);
        Ok(())
    }
}

/// The subscribers of a run, shared with its children.
#[derive(Clone, Default)]
pub struct Subscribers {
    sinks: Vec<Arc<dyn EventSink>>,
}

impl fmt::Debug for Subscribers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscribers")
            .field("count", &self.sinks.len())
            .finish()
    }
}

impl Subscribers {
    /// No subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a subscriber.
    pub fn push(&mut self, sink: Arc<dyn EventSink>) {
        self.sinks.push(sink);
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Whether any subscriber wants the content fields ([`EventSink::wants_content`]).
    pub fn wants_content(&self) -> bool {
        self.sinks.iter().any(|sink| sink.wants_content())
    }

    /// Whether any subscriber wants streamed deltas ([`EventSink::wants_deltas`]).
    pub fn wants_deltas(&self) -> bool {
        self.sinks.iter().any(|sink| sink.wants_deltas())
    }

    /// Delivers `event` to every subscriber; failures and panics are logged, never propagated.
    /// A [`RunEvent::RootDelta`] goes only to the subscribers that want deltas.
    pub fn emit(&self, event: &RunEvent) {
        let delta = matches!(event, RunEvent::RootDelta { .. });
        for sink in &self.sinks {
            if delta && !sink.wants_deltas() {
                continue;
            }
            match catch_unwind(AssertUnwindSafe(|| sink.on_event(event))) {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::warn!(error = %err, "event subscriber failed"),
                Err(_) => tracing::warn!("event subscriber panicked; event skipped"),
            }
        }
    }
}

type StartFn = dyn Fn(u32, &str, &str) + Send + Sync;
type CompleteFn = dyn Fn(u32, &str, Duration, Option<&str>) + Send + Sync;

/// The seed's `on_subcall_start(depth, model, prompt_preview)` and
/// `on_subcall_complete(depth, model, duration, error)` callbacks, as a subscriber.
#[derive(Default)]
pub struct SubcallCallbacks {
    on_start: Option<Box<StartFn>>,
    on_complete: Option<Box<CompleteFn>>,
}

impl fmt::Debug for SubcallCallbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubcallCallbacks")
            .field("on_start", &self.on_start.is_some())
            .field("on_complete", &self.on_complete.is_some())
            .finish()
    }
}

impl SubcallCallbacks {
    /// No callbacks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `on_subcall_start(depth, model, prompt_preview)`.
    pub fn on_start(mut self, f: impl Fn(u32, &str, &str) + Send + Sync + 'static) -> Self {
        self.on_start = Some(Box::new(f));
        self
    }

    /// Sets `on_subcall_complete(depth, model, duration, error)`.
    pub fn on_complete(
        mut self,
        f: impl Fn(u32, &str, Duration, Option<&str>) + Send + Sync + 'static,
    ) -> Self {
        self.on_complete = Some(Box::new(f));
        self
    }
}

impl EventSink for SubcallCallbacks {
    fn on_event(&self, event: &RunEvent) -> Result<(), SinkError> {
        match event {
            RunEvent::SubcallStarted {
                depth,
                model,
                prompt_preview,
                ..
            } => {
                if let Some(f) = &self.on_start {
                    f(*depth, model, prompt_preview);
                }
            }
            RunEvent::SubcallCompleted {
                depth,
                model,
                duration,
                error,
                ..
            } => {
                if let Some(f) = &self.on_complete {
                    f(*depth, model, *duration, error.as_deref());
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    struct Failing;
    impl EventSink for Failing {
        fn on_event(&self, _: &RunEvent) -> Result<(), SinkError> {
            Err(SinkError {
                message: "disk full".into(),
            })
        }
    }

    struct Recording;
    impl EventSink for Recording {
        fn on_event(&self, _: &RunEvent) -> Result<(), SinkError> {
            Ok(())
        }
        fn wants_content(&self) -> bool {
            true
        }
    }

    #[test]
    fn content_is_wanted_when_one_sink_wants_it() {
        let mut subs = Subscribers::new();
        assert!(!subs.wants_content());
        subs.push(Arc::new(|_: &RunEvent| {}));
        subs.push(Arc::new(SubcallCallbacks::new()));
        assert!(!subs.wants_content());
        subs.push(Arc::new(Recording));
        assert!(subs.wants_content());
    }

    /// Counts the events it is given and wants deltas when told to.
    struct Counting(Mutex<usize>, bool);
    impl EventSink for Counting {
        fn on_event(&self, _: &RunEvent) -> Result<(), SinkError> {
            *self.0.lock().unwrap() += 1;
            Ok(())
        }
        fn wants_deltas(&self) -> bool {
            self.1
        }
    }

    #[test]
    fn deltas_go_only_to_the_sinks_that_want_them() {
        let plain = Arc::new(Counting(Mutex::new(0), false));
        let live = Arc::new(Counting(Mutex::new(0), true));
        let mut subs = Subscribers::new();
        subs.push(plain.clone());
        assert!(!subs.wants_deltas());
        subs.push(live.clone());
        assert!(subs.wants_deltas());
        subs.emit(&RunEvent::RootDelta {
            run_id: 1,
            iteration: 1,
            text: "he".into(),
        });
        subs.emit(&RunEvent::IterationStarted {
            run_id: 1,
            depth: 0,
            iteration: 2,
        });
        assert_eq!(*plain.0.lock().unwrap(), 1, "no delta for a plain sink");
        assert_eq!(*live.0.lock().unwrap(), 2);
    }

    #[test]
    fn failing_and_panicking_sinks_do_not_stop_delivery() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let mut subs = Subscribers::new();
        subs.push(Arc::new(|_: &RunEvent| panic!("subscriber bug")));
        subs.push(Arc::new(Failing));
        subs.push(Arc::new(
            SubcallCallbacks::new()
                .on_start({
                    let log = log.clone();
                    move |d, m, p| log.lock().unwrap().push(format!("start {d} {m} {p}"))
                })
                .on_complete(move |d, m, dur, e| {
                    log.lock()
                        .unwrap()
                        .push(format!("done {d} {m} {}ms {e:?}", dur.as_millis()))
                }),
        ));
        subs.emit(&RunEvent::SubcallStarted {
            run_id: 1,
            call_id: 2,
            kind: crate::SubcallKind::Llm,
            child_run_id: None,
            iteration: 1,
            block: 0,
            depth: 1,
            model: "default".into(),
            prompt_preview: "hi".into(),
            prompt: None,
        });
        subs.emit(&RunEvent::SubcallCompleted {
            run_id: 1,
            call_id: 2,
            child_run_id: None,
            depth: 1,
            model: "default".into(),
            duration: Duration::from_millis(5),
            error: Some("boom".into()),
            usage: None,
            response: None,
        });
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                "start 1 default hi".to_string(),
                "done 1 default 5ms Some(\"boom\")".to_string()
            ]
        );
    }
}
