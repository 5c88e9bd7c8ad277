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

/// The instant `d` from now, or `None` (no deadline) when that is beyond what an `Instant` can
/// hold: a timeout of `Duration::MAX` means no limit rather than an overflow panic.
pub(crate) fn deadline_after(d: std::time::Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

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

/// A timer registered with tokio ahead of the deadline it will serve, so that the step it
/// bounds, starting later, only moves its deadline later.
///
/// Why: tokio's timer wakes its own driver (an eventfd write, then a `epoll_wait` that returns
/// at once with nothing to do) whenever a timer is registered with a deadline earlier than the
/// driver's next planned wake-up, which, with no other timer, is every registration. A TLS
/// dial registered two timers, the connect's and then the handshake's, while waiting for the
/// server: the second cost a wake-up of its own on top of the eventfd write. Registered before
/// the connect, next to the connect's timer, its wake-up coincides with the connect's; moved
/// later when the handshake starts, it stays registered (tokio only records a later deadline).
pub(crate) struct EarlyTimer(Pin<Box<Sleep>>);

impl EarlyTimer {
    /// A timer registered now with `deadline`, at or before the deadline it will serve.
    pub(crate) fn register(deadline: Instant) -> EarlyTimer {
        let mut sleep = Box::pin(tokio::time::sleep_until(deadline));
        // The first poll registers it; its waker is replaced by the task's at the next one.
        // (Out of budget, the poll returns before registering: the timer registers when it is
        // reset instead, as a timer made then would.)
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let _ = poll_sleep(sleep.as_mut(), &mut cx);
        EarlyTimer(sleep)
    }

    /// `fut` bounded by `deadline` on this timer: `None` when the deadline passes first.
    pub(crate) async fn bound<F: Future>(self, fut: F, deadline: Instant) -> Option<F::Output> {
        let mut sleep = self.0;
        sleep.as_mut().reset(deadline);
        let mut fut = std::pin::pin!(fut);
        std::future::poll_fn(move |cx| {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            poll_sleep(sleep.as_mut(), cx).map(|()| None)
        })
        .await
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

    /// An early timer serves the deadline it is given at `bound`, later than the one it was
    /// registered with, whether or not that first one has passed by then.
    #[tokio::test(start_paused = true)]
    async fn an_early_timer_bounds_by_the_later_deadline() {
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        // Registered for +10 ms, used from +5 ms with a deadline at +1 s: a step done at +505 ms
        // is in time, though the registered deadline passed long before.
        let timer = EarlyTimer::register(t0 + ms(10));
        tokio::time::sleep(ms(5)).await;
        let step = async {
            tokio::time::sleep(ms(500)).await;
            42
        };
        assert_eq!(timer.bound(step, t0 + ms(1000)).await, Some(42));
        assert!(t0.elapsed() >= ms(505));
        // A step that never ends ends at the new deadline, not the registered one.
        let t1 = Instant::now();
        let timer = EarlyTimer::register(t1 + ms(10));
        let r = timer
            .bound(std::future::pending::<()>(), t1 + ms(300))
            .await;
        assert_eq!(r, None);
        assert_eq!(t1.elapsed(), ms(300));
        // Its registered deadline already past when the step starts: the same.
        let t2 = Instant::now();
        let timer = EarlyTimer::register(t2 + ms(10));
        tokio::time::sleep(ms(50)).await;
        let r = timer
            .bound(std::future::pending::<()>(), t2 + ms(200))
            .await;
        assert_eq!(r, None);
        assert_eq!(t2.elapsed(), ms(200));
        // A deadline already past: the step still gets its first poll, as with `Deadline`.
        let timer = EarlyTimer::register(Instant::now());
        assert_eq!(timer.bound(async { 7 }, Instant::now()).await, Some(7));
    }
}
