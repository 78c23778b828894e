//! [`Attempts`]: how many times a script has seen each key (a prompt, a chunk number), so a
//! [`crate::Script::from_fn`] closure can fail first attempts and let the retries through.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Counts requests by a key the script chooses; shareable across the server's connections.
///
/// ```
/// use rlm_testkit::{Attempts, Reply, Script};
///
/// let attempts = Attempts::default();
/// // The first request for each prompt is rate-limited, its retry answered.
/// let script = Script::from_fn(move |req| {
///     let prompt = req.message_contents().pop().unwrap_or_default();
///     match attempts.next(&prompt) {
///         0 => Reply::status(429, "slow down").header("retry-after", "1"),
///         _ => Reply::text(format!("answer to {prompt}")),
///     }
/// });
/// # let _ = script;
/// ```
#[derive(Debug, Default)]
pub struct Attempts {
    seen: Mutex<HashMap<String, u32>>,
}

impl Attempts {
    /// Records one request for `key` and returns how many came before it (0 on the first).
    pub fn next(&self, key: &str) -> u32 {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let count = seen.entry(key.to_owned()).or_insert(0);
        let before = *count;
        *count = count.saturating_add(1);
        before
    }

    /// How many requests `key` has had so far.
    pub fn count(&self, key: &str) -> u32 {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get(key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{FakeServer, Reply, Script};

    #[test]
    fn counts_each_key_on_its_own() {
        let attempts = Attempts::default();
        assert_eq!(
            ["a", "b", "a", "a", "b"].map(|k| attempts.next(k)),
            [0, 0, 1, 2, 1]
        );
        assert_eq!((attempts.count("a"), attempts.count("z")), (3, 0));
    }

    /// Over the wire: the first request of each prompt is refused, the second answered.
    #[tokio::test]
    async fn first_attempts_fail_by_key_over_http() {
        let attempts = Arc::new(Attempts::default());
        let seen = attempts.clone();
        let server = FakeServer::start(Script::from_fn(move |req| {
            let body = req.body_text();
            let key = if body.contains("one") { "one" } else { "two" };
            match seen.next(key) {
                0 => Reply::status(429, "slow down").header("retry-after", "1"),
                _ => Reply::text(key),
            }
        }))
        .await;
        let url = format!("{}/chat/completions", server.base_url());
        let client = reqwest::Client::new();
        let mut statuses = Vec::new();
        for prompt in ["one", "one", "two", "one", "two"] {
            let response = client.post(&url).body(prompt).send().await.unwrap();
            statuses.push(response.status().as_u16());
        }
        assert_eq!(statuses, [429, 200, 429, 200, 200]);
        assert_eq!((attempts.count("one"), attempts.count("two")), (3, 2));
    }
}
