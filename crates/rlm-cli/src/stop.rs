//! The one stderr line that says why a run stopped early, with the figure it reached
//! (`stopped: max_llm_calls reached (2 of 2 calls)`, `stopped: timeout after 30.0 s`), and the
//! warning for an answer that came from the last-chance call.

use rlm::{Completion, RunError, RunOutcomeKind};

use crate::args::RunLimitArgs;

/// The line for a run that stopped on a budget, a timeout or `max_errors` (`None` for a
/// finished, cancelled or failed run: those print their own line).
pub fn stop_line(done: &Completion, limits: &RunLimitArgs) -> Option<String> {
    let cause = match done.kind() {
        RunOutcomeKind::Budget => budget_cause(done, limits),
        RunOutcomeKind::Timeout => format!(
            "timeout after {:.1} s{}",
            done.duration.as_secs_f64(),
            limits
                .timeout
                .map(|t| format!(" (--timeout {})", t.as_secs_f64()))
                .unwrap_or_default()
        ),
        RunOutcomeKind::ErrorLimit => match done.error() {
            Some(RunError::ErrorLimit { max }) => {
                format!("max_errors reached ({max} turns in a row raised)")
            }
            _ => "max_errors reached".to_string(),
        },
        _ => return None,
    };
    let partial = if done.answer().is_empty() {
        "; no partial answer"
    } else {
        "; the partial answer follows on stdout"
    };
    Some(format!("stopped: {cause}{partial}"))
}

/// Which budget stopped the run, with its figure.
fn budget_cause(done: &Completion, limits: &RunLimitArgs) -> String {
    let b = &done.budget;
    let field = match done.error() {
        Some(RunError::Limit(e)) => e.field().to_string(),
        Some(RunError::LimitRefused { limit, .. }) => limit.clone(),
        _ => String::new(),
    };
    match field.as_str() {
        "max_llm_calls" => format!(
            "max_llm_calls reached ({} of {} calls)",
            b.calls_started,
            limits.max_llm_calls.unwrap_or(b.calls_started)
        ),
        "max_tokens" => format!(
            "max_tokens reached ({} of {} tokens used)",
            b.tokens_used,
            limits.max_tokens.unwrap_or(b.tokens_used)
        ),
        "max_cost" => format!(
            "max_cost reached (${:.4} of ${:.4})",
            b.cost_spent,
            limits.max_cost.unwrap_or(b.cost_spent)
        ),
        "max_children_total" => format!(
            "max_children_total reached ({} children)",
            b.children_spawned
        ),
        "" => match done.error() {
            Some(e) => format!("budget spent ({e})"),
            None => "budget spent".to_string(),
        },
        other => format!("{other} reached"),
    }
}

/// The warning for an answer from the last-chance call after `max_iterations`.
pub fn iteration_limit_warning(done: &Completion, limits: &RunLimitArgs) -> Option<String> {
    (done.kind() == RunOutcomeKind::IterationLimit).then(|| {
        format!(
            "[rlm] warning: max_iterations ({}) reached; the answer comes from a last-chance call without the REPL",
            limits.max_iterations
        )
    })
}
