//! [`Outlined`]: compile a large `async fn` state machine once per crate, not once per codegen
//! unit that awaits it.
//!
//! rustc treats the body of every closure and `async fn` as inlinable: each codegen unit that
//! polls one gets its own private copy of the state machine's `poll`, and so does every unit
//! that polls *that* one, transitively. A call's future (`Call::run` → `Call::attempt` →
//! pool, HTTP/1.1 and HTTP/2 exchange) is tens of kilobytes of machine code, and a program
//! that awaited [`crate::Client::execute`] from a few places got five copies of it.
//!
//! `Outlined::poll` is a plain generic method marked `#[inline(never)]`, which rustc places in
//! one codegen unit per crate; the state machine it polls is only referenced (and so only
//! copied) there. The price is one direct call per poll, and no allocation (a box would do
//! the same through a vtable, for an allocation and a copy of the state per call).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project_lite::pin_project! {
    /// A future polled through one out-of-line function (see the module docs).
    #[must_use = "futures do nothing unless polled"]
    pub(crate) struct Outlined<F> {
        #[pin]
        inner: F,
    }
}

impl<F> Outlined<F> {
    pub(crate) fn new(inner: F) -> Self {
        Outlined { inner }
    }
}

impl<F: Future> Future for Outlined<F> {
    type Output = F::Output;

    #[inline(never)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_pending_and_the_output_through() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let task = tokio::spawn(Outlined::new(async move { rx.await.map(|v| v + 1) }));
        tokio::task::yield_now().await;
        assert!(
            !task.is_finished(),
            "must stay pending until the value arrives"
        );
        assert!(tx.send(41).is_ok());
        assert_eq!(task.await.ok().and_then(Result::ok), Some(42));
    }
}
