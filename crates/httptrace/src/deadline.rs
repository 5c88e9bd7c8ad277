//! A future bounded by an optional deadline, with one copy of tokio's timer code.
//!
//! `tokio::time::timeout` inlines the whole timer entry (registration, reset, budget) into every
//! `Timeout<T>::poll` it is instantiated for: three copies in the dial alone, 11 KB of machine
//! code. Here the sleep is polled by one out-of-line function, and "no deadline" is the same
//! future with no timer rather than a second `.await` of the inner future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

pin_project_lite::pin_project! {
    /// `fut` with an optional deadline: `None` when the deadline passes first. Without a
    /// deadline no timer is registered (tokio's `timeout_at` always registers one).
    pub(crate) struct Deadline<F> {
        #[pin]
        fut: F,
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl<F> Deadline<F> {
    /// `fut`, bounded by `deadline` when there is one.
    pub(crate) fn new(fut: F, deadline: Option<Instant>) -> Self {
        Deadline {
            fut,
            sleep: deadline.map(tokio::time::sleep_until),
        }
    }
}

impl<F: Future> Future for Deadline<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.fut.poll(cx) {
            return Poll::Ready(Some(v));
        }
        match this.sleep.as_pin_mut() {
            Some(s) => poll_sleep(s, cx).map(|()| None),
            None => Poll::Pending,
        }
    }
}

/// `sleep.poll(cx)`, compiled once.
#[inline(never)]
fn poll_sleep(sleep: Pin<&mut Sleep>, cx: &mut Context<'_>) -> Poll<()> {
    sleep.poll(cx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn ready_first_wins_and_no_deadline_never_expires() {
        let now = Instant::now();
        assert_eq!(Deadline::new(async { 7 }, Some(now)).await, Some(7));
        assert_eq!(Deadline::new(async { 8 }, None).await, Some(8));
        let never = std::future::pending::<()>();
        let t0 = std::time::Instant::now();
        let d = Deadline::new(never, Some(now + Duration::from_millis(50))).await;
        assert_eq!(d, None);
        assert!(
            t0.elapsed() >= Duration::from_millis(45),
            "{:?}",
            t0.elapsed()
        );
        let unbounded = Deadline::new(std::future::pending::<()>(), None);
        let outer = tokio::time::timeout(Duration::from_millis(50), unbounded).await;
        assert!(outer.is_err(), "a future without a deadline waits for it");
    }
}
