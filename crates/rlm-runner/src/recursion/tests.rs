//! The batched sub-calls under a paused clock: one slow prompt does not starve the pool, the
//! results keep their order, and the tree-wide `max_concurrency` still holds.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rlm_core::{
    CompletionRequest, CompletionResponse, HostCall, HostReply, LanguageModel, LlmError,
    MockReplFactory, ReplHost, Subscribers,
};
use rlm_limits::Deadline;

use super::SubcallHost;
use crate::batch::gauge::{Gauge, starved};
use crate::config::{Models, RunnerConfig};
use crate::tree::Tree;

/// Answers `p<n>` with `a<n>` after 10 s for `p0` and 100 ms for every other prompt, counting
/// the calls in flight.
struct SlowHead {
    gauge: Arc<Gauge>,
}

#[async_trait]
impl LanguageModel for SlowHead {
    fn model_name(&self) -> &str {
        "slow-head"
    }

    async fn complete(&self, request: CompletionRequest) -> Result<CompletionResponse, LlmError> {
        let prompt = request
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let ms = if prompt == "p0" { 10_000 } else { 100 };
        self.gauge
            .count(tokio::time::sleep(Duration::from_millis(ms)))
            .await;
        let answer = prompt.replacen('p', "a", 1);
        Ok(CompletionResponse::text("slow-head", answer))
    }
}

/// The host of a root run over the slow-head model, with `workers` batch workers and an
/// optional tree-wide cap.
fn host(gauge: &Arc<Gauge>, workers: usize, max_concurrency: Option<usize>) -> SubcallHost {
    let mut config = RunnerConfig::default();
    config.backend.max_batch_workers = workers;
    // Depth 1: `rlm_query` at the root is a plain call, so both batched forms reach the model.
    config.backend.max_depth = 1;
    config.run.max_concurrency = max_concurrency;
    let models = Models::new(Arc::new(SlowHead {
        gauge: gauge.clone(),
    }));
    let tree = Tree::new(
        config,
        &models,
        Arc::new(MockReplFactory::new()),
        Subscribers::new(),
    );
    SubcallHost::new(Arc::new(tree), 1, 0, Deadline::none())
}

fn prompts(total: usize) -> Vec<String> {
    (0..total).map(|i| format!("p{i}")).collect()
}

/// Runs `call` against a fresh host and checks order, the in-flight floor and the peak.
async fn check(
    call: HostCall,
    total: usize,
    workers: usize,
    max_concurrency: Option<usize>,
) -> Vec<String> {
    let gauge = Arc::new(Gauge::default());
    let host = host(&gauge, workers, max_concurrency);
    let width = max_concurrency.map_or(workers, |cap| cap.min(workers));
    let (reply, samples) = tokio::join!(
        host.call(call),
        gauge.watch(total, width, Duration::from_millis(10))
    );
    // The slow prompt is pending for 10 s: about 1,000 samples, none with a worker idle.
    assert!(samples.len() > 900, "{} samples", samples.len());
    let low = starved(&samples);
    assert!(
        low.is_empty(),
        "{} of {} samples had fewer in flight than min(unfinished, workers); first (in flight, wanted): {:?}",
        low.len(),
        samples.len(),
        low.first()
    );
    assert_eq!(gauge.peak(), width);
    match reply {
        HostReply::Texts(texts) => texts,
        other => panic!("expected texts, got {other:?}"),
    }
}

fn answers(total: usize) -> Vec<String> {
    (0..total).map(|i| format!("a{i}")).collect()
}

#[tokio::test(start_paused = true)]
async fn llm_query_batched_keeps_the_workers_busy_behind_a_slow_call() {
    let call = HostCall::LlmQueryBatched {
        prompts: prompts(64),
        model: None,
    };
    assert_eq!(check(call, 64, 8, None).await, answers(64));
}

#[tokio::test(start_paused = true)]
async fn rlm_query_batched_keeps_the_workers_busy_behind_a_slow_call() {
    let call = HostCall::RlmQueryBatched {
        prompts: prompts(64),
        model: None,
    };
    assert_eq!(check(call, 64, 8, None).await, answers(64));
}

#[tokio::test(start_paused = true)]
async fn the_tree_wide_cap_still_holds_and_stays_full() {
    let call = HostCall::LlmQueryBatched {
        prompts: prompts(64),
        model: None,
    };
    assert_eq!(check(call, 64, 8, Some(3)).await, answers(64));
}

#[tokio::test(start_paused = true)]
async fn slots_past_the_per_batch_cap_are_errors_in_place() {
    let gauge = Arc::new(Gauge::default());
    let mut host = host(&gauge, 4, None);
    let mut config = host.tree.config.clone();
    config.backend.max_children_per_batch = Some(3);
    let models = Models::new(Arc::new(SlowHead {
        gauge: gauge.clone(),
    }));
    host.tree = Arc::new(Tree::new(
        config,
        &models,
        Arc::new(MockReplFactory::new()),
        Subscribers::new(),
    ));
    let reply = host
        .call(HostCall::RlmQueryBatched {
            prompts: prompts(5),
            model: None,
        })
        .await;
    let HostReply::Texts(texts) = reply else {
        panic!("expected texts, got {reply:?}");
    };
    assert_eq!(&texts[..3], ["a0", "a1", "a2"]);
    for text in &texts[3..] {
        assert!(
            text.starts_with("Error: max_children_per_batch (3) exceeded"),
            "{text}"
        );
    }
    assert_eq!(texts.len(), 5);
}

#[tokio::test(start_paused = true)]
async fn seed_compat_drops_the_prompts_past_the_per_batch_cap() {
    let gauge = Arc::new(Gauge::default());
    let mut host = host(&gauge, 4, None);
    let mut config = host.tree.config.clone();
    config.backend.max_children_per_batch = Some(3);
    config.seed_compat.truncate_batches = true;
    let models = Models::new(Arc::new(SlowHead {
        gauge: gauge.clone(),
    }));
    host.tree = Arc::new(Tree::new(
        config,
        &models,
        Arc::new(MockReplFactory::new()),
        Subscribers::new(),
    ));
    let reply = host
        .call(HostCall::RlmQueryBatched {
            prompts: prompts(5),
            model: None,
        })
        .await;
    let HostReply::Texts(texts) = reply else {
        panic!("expected texts, got {reply:?}");
    };
    assert_eq!(texts, ["a0", "a1", "a2"]);
}
