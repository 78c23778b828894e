//! The worker pool of the batched sub-calls (`llm_query_batched`, `rlm_query_batched`): at
//! most `workers` calls in flight, a new one started as soon as any finishes, results in input
//! order.
//!
//! `futures::StreamExt::buffered` is not enough: it starts a new call only when the call at the
//! head of its window finishes, so one slow or retrying call holds every finished slot behind
//! it and the batch runs with fewer and fewer calls in flight (head-of-line blocking). Here the
//! calls are polled unordered and each result is written into its slot.

use std::future::Future;

use futures::StreamExt;

/// Runs `call(i, item)` for every item, at most `workers` (at least 1) at a time, keeping
/// `workers` in flight whenever that many remain; returns the results in input order.
pub(crate) async fn in_order<T, O, F, Fut>(items: Vec<T>, workers: usize, call: F) -> Vec<O>
where
    O: Default,
    F: Fn(usize, T) -> Fut,
    Fut: Future<Output = O>,
{
    let mut slots: Vec<O> = std::iter::repeat_with(O::default)
        .take(items.len())
        .collect();
    let mut done = futures::stream::iter(items.into_iter().enumerate())
        .map(|(i, item)| {
            let call = call(i, item);
            async move { (i, call.await) }
        })
        .buffer_unordered(workers.max(1));
    while let Some((i, out)) = done.next().await {
        if let Some(slot) = slots.get_mut(i) {
            *slot = out;
        }
    }
    slots
}

/// Test support: counts the calls in flight and checks, at instants when the (paused) runtime
/// is idle, that the pool keeps `min(unfinished, workers)` of them in flight.
#[cfg(test)]
pub(crate) mod gauge {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Calls started and not finished, and calls finished.
    #[derive(Debug, Default)]
    pub(crate) struct Gauge {
        in_flight: AtomicUsize,
        finished: AtomicUsize,
        peak: AtomicUsize,
    }

    impl Gauge {
        /// Runs `call` as one counted call.
        pub(crate) async fn count<O>(&self, call: impl std::future::Future<Output = O>) -> O {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            let out = call.await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.finished.fetch_add(1, Ordering::SeqCst);
            out
        }

        /// The most calls in flight at once.
        pub(crate) fn peak(&self) -> usize {
            self.peak.load(Ordering::SeqCst)
        }

        /// Samples every `every` (first at `every / 2`, so off the calls' round latencies)
        /// until `total` calls finished; returns every sample as `(in flight, wanted)`, where
        /// wanted is `min(unfinished, workers)`.
        pub(crate) async fn watch(
            &self,
            total: usize,
            workers: usize,
            every: Duration,
        ) -> Vec<(usize, usize)> {
            let mut samples = Vec::new();
            tokio::time::sleep(every / 2).await;
            loop {
                let finished = self.finished.load(Ordering::SeqCst);
                if finished >= total {
                    return samples;
                }
                let wanted = (total - finished).min(workers);
                samples.push((self.in_flight.load(Ordering::SeqCst), wanted));
                tokio::time::sleep(every).await;
            }
        }
    }

    /// The samples where fewer calls were in flight than wanted.
    pub(crate) fn starved(samples: &[(usize, usize)]) -> Vec<(usize, usize)> {
        samples
            .iter()
            .copied()
            .filter(|(in_flight, wanted)| in_flight < wanted)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::gauge::{Gauge, starved};
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn keeps_every_worker_busy_past_a_slow_head_and_keeps_order() {
        let (total, workers) = (40, 4);
        let gauge = Gauge::default();
        let pool = in_order((0..total).collect(), workers, |_, n: usize| {
            gauge.count(async move {
                let ms = if n == 0 { 10_000 } else { 100 };
                tokio::time::sleep(Duration::from_millis(ms)).await;
                format!("r{n}")
            })
        });
        let (out, samples) =
            tokio::join!(pool, gauge.watch(total, workers, Duration::from_millis(10)));
        assert_eq!(out, (0..total).map(|n| format!("r{n}")).collect::<Vec<_>>());
        // The slow head is pending for 10 s: about 1,000 samples, none of them starved.
        assert!(samples.len() > 900, "{}", samples.len());
        let low = starved(&samples);
        assert!(
            low.is_empty(),
            "{} of {} samples had fewer in flight than min(unfinished, workers); first (in flight, wanted): {:?}",
            low.len(),
            samples.len(),
            low.first()
        );
    }

    #[tokio::test]
    async fn empty_and_zero_workers() {
        let out: Vec<String> = in_order(Vec::<u8>::new(), 0, |_, _| async { String::new() }).await;
        assert!(out.is_empty());
        let out = in_order(vec![1, 2, 3], 0, |i, n| async move { i * 10 + n }).await;
        assert_eq!(out, [1, 12, 23]);
    }
}
