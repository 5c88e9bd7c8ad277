//! [`Outlined`]: compile a large `async fn` state machine once per crate, not once per codegen
//! unit that awaits or drops it.
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
//!
//! Dropping has the same problem: drop glue is always copied into every codegen unit that
//! drops a value, and the glue of a state machine drops whatever each of its suspension
//! points holds (the call's: connections, exchanges, parsers, the pool's guards; 6 KB). A
//! wrapper's own `Drop` does not help, as the glue still drops the wrapper's fields after it.
//! So the state machine is held in an [`OutlinedDrop`]: a [`ManuallyDrop`], which has no drop
//! glue, dropped in an `#[inline(never)]` `Drop` like `poll`, which every unit that drops an
//! `Outlined` (the program's task that awaited the call, each of its states) calls. Other
//! values use `OutlinedDrop` alone (an HTTP/1.1 connection). This is the crate's only
//! `unsafe` code: the pin projection, the drop in place, and [`box_write`] (`Box::write` for
//! the crate's minimum Rust version).

use std::future::Future;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future polled and dropped through out-of-line functions (see the module docs).
#[must_use = "futures do nothing unless polled"]
pub(crate) struct Outlined<F> {
    /// Structurally pinned: never moved out of, dropped in place by [`OutlinedDrop`]'s `Drop`.
    inner: OutlinedDrop<F>,
}

impl<F> Outlined<F> {
    pub(crate) fn new(inner: F) -> Self {
        Outlined {
            inner: OutlinedDrop::new(inner),
        }
    }
}

impl<F: Future> Future for Outlined<F> {
    type Output = F::Output;

    #[inline(never)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned. It is never moved: no method hands it out
        // by value or by `&mut` outside a `Pin`, `Outlined` is `Unpin` only when `F` is
        // (`OutlinedDrop<F>` holds a `ManuallyDrop<F>`, `Unpin` exactly when `F` is), and
        // `OutlinedDrop`'s `Drop` drops it in place, which the pinning guarantee asks of a
        // pinned value.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut *s.inner) };
        inner.poll(cx)
    }
}

/// A value dropped through one out-of-line function: its drop code is compiled once, where
/// drop glue is otherwise copied into every codegen unit that drops the value or anything
/// holding it (see the module docs). For [`crate::h1::conn::H1Conn`], dropped from nine units
/// (the pool's hand-over channels, the dial task, the call's states): -9.6 KB of machine code
/// in the benchmark client, measured; an out-of-line `Drop` that did nothing itself still left
/// the fields' drop code (0.6 KB) in each.
pub(crate) struct OutlinedDrop<T> {
    /// Dropped by `Drop` only.
    inner: ManuallyDrop<T>,
}

impl<T> OutlinedDrop<T> {
    pub(crate) fn new(inner: T) -> Self {
        OutlinedDrop {
            inner: ManuallyDrop::new(inner),
        }
    }
}

impl<T> std::ops::Deref for OutlinedDrop<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> std::ops::DerefMut for OutlinedDrop<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T> Drop for OutlinedDrop<T> {
    #[inline(never)]
    fn drop(&mut self) {
        // SAFETY: `inner` is dropped here only, once (`drop` runs once), and never used after:
        // `self` is being dropped, and nothing moves `inner` out (no method hands it out by
        // value). It is dropped in place, as `Outlined` needs for the future it pins.
        unsafe { ManuallyDrop::drop(&mut self.inner) }
    }
}

/// `value` moved into the allocation `slot`: `Box::write` (stable since Rust 1.87; the crate
/// builds with 1.85). For a long-lived value whose allocation should be made before the
/// short-lived ones that building the value takes (see [`crate::dial::tls`]'s `BoxedConnect`).
pub(crate) fn box_write<T>(mut slot: Box<MaybeUninit<T>>, value: T) -> Box<T> {
    slot.write(value);
    // SAFETY: `slot` was initialized by the line above.
    unsafe { slot.assume_init() }
}

/// A background task of this crate (a dial, an HTTP/2 connection, an HTTP/2 request body, a
/// DNS lookup), spawned on the current tokio runtime as one type: a boxed future.
///
/// tokio compiles its task machinery (polling, completion, join and abort handling, the task's
/// allocation and drop) once per spawned future type, ~5 KB each; with one type, once for all.
/// The price is a box per spawn, which happens only for a new connection or an HTTP/2 body,
/// beside which an allocation is nothing (measured: +53 instructions a request with a new
/// TCP connection each, of 31,200). The box also does what [`Outlined`] does for the state
/// machines' poll and drop code, through the vtable (measured in the benchmark client:
/// `.text` -21 KB against spawning the futures as they are).
pub(crate) fn spawn_task<F: Future<Output = ()> + Send + 'static>(task: F) {
    let task: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(task);
    drop(tokio::spawn(task));
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

    /// Counts its drops.
    struct Guard(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn counter() -> (Guard, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        (Guard(n.clone()), n)
    }

    fn drops(n: &std::sync::atomic::AtomicUsize) -> usize {
        n.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(std::task::Waker::noop()))
    }

    #[test]
    fn outlined_drop_derefs_to_the_value_and_drops_it_once() {
        let (g, n) = counter();
        let mut v = OutlinedDrop::new((g, 7u32));
        v.1 += 1;
        assert_eq!(v.1, 8, "reads and writes go through to the value");
        assert_eq!(drops(&n), 0);
        drop(v);
        assert_eq!(drops(&n), 1, "dropping the wrapper drops the value, once");
    }

    #[test]
    fn box_write_fills_the_allocation_it_is_given() {
        let slot = Box::<(Guard, u64)>::new_uninit();
        let at = std::ptr::addr_of!(*slot) as usize;
        let (g, n) = counter();
        let b = box_write(slot, (g, 42));
        assert_eq!(b.1, 42);
        assert_eq!(std::ptr::addr_of!(*b) as usize, at, "no new allocation");
        drop(b);
        assert_eq!(drops(&n), 1, "the value is dropped with the box, once");
    }

    #[tokio::test]
    async fn a_spawned_task_runs_to_completion_and_is_dropped() {
        let (g, n) = counter();
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        spawn_task(async move {
            let _g = g;
            let _ = tx.send(5);
        });
        assert_eq!(rx.await.ok(), Some(5));
        for _ in 0..100 {
            if drops(&n) == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(
            drops(&n),
            1,
            "the task's state is dropped once, when it completes"
        );
    }

    #[test]
    fn drops_what_the_future_holds_exactly_once_in_every_state() {
        // Never polled: the captured value is dropped with the wrapper.
        let (g, n) = counter();
        let f = Outlined::new(async move {
            let _g = g;
        });
        assert_eq!(drops(&n), 0);
        drop(f);
        assert_eq!(drops(&n), 1, "unpolled");

        // Suspended at an await: dropped in place with the wrapper, once.
        let (g, n) = counter();
        let mut f = Box::pin(Outlined::new(async move {
            let _g = g;
            std::future::pending::<()>().await;
        }));
        assert!(poll_once(f.as_mut()).is_pending());
        assert_eq!(drops(&n), 0, "held across the await");
        drop(f);
        assert_eq!(drops(&n), 1, "suspended");

        // Completed: the state machine dropped it on completion; dropping the wrapper after
        // does not drop it again.
        let (g, n) = counter();
        let mut f = Box::pin(Outlined::new(async move {
            let _g = g;
            7
        }));
        assert_eq!(poll_once(f.as_mut()), Poll::Ready(7));
        assert_eq!(drops(&n), 1, "dropped on completion");
        drop(f);
        assert_eq!(drops(&n), 1, "not dropped twice");
    }
}
