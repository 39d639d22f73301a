//! Bounded retries with exponential backoff and full jitter.
//!
//! Only [`Failure::Transient`] failures are retried (connection errors, timeouts, 5xx,
//! 429, a body cut short); a 4xx never is. The delay before attempt `n+1` is uniform in
//! `[0, min(max_delay, base * 2^n)]` ("full jitter"), so many clients that failed together
//! do not retry together.

use std::future::Future;
use std::time::Duration;

use super::error::{Failure, TransferError};

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The first backoff ceiling.
    pub base_delay: Duration,
    /// The largest backoff ceiling.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The backoff ceiling before retry number `retry` (0 for the first retry).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// A random delay in `[0, ceiling(retry)]`.
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry).as_millis() as u64;
        Duration::from_millis(fastrand::u64(0..=ceiling))
    }
}

/// Runs `attempt` until it succeeds, fails fatally, or `policy.max_attempts` is reached.
/// `attempt` gets the attempt number (0-based).
pub(crate) async fn retry<T, F, Fut>(
    policy: RetryPolicy,
    op: &str,
    mut attempt: F,
) -> Result<T, TransferError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let max = policy.max_attempts.max(1);
    let mut n = 0;
    loop {
        match attempt(n).await {
            Ok(v) => return Ok(v),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Transient(message)) => {
                n += 1;
                if n >= max {
                    return Err(TransferError::Unavailable {
                        op: op.to_owned(),
                        attempts: n,
                        message,
                    });
                }
                tokio::time::sleep(policy.delay(n - 1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_up_to_max() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        assert_eq!(p.ceiling(0), Duration::from_millis(100));
        assert_eq!(p.ceiling(1), Duration::from_millis(200));
        assert_eq!(p.ceiling(3), Duration::from_millis(800));
        assert_eq!(p.ceiling(4), Duration::from_millis(1000));
        assert_eq!(p.ceiling(200), Duration::from_millis(1000));
        for r in 0..10 {
            assert!(p.delay(r) <= p.ceiling(r));
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        }
    }

    #[tokio::test]
    async fn transient_is_retried_until_bounded() {
        let mut calls = 0;
        let r: Result<(), _> = retry(policy(), "op", |_| {
            calls += 1;
            async { Err(Failure::Transient("503".into())) }
        })
        .await;
        assert_eq!(calls, 3);
        assert!(matches!(
            r,
            Err(TransferError::Unavailable { attempts: 3, .. })
        ));
    }

    #[tokio::test]
    async fn fatal_is_not_retried() {
        let mut calls = 0;
        let r: Result<(), _> = retry(policy(), "op", |_| {
            calls += 1;
            async {
                Err(Failure::Fatal(TransferError::NotFound {
                    op: "op".into(),
                    message: "404".into(),
                }))
            }
        })
        .await;
        assert_eq!(calls, 1);
        assert!(matches!(r, Err(TransferError::NotFound { .. })));
    }

    #[tokio::test]
    async fn success_after_transient() {
        let r = retry(policy(), "op", |n| async move {
            if n == 0 {
                Err(Failure::Transient("reset".into()))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 1);
    }
}
