//! The idle connection pool (HTTP/1.1): idle connections per route key, most recently used
//! first, handed straight to a request that waits for a dial when one is returned; the outcomes
//! Go reports to `put_idle_conn`.
//!
//! Spare dials. A request that dials also waits for a connection another request returns
//! (Go's and Chrome's late binding). When a returned connection wins, the request's dial goes
//! on with nobody waiting for it: a *spare* dial. A request that then finds no idle connection
//! waits for that spare dial (or a returned connection, whichever comes first) instead of
//! starting one more, as Chrome's socket pool does. Without this, clients that finish requests
//! faster than servers finish handshakes (HTTPS under concurrency) open a new connection for
//! nearly every request of the first milliseconds: 32 concurrent HTTPS requests opened 34 to 92
//! connections. A spare dial that fails, or whose connection goes elsewhere, sends the requests
//! waiting on it beyond the remaining spare dials back to dial on their own.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::error::{Error, Kind};
use crate::h1::conn::{H1Conn, IdleHealth};
use crate::route::{KeyMap, PoolKey};
use crate::trace::{CloseReason, ConnClosedInfo, ConnOutcome, Tracer};

/// Idle lists emptied by checkouts are kept for reuse until the map holds this many keys; then
/// a put for a new key drops the empty ones.
const PRUNE_EMPTY_LISTS_AT: usize = 64;

/// Pool settings.
#[derive(Clone, Debug)]
pub(crate) struct PoolConfig {
    /// Idle connections kept per key (Go's `MaxIdleConnsPerHost`).
    pub(crate) max_idle_per_host: usize,
    /// Idle connections kept in all (Go's `MaxIdleConns`; the oldest is evicted, silently).
    pub(crate) max_idle: usize,
    /// Idle connections older than this are closed instead of reused.
    pub(crate) idle_timeout: Option<Duration>,
    /// Connections (dialing, in use and idle) per key; requests beyond it wait
    /// (Go's `MaxConnsPerHost`). `None`: no limit.
    pub(crate) max_conns_per_host: Option<usize>,
}

#[derive(Clone)]
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    cfg: PoolConfig,
    state: Mutex<State>,
}

/// One request's dial, shared by the dial task, the request's waiter entry and the pool.
#[derive(Debug, Default)]
pub(crate) struct Dial {
    /// Set by the dial task when the dial ended (either way).
    ended: AtomicBool,
    /// Set (under the pool lock) when the requester took a returned connection while the dial
    /// went on: the dial is spare, and counted in `State::spare` until it ends.
    spare: AtomicBool,
}

impl Dial {
    /// The dial ended: from now on returned connections skip its requester.
    pub(crate) fn end(&self) {
        self.ended.store(true, Ordering::Release);
    }
}

/// A request that dials and would take a connection returned before its dial ends.
struct DialWaiter {
    dial: Arc<Dial>,
    tx: oneshot::Sender<H1Conn>,
}

impl DialWaiter {
    fn wants(&self) -> bool {
        !self.tx.is_closed() && !self.dial.ended.load(Ordering::Acquire)
    }
}

/// What a request waiting on a spare dial receives.
pub(crate) enum Joined {
    /// A connection: the spare dial's, or one another request returned.
    Conn(H1Conn),
    /// The spare dials ended without one for this request: dial.
    Dial,
}

/// The result of [`Pool::join_spare_dial`].
pub(crate) enum Join {
    /// No spare dial left to wait for: dial.
    No,
    /// An idle connection appeared meanwhile: take it instead.
    RetryIdle,
    /// Wait on this receiver.
    Wait(oneshot::Receiver<Joined>),
}

#[derive(Default)]
struct State {
    idle: KeyMap<Vec<IdleConn>>,
    waiters: KeyMap<VecDeque<DialWaiter>>,
    /// Spare dials in flight, per key (see the module docs).
    spare: KeyMap<usize>,
    /// Requests waiting on a spare dial, oldest first; never more than `spare` for a key.
    joined: KeyMap<VecDeque<oneshot::Sender<Joined>>>,
    /// Requests waiting for a connection slot (at `max_conns_per_host`): they take a returned
    /// connection or a freed slot, whichever comes first.
    slot_waiters: KeyMap<VecDeque<oneshot::Sender<Handoff>>>,
    /// Open connections per key, counted only when `max_conns_per_host` is set.
    open: KeyMap<usize>,
    total_idle: usize,
    /// Go's `closeIdle`: set by `close_idle_connections`, cleared by the next checkout.
    close_idle: bool,
}

struct IdleConn {
    conn: H1Conn,
    since: Instant,
}

/// What a request waiting for a slot receives.
pub(crate) enum Handoff {
    /// A connection another request returned.
    Conn(H1Conn),
    /// Room to dial a new connection.
    Slot(SlotGuard),
}

/// One counted connection slot for a key; released (or passed to a waiter) on drop.
///
/// It holds the pool weakly: idle connections carry their guard, and a strong reference would
/// keep a dropped client's pool (and its sockets) alive forever.
pub(crate) struct SlotGuard {
    pool: Weak<Shared>,
    key: PoolKey,
    armed: bool,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if self.armed {
            self.armed = false;
            if let Some(shared) = self.pool.upgrade() {
                Pool { shared }.release_slot(&self.key);
            }
        }
    }
}

/// The result of asking for a slot.
pub(crate) enum SlotRequest {
    /// No limit configured.
    Unlimited,
    /// A slot is ours.
    Granted(SlotGuard),
    /// An idle connection appeared meanwhile: take it instead.
    RetryIdle,
    /// At the limit: wait on this receiver. `open` is the number of connections of the key.
    Wait {
        rx: oneshot::Receiver<Handoff>,
        open: usize,
    },
}

/// A connection taken from the idle list.
pub(crate) struct Checkout {
    pub(crate) conn: H1Conn,
    pub(crate) idle_for: Duration,
}

impl Pool {
    pub(crate) fn new(cfg: PoolConfig) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                cfg,
                state: Mutex::new(State::default()),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a hook panicked while we held it; the data is still
        // consistent because every mutation below is completed before any callback runs.
        match self.shared.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Take the most recently returned idle connection for `key` that is still usable. Expired
    /// and dead connections met on the way are closed (reported through `conn_closed`); their
    /// count is returned so the caller can say why it dials.
    pub(crate) fn take_idle(&self, key: &PoolKey, t: &Tracer) -> (Option<Checkout>, usize) {
        let mut discarded = Vec::new();
        let found = {
            let mut st = self.lock();
            st.close_idle = false;
            let mut found = None;
            let mut removed = 0usize;
            if let Some(list) = st.idle.get_mut(key) {
                let now = Instant::now();
                while let Some(mut ic) = list.pop() {
                    removed += 1;
                    let age = now.saturating_duration_since(ic.since);
                    if matches!(self.shared.cfg.idle_timeout, Some(max) if age > max) {
                        discarded.push((ic.conn, CloseReason::IdleTimeout));
                        continue;
                    }
                    match ic.conn.idle_health() {
                        IdleHealth::Healthy => {
                            found = Some(Checkout {
                                conn: ic.conn,
                                idle_for: age,
                            });
                            break;
                        }
                        _ => discarded.push((ic.conn, CloseReason::ClosedWhileIdle)),
                    }
                }
                // An emptied list stays (a keep-alive request would otherwise free and
                // re-allocate it every time); `put` prunes empty lists when keys pile up.
            }
            st.total_idle -= removed;
            found
        };
        let n = discarded.len();
        for (conn, reason) in discarded {
            close_conn(conn, reason, t);
        }
        (found, n)
    }

    /// Register interest in a connection for `key` returned by another request while this one
    /// dials (Go's wantConn). The dial task calls [`Dial::end`] when the dial ends: from then on
    /// the request has its own result (connection or error) and returned connections go
    /// elsewhere; then [`Pool::dial_ended`].
    pub(crate) fn wait_for_returned(
        &self,
        key: &PoolKey,
        dial: Arc<Dial>,
    ) -> oneshot::Receiver<H1Conn> {
        let (tx, rx) = oneshot::channel();
        let mut st = self.lock();
        let q = st.waiters.entry(key.clone()).or_default();
        // Requesters that got their connection elsewhere leave closed senders behind.
        q.retain(|w| w.wants());
        q.push_back(DialWaiter { dial, tx });
        rx
    }

    /// A request found no idle connection for `key`: wait on a spare dial if one has nobody
    /// waiting on it yet (see the module docs).
    pub(crate) fn join_spare_dial(&self, key: &PoolKey) -> Join {
        let mut st = self.lock();
        let spare = st.spare.get(key).copied().unwrap_or(0);
        if spare == 0 {
            return Join::No;
        }
        // A connection returned between the caller's idle check and now.
        if st.idle.get(key).is_some_and(|l| !l.is_empty()) {
            return Join::RetryIdle;
        }
        let q = st.joined.entry(key.clone()).or_default();
        q.retain(|tx| !tx.is_closed());
        if q.len() >= spare {
            return Join::No;
        }
        let (tx, rx) = oneshot::channel();
        q.push_back(tx);
        Join::Wait(rx)
    }

    /// The dial task's last step, after [`Dial::end`] and after its connection (if any) went to
    /// its requester or to the pool: a spare dial stops counting, and requests waiting on spare
    /// dials beyond those still in flight are sent to dial (newest first; the oldest keep their
    /// place for the next connection).
    pub(crate) fn dial_ended(&self, key: &PoolKey, dial: &Dial) {
        let mut st = self.lock();
        if !dial.spare.swap(false, Ordering::AcqRel) {
            return;
        }
        let left = match st.spare.get_mut(key) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n
            }
            None => 0,
        };
        if left == 0 {
            st.spare.remove(key);
        }
        if let Some(q) = st.joined.get_mut(key) {
            q.retain(|tx| !tx.is_closed());
            while q.len() > left {
                if let Some(tx) = q.pop_back() {
                    // A receiver gone meanwhile needs nothing.
                    let _ = tx.send(Joined::Dial);
                }
            }
            if q.is_empty() {
                st.joined.remove(key);
            }
        }
    }

    /// Go's `tryPutIdleConn`, with the `put_idle_conn` hook: offer a finished connection back.
    /// Returns what became of it.
    pub(crate) fn put(&self, mut conn: H1Conn, t: &Tracer) -> ConnOutcome {
        conn.reused = true;
        if self.shared.cfg.max_idle_per_host == 0 {
            // Pooling is off (Go's negative MaxIdleConnsPerHost): the outcome is Go's
            // errKeepAlivesDisabled, which the hook never sees.
            close_conn(conn, CloseReason::KeepAliveDisabled, t);
            return ConnOutcome::Closed;
        }
        if conn.broken || !conn.read_buf.is_empty() {
            let err = Error::new(Kind::ConnBroken);
            t.put_idle_conn(Some(&err));
            close_conn(conn, CloseReason::Error, t);
            return ConnOutcome::Closed;
        }
        let key = conn.key.clone();
        let mut evicted = None;
        let mut late_guards: Vec<SlotGuard> = Vec::new();
        let refused = {
            let mut st = self.lock();
            if st.close_idle {
                Some((Error::new(Kind::PoolClosed), conn, CloseReason::PoolClosed))
            } else {
                // Hand it to a request waiting for a slot or for a dial, if any still waits.
                let mut pending = Some(conn);
                if let Some(q) = st.slot_waiters.get_mut(&key) {
                    while let Some(tx) = q.pop_front() {
                        let Some(c) = pending.take() else { break };
                        match tx.send(Handoff::Conn(c)) {
                            Ok(()) => break,
                            Err(Handoff::Conn(c)) => pending = Some(c),
                            Err(Handoff::Slot(g)) => late_guards.push(g),
                        }
                    }
                    if q.is_empty() {
                        st.slot_waiters.remove(&key);
                    }
                }
                // Then to a request waiting on a spare dial (it dials nothing; handing the
                // connection to a dialing request would make one more spare dial).
                if let Some(q) = st.joined.get_mut(&key).filter(|_| pending.is_some()) {
                    while let Some(tx) = q.pop_front() {
                        let Some(c) = pending.take() else { break };
                        match tx.send(Joined::Conn(c)) {
                            Ok(()) => break,
                            Err(Joined::Conn(c)) => pending = Some(c),
                            Err(Joined::Dial) => {}
                        }
                    }
                    if q.is_empty() {
                        st.joined.remove(&key);
                    }
                }
                let mut made_spare = false;
                if let Some(q) = st.waiters.get_mut(&key).filter(|_| pending.is_some()) {
                    while let Some(w) = q.pop_front() {
                        let Some(c) = pending.take() else { break };
                        // Go's `wantConn.tryDeliver` fails once the dial delivered: a request
                        // whose own dial ended is not waiting any more, even if it has not run
                        // yet. Handing it this connection would leave it stranded while the
                        // request that returned it dials a new one.
                        if !w.wants() {
                            pending = Some(c);
                            continue;
                        }
                        match w.tx.send(c) {
                            Ok(()) => {
                                // Its dial goes on for nobody now.
                                w.dial.spare.store(true, Ordering::Release);
                                made_spare = true;
                                break;
                            }
                            Err(c) => pending = Some(c),
                        }
                    }
                    if q.is_empty() {
                        st.waiters.remove(&key);
                    }
                }
                if made_spare {
                    *st.spare.entry(key.clone()).or_insert(0) += 1;
                }
                match pending {
                    None => None,
                    Some(conn) => {
                        let list_len = st.idle.get(&key).map_or(0, Vec::len);
                        if list_len >= self.shared.cfg.max_idle_per_host {
                            Some((
                                Error::new(Kind::TooManyIdle),
                                conn,
                                CloseReason::TooManyIdle,
                            ))
                        } else {
                            if st.idle.len() >= PRUNE_EMPTY_LISTS_AT && !st.idle.contains_key(&key)
                            {
                                st.idle.retain(|_, l| !l.is_empty());
                            }
                            st.idle.entry(key).or_default().push(IdleConn {
                                conn,
                                since: Instant::now(),
                            });
                            st.total_idle += 1;
                            if st.total_idle > self.shared.cfg.max_idle {
                                evicted = evict_oldest(&mut st);
                            }
                            None
                        }
                    }
                }
            }
        };
        drop(late_guards);
        if let Some(c) = evicted {
            close_conn(c, CloseReason::TooManyIdle, &Tracer::none());
        }
        match refused {
            None => {
                t.put_idle_conn(None);
                ConnOutcome::Pooled
            }
            Some((err, conn, reason)) => {
                t.put_idle_conn(Some(&err));
                close_conn(conn, reason, t);
                ConnOutcome::Closed
            }
        }
    }

    /// Place a connection nobody asked for (a dial whose requester went elsewhere) in the pool
    /// without firing `put_idle_conn` (Go marks it reused, as `putOrCloseIdleConn` does).
    pub(crate) fn put_unrequested(&self, conn: H1Conn) {
        let _ = self.put(conn, &Tracer::none());
    }

    /// Close every idle connection; connections in use are refused by the pool when returned
    /// until the next checkout (Go's `CloseIdleConnections`).
    pub(crate) fn close_idle(&self) {
        let drained: Vec<H1Conn> = {
            let mut st = self.lock();
            st.close_idle = true;
            st.total_idle = 0;
            st.idle
                .drain()
                .flat_map(|(_, v)| v.into_iter().map(|ic| ic.conn))
                .collect()
        };
        for c in drained {
            close_conn(c, CloseReason::PoolClosed, &Tracer::none());
        }
    }

    /// Ask for a connection slot for `key` (Go's `queueForDial` with `MaxConnsPerHost`).
    pub(crate) fn request_slot(&self, key: &PoolKey) -> SlotRequest {
        let Some(max) = self.shared.cfg.max_conns_per_host else {
            return SlotRequest::Unlimited;
        };
        let mut st = self.lock();
        // A connection returned between the caller's idle check and now must not strand us
        // in the wait queue: send the caller back to the idle list.
        if st.idle.get(key).is_some_and(|l| !l.is_empty()) {
            return SlotRequest::RetryIdle;
        }
        let open = st.open.entry(key.clone()).or_insert(0);
        if *open < max.max(1) {
            *open += 1;
            drop(st);
            return SlotRequest::Granted(SlotGuard {
                pool: Arc::downgrade(&self.shared),
                key: key.clone(),
                armed: true,
            });
        }
        let open = *open;
        let (tx, rx) = oneshot::channel();
        let q = st.slot_waiters.entry(key.clone()).or_default();
        q.retain(|tx| !tx.is_closed());
        q.push_back(tx);
        SlotRequest::Wait { rx, open }
    }

    /// A counted connection closed (or its dial failed): pass the slot to a waiter, or free it.
    fn release_slot(&self, key: &PoolKey) {
        let mut returned = Vec::new();
        {
            let mut st = self.lock();
            let mut passed = false;
            if let Some(q) = st.slot_waiters.get_mut(key) {
                while let Some(tx) = q.pop_front() {
                    let g = SlotGuard {
                        pool: Arc::downgrade(&self.shared),
                        key: key.clone(),
                        armed: true,
                    };
                    match tx.send(Handoff::Slot(g)) {
                        Ok(()) => {
                            passed = true;
                            break;
                        }
                        // The waiter is gone: take the guard back without running its Drop
                        // under our lock.
                        Err(h) => returned.push(h),
                    }
                }
                if q.is_empty() {
                    st.slot_waiters.remove(key);
                }
            }
            if !passed {
                if let Some(n) = st.open.get_mut(key) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        st.open.remove(key);
                    }
                }
            }
        }
        for h in returned {
            if let Handoff::Slot(mut g) = h {
                g.armed = false;
            }
        }
    }

    /// Number of idle connections for `key` (tests and diagnostics).
    #[allow(dead_code)]
    pub(crate) fn idle_count(&self, key: &PoolKey) -> usize {
        self.lock().idle.get(key).map_or(0, Vec::len)
    }
}

fn evict_oldest(st: &mut State) -> Option<H1Conn> {
    let mut oldest: Option<(PoolKey, usize, Instant)> = None;
    for (k, list) in st.idle.iter() {
        // Lists are ordered oldest first.
        if let Some(first) = list.first() {
            if oldest.as_ref().is_none_or(|(_, _, t)| first.since < *t) {
                oldest = Some((k.clone(), 0, first.since));
            }
        }
    }
    let (k, i, _) = oldest?;
    let list = st.idle.get_mut(&k)?;
    let ic = list.remove(i);
    st.total_idle -= 1;
    Some(ic.conn)
}

/// Close a connection and report it.
pub(crate) fn close_conn(conn: H1Conn, reason: CloseReason, t: &Tracer) {
    if t.is_active() {
        t.conn_closed(&ConnClosedInfo {
            conn: (*conn.info).clone(),
            reason,
        });
    }
    drop(conn);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::{Host, Scheme};
    use crate::stream::Stream;
    use crate::trace::{ConnInfo, Protocol};

    fn pool() -> Pool {
        Pool::new(PoolConfig {
            max_idle_per_host: 8,
            max_idle: 8,
            idle_timeout: None,
            max_conns_per_host: None,
        })
    }

    /// A connected client-side `H1Conn` for `key`, and the server side (kept open).
    async fn conn(key: &PoolKey) -> (H1Conn, tokio::net::TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (client, server) = tokio::join!(tokio::net::TcpStream::connect(addr), l.accept());
        let info = Arc::new(ConnInfo {
            id: 0,
            local_addr: None,
            remote_addr: addr,
            protocol: Protocol::Http1,
            tls: None,
            proxy: None,
        });
        let c = H1Conn::new(Stream::Tcp(client.unwrap()), info, key.clone());
        (c, server.unwrap().0)
    }

    /// Go's `wantConn.tryDeliver` fails once the dial delivered: a returned connection skips a
    /// waiter whose dial ended (even though that request has not run since) and goes idle,
    /// where the next request finds it.
    #[tokio::test]
    async fn returned_connection_skips_a_waiter_whose_dial_ended() {
        let key = PoolKey::new(Scheme::Http, Host::from("a.test"), 80, None);
        let p = pool();
        let dialed = Arc::new(Dial::default());
        let mut stale = p.wait_for_returned(&key, dialed.clone());
        let still_dialing = Arc::new(Dial::default());
        let mut waiting = p.wait_for_returned(&key, still_dialing);
        dialed.end();

        let (c1, _s1) = conn(&key).await;
        p.put(c1, &Tracer::none());
        assert!(
            stale.try_recv().is_err(),
            "handed to a waiter whose dial ended"
        );
        assert!(
            waiting.try_recv().is_ok(),
            "the waiter still dialing gets it"
        );

        let (c2, _s2) = conn(&key).await;
        p.put(c2, &Tracer::none());
        assert!(stale.try_recv().is_err());
        let (found, discarded) = p.take_idle(&key, &Tracer::none());
        assert!(found.is_some(), "with no waiter left it goes idle");
        assert_eq!(discarded, 0);
    }

    /// A connection handed to a dialing request makes its dial spare: one later request may
    /// wait on it (not two), and a returned connection goes to that request before any
    /// request still dialing (which would make one more spare dial).
    #[tokio::test]
    async fn spare_dials_take_one_waiter_each_and_come_first() {
        let key = PoolKey::new(Scheme::Http, Host::from("a.test"), 80, None);
        let p = pool();
        assert!(matches!(p.join_spare_dial(&key), Join::No));
        let first = Arc::new(Dial::default());
        let mut first_rx = p.wait_for_returned(&key, first.clone());
        let (c1, _s1) = conn(&key).await;
        p.put(c1, &Tracer::none());
        assert!(first_rx.try_recv().is_ok());
        assert!(first.spare.load(Ordering::Acquire));

        let Join::Wait(mut joined) = p.join_spare_dial(&key) else {
            panic!("no wait on the spare dial");
        };
        assert!(
            matches!(p.join_spare_dial(&key), Join::No),
            "two waiters on one spare dial"
        );
        let other = Arc::new(Dial::default());
        let mut other_rx = p.wait_for_returned(&key, other.clone());
        let (c2, _s2) = conn(&key).await;
        p.put(c2, &Tracer::none());
        assert!(matches!(joined.try_recv(), Ok(Joined::Conn(_))));
        assert!(
            other_rx.try_recv().is_err(),
            "the dialing request came first"
        );
        assert!(!other.spare.load(Ordering::Acquire));

        // The spare dial ends: it no longer counts; a dial that was never spare changes nothing.
        first.end();
        p.dial_ended(&key, &first);
        other.end();
        p.dial_ended(&key, &other);
        assert!(matches!(p.join_spare_dial(&key), Join::No));
        assert!(p.lock().spare.is_empty());
    }

    /// A spare dial that ends without a connection for its waiter sends the waiter to dial.
    #[tokio::test]
    async fn an_ended_spare_dial_releases_its_waiter() {
        let key = PoolKey::new(Scheme::Http, Host::from("a.test"), 80, None);
        let p = pool();
        let d = Arc::new(Dial::default());
        let _rx = p.wait_for_returned(&key, d.clone());
        let (c1, _s1) = conn(&key).await;
        p.put(c1, &Tracer::none());
        let Join::Wait(mut joined) = p.join_spare_dial(&key) else {
            panic!("no wait on the spare dial");
        };
        d.end();
        p.dial_ended(&key, &d);
        assert!(matches!(joined.try_recv(), Ok(Joined::Dial)));
        assert!(p.lock().joined.is_empty());
    }

    /// Two spare dials with a waiter each: one failing releases only the newest waiter (one
    /// spare dial is left for the other), and the oldest takes the next returned connection.
    #[tokio::test]
    async fn a_failed_spare_dial_releases_only_the_waiters_beyond_the_rest() {
        let key = PoolKey::new(Scheme::Http, Host::from("a.test"), 80, None);
        let p = pool();
        let (d1, d2) = (Arc::new(Dial::default()), Arc::new(Dial::default()));
        let _r1 = p.wait_for_returned(&key, d1.clone());
        let _r2 = p.wait_for_returned(&key, d2.clone());
        let (c1, _s1) = conn(&key).await;
        p.put(c1, &Tracer::none());
        let (c2, _s2) = conn(&key).await;
        p.put(c2, &Tracer::none());
        let Join::Wait(mut oldest) = p.join_spare_dial(&key) else {
            panic!("no wait on a spare dial");
        };
        let Join::Wait(mut newest) = p.join_spare_dial(&key) else {
            panic!("no wait on the second spare dial");
        };
        assert!(matches!(p.join_spare_dial(&key), Join::No));
        d1.end();
        p.dial_ended(&key, &d1);
        assert!(matches!(newest.try_recv(), Ok(Joined::Dial)));
        assert!(
            oldest.try_recv().is_err(),
            "still waiting on the other spare dial"
        );
        let (c3, _s3) = conn(&key).await;
        p.put(c3, &Tracer::none());
        assert!(matches!(oldest.try_recv(), Ok(Joined::Conn(_))));
        d2.end();
        p.dial_ended(&key, &d2);
        let st = p.lock();
        assert!(st.spare.is_empty() && st.joined.is_empty());
    }
}
