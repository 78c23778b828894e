//! The retry loop: how a failed attempt is classified, and [`call_with_retries`], which runs
//! attempts with backoff and jitter, honours the server's wait up to a cap, and keeps one
//! deadline per call, retries included. Tokio time, no HTTP client: [`crate::HttpModel`] hands
//! every attempt's outcome to it.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rlm_core::LlmError;
use rlm_limits::RetryPolicy;
use tokio::time::Instant;

use crate::hints::is_retryable_status;

/// The span field the loop records the attempt number into (0 for the first), when the current
/// span declares it (the `gen_ai.chat` span of the tracing decorator does).
pub const RETRY_ATTEMPT_FIELD: &str = "rlm.retry.attempt";

/// A failed attempt and whether another one may help.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptFailure {
    /// What went wrong (the error the call ends with if this was the last attempt).
    pub error: LlmError,
    /// Whether a retry may succeed.
    pub retryable: bool,
    /// The wait the server asked for, if any.
    pub retry_after: Option<Duration>,
}

impl AttemptFailure {
    /// A failure of the connection itself (refused, reset, cut short): retryable.
    pub fn transport(error: LlmError) -> Self {
        Self {
            error,
            retryable: true,
            retry_after: None,
        }
    }

    /// A failure no retry can mend.
    pub fn fatal(error: LlmError) -> Self {
        Self {
            error,
            retryable: false,
            retry_after: None,
        }
    }

    /// A failure classified from a response. `retry_after` is the response's wait (it is also
    /// put into an [`LlmError::Http`] that has none); `should_retry` is the server's
    /// `x-should-retry` verdict, which wins; otherwise only an [`LlmError::Http`] with a
    /// [retryable status](is_retryable_status) is retried.
    pub fn from_response(
        error: LlmError,
        retry_after: Option<Duration>,
        should_retry: Option<bool>,
    ) -> Self {
        let error = match error {
            LlmError::Http {
                status,
                body,
                retry_after: None,
            } => LlmError::Http {
                status,
                body,
                retry_after,
            },
            other => other,
        };
        let retry_after = match &error {
            LlmError::Http { retry_after, .. } => *retry_after,
            _ => retry_after,
        };
        let retryable = should_retry.unwrap_or_else(|| match &error {
            LlmError::Http { status, .. } => is_retryable_status(*status),
            _ => false,
        });
        Self {
            error,
            retryable,
            retry_after,
        }
    }
}

/// What kind of transport error an HTTP client reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Opening the connection failed (refused, DNS, TLS, connect timeout).
    Connect,
    /// The request's own timeout fired: the call deadline has passed.
    Timeout,
    /// Anything else (reset, closed, malformed response).
    Other,
}

/// Where a transport error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Connecting, sending, or waiting for the response head.
    Send,
    /// Reading the response body.
    Body,
}

/// Classifies a transport error. `url` is the endpoint as shown in errors, `message` what the
/// client said (already free of secrets), `elapsed` the time since the call started.
///
/// - connect errors: [`LlmError::Connect`], retried;
/// - the request timeout (set to the time left before the call deadline):
///   [`LlmError::Timeout`], not retried (no time is left);
/// - other errors before a response: [`LlmError::Connect`], retried;
/// - other errors while reading the body: [`LlmError::Truncated`], retried.
pub fn transport_failure(
    kind: TransportErrorKind,
    phase: Phase,
    url: &str,
    message: String,
    elapsed: Duration,
) -> AttemptFailure {
    let url = url.to_string();
    match (kind, phase) {
        (TransportErrorKind::Connect, _) => {
            AttemptFailure::transport(LlmError::Connect { url, message })
        }
        (TransportErrorKind::Timeout, _) => {
            AttemptFailure::fatal(LlmError::Timeout { url, elapsed })
        }
        (_, Phase::Send) => AttemptFailure::transport(LlmError::Connect {
            url,
            message: format!("connection failed before a response: {message}"),
        }),
        (_, Phase::Body) => AttemptFailure::transport(LlmError::Truncated {
            reason: format!("connection closed before the response body was complete: {message}"),
        }),
    }
}

/// An error's message followed by its sources, `: `-separated (a source whose text the message
/// already contains is skipped).
pub fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Performs a wait between attempts (`tokio::time::sleep` unless a test hook replaces it).
pub type SleepFn = Arc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Wraps an async function as a [`SleepFn`] (for a provider's hidden `sleep_hook`, with which
/// transport tests record the waits a client asks for: tokio's paused clock does not work with
/// real sockets).
pub fn sleep_fn<F, Fut>(sleep: F) -> SleepFn
where
    F: Fn(Duration) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |d| Box::pin(sleep(d)) as Pin<Box<dyn Future<Output = ()> + Send>>)
}

/// What an attempt is told: which retry it is and how much time the call has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 0 for the first attempt.
    pub retry: u32,
    /// When the call started.
    pub start: Instant,
    /// When the call must end, retries included (`None`: no deadline).
    pub deadline: Option<Instant>,
}

impl Attempt {
    /// Time left before the deadline (`None`: unlimited): the timeout to give the request.
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline
            .map(|at| at.saturating_duration_since(Instant::now()))
    }
}

/// Runs `attempt` until it succeeds, fails for good, or no retries or time are left, following
/// `policy`:
///
/// - a non-retryable failure, or one after the last allowed retry, ends the call with its error;
/// - the wait before a retry is the server's `Retry-After` when it gave one, else the policy's
///   backoff (0.5 s·2^n capped at 8 s, with jitter by default); a `Retry-After` above
///   `max_retry_after` fails at once with [`LlmError::RetryAfterTooLong`];
/// - a wait that would outlive the call deadline ends the call with the last error at once;
/// - the whole call, waits included, is bounded by `call_timeout`: past it the call fails with
///   [`LlmError::Timeout`] naming `url`.
///
/// `sleep` replaces `tokio::time::sleep` (a test hook). Dropping the future cancels the call,
/// including a backoff sleep. The current span's [`RETRY_ATTEMPT_FIELD`] is updated on
/// each attempt.
pub async fn call_with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    sleep: Option<&SleepFn>,
    url: &str,
    mut attempt: F,
) -> Result<T, LlmError>
where
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, AttemptFailure>>,
{
    let start = Instant::now();
    let deadline = policy.call_timeout.map(|t| start + t);
    let attempts = async {
        let mut retry: u32 = 0;
        loop {
            tracing::Span::current().record(RETRY_ATTEMPT_FIELD, retry);
            let failure = match attempt(Attempt {
                retry,
                start,
                deadline,
            })
            .await
            {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            tracing::debug!(
                error.kind = failure.error.kind(),
                retryable = failure.retryable,
                "attempt failed"
            );
            if !failure.retryable || retry >= policy.max_retries {
                return Err(failure.error);
            }
            let wait = match failure.retry_after {
                Some(wait) if wait > policy.max_retry_after => {
                    tracing::warn!(
                        wait_ms = wait.as_millis() as u64,
                        "retry-after above the cap: failing fast"
                    );
                    return Err(LlmError::RetryAfterTooLong {
                        wait,
                        cap: policy.max_retry_after,
                    });
                }
                Some(wait) => wait,
                None => policy.backoff(retry, fastrand::f64()),
            };
            if deadline.is_some_and(|at| Instant::now() + wait >= at) {
                // Waiting would outlive the call: the last error says more than a timeout would.
                return Err(failure.error);
            }
            tracing::info!(
                retry = retry + 1,
                wait_ms = wait.as_millis() as u64,
                "retrying after a failed attempt"
            );
            match sleep {
                None => tokio::time::sleep(wait).await,
                Some(sleep) => sleep(wait).await,
            }
            retry += 1;
        }
    };
    match deadline {
        None => attempts.await,
        Some(at) => tokio::time::timeout_at(at, attempts)
            .await
            .unwrap_or_else(|_| {
                Err(LlmError::Timeout {
                    url: url.to_string(),
                    elapsed: start.elapsed(),
                })
            }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn response_failures_take_the_servers_verdict_and_wait() {
        let http = |status| LlmError::Http {
            status,
            body: String::new(),
            retry_after: None,
        };
        let wait = Some(Duration::from_secs(3));
        let f = AttemptFailure::from_response(http(429), wait, None);
        assert!(f.retryable);
        assert_eq!(f.retry_after, wait);
        assert!(matches!(
            f.error,
            LlmError::Http {
                retry_after: Some(_),
                ..
            }
        ));
        assert!(!AttemptFailure::from_response(http(400), None, None).retryable);
        assert!(AttemptFailure::from_response(http(400), None, Some(true)).retryable);
        assert!(!AttemptFailure::from_response(http(500), None, Some(false)).retryable);
        let quota = LlmError::QuotaExhausted {
            body: String::new(),
        };
        assert!(!AttemptFailure::from_response(quota, wait, None).retryable);
        // A wait the classifier found in the body wins over a missing header.
        let in_body = LlmError::Http {
            status: 429,
            body: String::new(),
            retry_after: Some(Duration::from_secs(7)),
        };
        let f = AttemptFailure::from_response(in_body, None, None);
        assert_eq!(f.retry_after, Some(Duration::from_secs(7)));
    }

    #[test]
    fn transport_failures_by_kind_and_phase() {
        let t = |kind, phase| {
            transport_failure(kind, phase, "http://x/v1", "boom".into(), Duration::ZERO)
        };
        let f = t(TransportErrorKind::Connect, Phase::Send);
        assert!(f.retryable && matches!(f.error, LlmError::Connect { .. }));
        let f = t(TransportErrorKind::Timeout, Phase::Body);
        assert!(!f.retryable && matches!(f.error, LlmError::Timeout { .. }));
        let f = t(TransportErrorKind::Other, Phase::Send);
        assert!(
            f.retryable
                && matches!(&f.error, LlmError::Connect { message, .. } if message.contains("before a response"))
        );
        let f = t(TransportErrorKind::Other, Phase::Body);
        assert!(f.retryable && matches!(f.error, LlmError::Truncated { .. }));
    }

    #[test]
    fn error_chain_joins_sources_once() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl StdError for E {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                self.1.as_deref().map(|e| e as &(dyn StdError + 'static))
            }
        }
        let e = E(
            "send failed: refused",
            Some(Box::new(E(
                "refused",
                Some(Box::new(E("os error 111", None))),
            ))),
        );
        assert_eq!(error_chain(&e), "send failed: refused: os error 111");
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_retries: 2,
            jitter: false,
            call_timeout: None,
            ..RetryPolicy::default()
        }
    }

    /// Runs the loop over scripted attempt outcomes, recording the waits asked for.
    async fn scripted(
        policy: RetryPolicy,
        outcomes: Vec<Result<u32, AttemptFailure>>,
    ) -> (Result<u32, LlmError>, Vec<Duration>, u32) {
        let waits = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&waits);
        let sleep = sleep_fn(move |d| {
            log.lock().unwrap_or_else(|p| p.into_inner()).push(d);
            std::future::ready(())
        });
        let outcomes = Mutex::new(outcomes.into_iter());
        let attempts = Mutex::new(0u32);
        let result = call_with_retries(&policy, Some(&sleep), "http://x", |a| {
            *attempts.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            assert_eq!(a.deadline.is_some(), policy.call_timeout.is_some());
            let next = outcomes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .next()
                .unwrap_or(Ok(0));
            std::future::ready(next)
        })
        .await;
        let waits = waits.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let attempts = *attempts.lock().unwrap_or_else(|p| p.into_inner());
        (result, waits, attempts)
    }

    fn http(status: u16, retry_after: Option<Duration>) -> AttemptFailure {
        AttemptFailure::from_response(
            LlmError::Http {
                status,
                body: String::new(),
                retry_after: None,
            },
            retry_after,
            None,
        )
    }

    #[tokio::test]
    async fn loop_backs_off_honours_retry_after_and_stops() {
        let (r, waits, n) = scripted(
            fast(),
            vec![Err(http(500, None)), Err(http(503, None)), Ok(7)],
        )
        .await;
        assert_eq!((r, n), (Ok(7), 3));
        assert_eq!(
            waits,
            vec![Duration::from_millis(500), Duration::from_secs(1)]
        );

        let (r, waits, n) = scripted(
            fast(),
            vec![Err(http(429, Some(Duration::from_secs(2)))), Ok(1)],
        )
        .await;
        assert_eq!((r, n), (Ok(1), 2));
        assert_eq!(waits, vec![Duration::from_secs(2)]);

        let (r, waits, n) = scripted(fast(), vec![Err(http(400, None))]).await;
        assert!(matches!(r, Err(LlmError::Http { status: 400, .. })));
        assert_eq!((waits.len(), n), (0, 1));

        let (r, _, n) = scripted(fast(), vec![Err(http(500, None)); 3]).await;
        assert!(matches!(r, Err(LlmError::Http { status: 500, .. })));
        assert_eq!(n, 3);

        let (r, waits, n) = scripted(
            fast(),
            vec![Err(http(429, Some(Duration::from_secs(3600))))],
        )
        .await;
        assert!(matches!(r, Err(LlmError::RetryAfterTooLong { .. })));
        assert_eq!((waits.len(), n), (0, 1));
    }

    #[tokio::test]
    async fn a_wait_past_the_deadline_ends_the_call_with_the_last_error() {
        let policy = RetryPolicy {
            call_timeout: Some(Duration::from_secs(5)),
            ..fast()
        };
        let (r, waits, n) =
            scripted(policy, vec![Err(http(429, Some(Duration::from_secs(30))))]).await;
        assert!(matches!(r, Err(LlmError::Http { status: 429, .. })));
        assert_eq!((waits.len(), n), (0, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_bounds_the_whole_call() {
        let policy = RetryPolicy {
            call_timeout: Some(Duration::from_millis(100)),
            ..fast()
        };
        let result: Result<(), LlmError> =
            call_with_retries(&policy, None, "http://x/v1", |_| std::future::pending()).await;
        assert!(
            matches!(&result, Err(LlmError::Timeout { url, elapsed }) if url == "http://x/v1" && *elapsed >= Duration::from_millis(100)),
            "{result:?}"
        );
    }
}
