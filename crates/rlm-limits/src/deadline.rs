//! Nested wall-clock deadlines.

use std::time::Duration;

use tokio::time::Instant;

/// A point in time by which work must end, or none. Uses tokio's clock, so tests with a paused
/// clock see deadlines move with `advance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Option<Instant>,
}

impl Deadline {
    /// No deadline.
    pub fn none() -> Self {
        Self { at: None }
    }

    /// A deadline `timeout` from now (`None`: no deadline).
    pub fn after(timeout: Option<Duration>) -> Self {
        Self {
            at: timeout.map(|t| Instant::now() + t),
        }
    }

    /// The earlier of this deadline and `timeout` from now: a child never outlives its parent.
    pub fn child(&self, timeout: Option<Duration>) -> Self {
        let own = Self::after(timeout);
        match (self.at, own.at) {
            (Some(a), Some(b)) => Self { at: Some(a.min(b)) },
            (a, b) => Self { at: a.or(b) },
        }
    }

    /// The instant, if any.
    pub fn instant(&self) -> Option<Instant> {
        self.at
    }

    /// Time left (`None`: unlimited; zero once passed).
    pub fn remaining(&self) -> Option<Duration> {
        self.at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.remaining() == Some(Duration::ZERO)
    }

    /// Sleeps until the deadline; never returns when there is none.
    pub async fn wait(&self) {
        match self.at {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending::<()>().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn child_never_outlives_parent() {
        let parent = Deadline::after(Some(Duration::from_secs(10)));
        let child = parent.child(Some(Duration::from_secs(60)));
        assert_eq!(child, parent);
        let shorter = parent.child(Some(Duration::from_secs(1)));
        assert!(shorter.instant() < parent.instant());
        assert_eq!(Deadline::none().child(None), Deadline::none());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(shorter.expired());
        assert!(!parent.expired());
        assert_eq!(parent.remaining(), Some(Duration::from_secs(8)));
    }
}
