//! A token bucket: how the services that ask others on their own (caps, avatars) bound the
//! queries hostile input can make them send.

use std::time::{Duration, Instant};

/// `burst` queries at once, then one per `interval`.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    tokens: u32,
    burst: u32,
    interval: Duration,
    /// Since when tokens accrue; set on first use.
    since: Option<Instant>,
}

impl TokenBucket {
    /// Zero would never let anything through while waking to try: both are at least one
    /// (query, millisecond).
    pub(crate) fn new(burst: u32, interval: Duration) -> Self {
        let burst = burst.max(1);
        Self {
            tokens: burst,
            burst,
            interval: interval.max(Duration::from_millis(1)),
            since: None,
        }
    }

    /// Whether a token is available now (without taking it).
    pub(crate) fn ready(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens > 0
    }

    /// Takes a token (after [`Self::ready`] said there is one).
    pub(crate) fn take(&mut self) {
        self.tokens = self.tokens.saturating_sub(1);
    }

    /// When the next token arrives, if the bucket is empty.
    pub(crate) fn next_token(&self) -> Option<Instant> {
        if self.tokens > 0 {
            return None;
        }
        Some(super::later(self.since?, self.interval))
    }

    fn refill(&mut self, now: Instant) {
        let Some(since) = self.since else {
            self.since = Some(now);
            return;
        };
        let earned = now.saturating_duration_since(since).as_nanos() / self.interval.as_nanos();
        if earned == 0 {
            return;
        }
        let earned = u32::try_from(earned).unwrap_or(u32::MAX);
        self.tokens = self.tokens.saturating_add(earned).min(self.burst);
        // Whole intervals only, so that the remainder counts towards the next token; a
        // full bucket starts over from now.
        self.since = if self.tokens == self.burst {
            Some(now)
        } else {
            since.checked_add(self.interval * earned).or(Some(now))
        };
    }
}
