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

/// A key's state stays (its idle list emptied by checkouts is reused, not freed and allocated
/// again on every keep-alive request) until the map holds this many keys; then adding a new key
/// first drops the keys with nothing in them.
const PRUNE_UNUSED_KEYS_AT: usize = 64;

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
    /// The idle timeout when a sweeper can act on it (one an `Instant` can reach: not
    /// `Duration::MAX`), decided once.
    sweep_after: Option<Duration>,
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
    /// Everything the pool keeps for a key, in one map: one lookup per pool operation, and
    /// one hash table's code in the binary instead of one per kind of list.
    keys: KeyMap<KeyState>,
    total_idle: usize,
    /// Go's `closeIdle`: set by `close_idle_connections`, cleared by the next checkout.
    close_idle: bool,
    /// A task closes idle connections as they pass the idle timeout (Go arms a timer per idle
    /// connection, `closeConnIfStillIdle`); it ends when nothing is left idle.
    sweeping: bool,
}

/// The pool's state for one key.
#[derive(Default)]
struct KeyState {
    /// Idle connections, oldest first.
    idle: Vec<IdleConn>,
    /// Requests that dial and also take a returned connection (Go's wantConn queue).
    waiters: VecDeque<DialWaiter>,
    /// Spare dials in flight (see the module docs).
    spare: usize,
    /// Requests waiting on a spare dial, oldest first; never more than `spare`.
    joined: VecDeque<oneshot::Sender<Joined>>,
    /// Requests waiting for a connection slot (at `max_conns_per_host`): they take a returned
    /// connection or a freed slot, whichever comes first.
    slot_waiters: VecDeque<oneshot::Sender<Handoff>>,
    /// Open connections, counted only when `max_conns_per_host` is set.
    open: usize,
}

impl KeyState {
    /// Nothing idle, waiting, dialing or counted: the entry can go.
    fn is_unused(&self) -> bool {
        self.idle.is_empty()
            && self.waiters.is_empty()
            && self.spare == 0
            && self.joined.is_empty()
            && self.slot_waiters.is_empty()
            && self.open == 0
    }
}

impl State {
    /// `key`'s state, added when missing (after dropping unused keys once there are many).
    fn key_mut(&mut self, key: &PoolKey) -> &mut KeyState {
        self.key_mut_owned(key.clone())
    }

    /// [`State::key_mut`] with the key given by value.
    fn key_mut_owned(&mut self, key: PoolKey) -> &mut KeyState {
        if self.keys.len() >= PRUNE_UNUSED_KEYS_AT && !self.keys.contains_key(&key) {
            self.keys.retain(|_, k| !k.is_unused());
        }
        self.keys.entry(key).or_default()
    }
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
                sweep_after: cfg
                    .idle_timeout
                    .filter(|t| Instant::now().checked_add(*t).is_some()),
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
    /// Whether open connections are limited per host (`max_conns_per_host`).
    pub(crate) fn limits_conns(&self) -> bool {
        self.shared.cfg.max_conns_per_host.is_some()
    }

    pub(crate) fn take_idle(&self, key: &PoolKey, t: &Tracer) -> (Option<Checkout>, usize) {
        let mut discarded = Vec::new();
        let found = {
            let mut st = self.lock();
            st.close_idle = false;
            let mut found = None;
            let mut removed = 0usize;
            if let Some(list) = st.keys.get_mut(key).map(|k| &mut k.idle) {
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
                // re-allocate it every time); unused keys are pruned when keys pile up.
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
        let q = &mut st.key_mut(key).waiters;
        // Requesters that got their connection elsewhere leave closed senders behind.
        q.retain(|w| w.wants());
        q.push_back(DialWaiter { dial, tx });
        rx
    }

    /// A request found no idle connection for `key`: wait on a spare dial if one has nobody
    /// waiting on it yet (see the module docs).
    pub(crate) fn join_spare_dial(&self, key: &PoolKey) -> Join {
        let mut st = self.lock();
        let Some(k) = st.keys.get_mut(key).filter(|k| k.spare > 0) else {
            return Join::No;
        };
        // A connection returned between the caller's idle check and now.
        if !k.idle.is_empty() {
            return Join::RetryIdle;
        }
        let spare = k.spare;
        let q = &mut k.joined;
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
        let Some(k) = st.keys.get_mut(key) else {
            return;
        };
        k.spare = k.spare.saturating_sub(1);
        let left = k.spare;
        let q = &mut k.joined;
        q.retain(|tx| !tx.is_closed());
        while q.len() > left {
            if let Some(tx) = q.pop_back() {
                // A receiver gone meanwhile needs nothing.
                let _ = tx.send(Joined::Dial);
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
            let mut guard = self.lock();
            let st = &mut *guard;
            let close_idle = st.close_idle;
            // One lookup: the key's entry holds its waiters and its idle list.
            let k = st.key_mut_owned(key);
            // Hand it to a request waiting for a slot or for a dial, if any still waits (Go's
            // tryPutIdleConn does that before it looks at closeIdle).
            let mut pending = Some(conn);
            hand_over(k, &mut pending, &mut late_guards);
            if close_idle {
                pending.map(|c| (Error::new(Kind::PoolClosed), c, CloseReason::PoolClosed))
            } else {
                match pending {
                    None => None,
                    Some(conn)
                        if k.idle.len() >= self.shared.cfg.max_idle_per_host
                            || self.shared.cfg.max_idle == 0 =>
                    {
                        Some((
                            Error::new(Kind::TooManyIdle),
                            conn,
                            CloseReason::TooManyIdle,
                        ))
                    }
                    Some(conn) => {
                        k.idle.push(IdleConn {
                            conn,
                            since: Instant::now(),
                        });
                        st.total_idle += 1;
                        if !st.sweeping && self.shared.sweep_after.is_some() {
                            st.sweeping = self.start_sweeper();
                        }
                        if st.total_idle > self.shared.cfg.max_idle {
                            evicted = evict_oldest(st);
                        }
                        None
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

    /// Spawn the task that closes connections idle longer than the idle timeout, on the
    /// current runtime (none when called outside one: a checkout still refuses them).
    fn start_sweeper(&self) -> bool {
        let Some(timeout) = self.shared.sweep_after else {
            return false;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let pool = Arc::downgrade(&self.shared);
        rt.spawn(sweep_idle(pool, timeout));
        true
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
            st.keys
                .values_mut()
                .flat_map(|k| k.idle.drain(..).map(|ic| ic.conn))
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
        let k = st.key_mut(key);
        if !k.idle.is_empty() {
            return SlotRequest::RetryIdle;
        }
        if k.open < max.max(1) {
            k.open += 1;
            drop(st);
            return SlotRequest::Granted(SlotGuard {
                pool: Arc::downgrade(&self.shared),
                key: key.clone(),
                armed: true,
            });
        }
        let open = k.open;
        let (tx, rx) = oneshot::channel();
        let q = &mut k.slot_waiters;
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
            if let Some(k) = st.keys.get_mut(key) {
                while let Some(tx) = k.slot_waiters.pop_front() {
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
                if !passed {
                    k.open = k.open.saturating_sub(1);
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
        self.lock().keys.get(key).map_or(0, |k| k.idle.len())
    }
}

/// `put`'s first step: hand the returned connection (`pending`) to a request of `k` that waits
/// for one: first one waiting for a connection slot, then one waiting on a spare dial (it
/// dials nothing; handing the connection to a dialing request would make one more spare dial),
/// then one that dials. `pending` is `None` when a request took it. Slot guards sent back by
/// slot waiters that left go to `late_guards` (dropped after the lock).
fn hand_over(k: &mut KeyState, pending: &mut Option<H1Conn>, late_guards: &mut Vec<SlotGuard>) {
    while let Some(tx) = k.slot_waiters.pop_front() {
        let Some(c) = pending.take() else { break };
        match tx.send(Handoff::Conn(c)) {
            Ok(()) => break,
            Err(Handoff::Conn(c)) => *pending = Some(c),
            Err(Handoff::Slot(g)) => late_guards.push(g),
        }
    }
    if pending.is_some() {
        while let Some(tx) = k.joined.pop_front() {
            let Some(c) = pending.take() else { break };
            match tx.send(Joined::Conn(c)) {
                Ok(()) => break,
                Err(Joined::Conn(c)) => *pending = Some(c),
                Err(Joined::Dial) => {}
            }
        }
    }
    if pending.is_some() {
        while let Some(w) = k.waiters.pop_front() {
            let Some(c) = pending.take() else { break };
            // Go's `wantConn.tryDeliver` fails once the dial delivered: a request whose own dial
            // ended is not waiting any more, even if it has not run yet. Handing it this
            // connection would leave it stranded while the request that returned it dials a
            // new one.
            if !w.wants() {
                *pending = Some(c);
                continue;
            }
            match w.tx.send(c) {
                Ok(()) => {
                    // Its dial goes on for nobody now.
                    w.dial.spare.store(true, Ordering::Release);
                    k.spare += 1;
                    break;
                }
                Err(c) => *pending = Some(c),
            }
        }
    }
}

fn evict_oldest(st: &mut State) -> Option<H1Conn> {
    let mut oldest: Option<(PoolKey, usize, Instant)> = None;
    for (k, ks) in st.keys.iter() {
        // Lists are ordered oldest first.
        if let Some(first) = ks.idle.first() {
            if oldest.as_ref().is_none_or(|(_, _, t)| first.since < *t) {
                oldest = Some((k.clone(), 0, first.since));
            }
        }
    }
    let (k, i, _) = oldest?;
    let ic = st.keys.get_mut(&k)?.idle.remove(i);
    st.total_idle -= 1;
    Some(ic.conn)
}

/// Close idle connections as they pass `timeout`, until none is idle or the pool is gone.
async fn sweep_idle(pool: Weak<Shared>, timeout: Duration) {
    loop {
        let (expired, next) = {
            let Some(shared) = pool.upgrade() else {
                return;
            };
            let pool = Pool { shared };
            let mut st = pool.lock();
            let now = Instant::now();
            let mut expired = Vec::new();
            let mut oldest: Option<Instant> = None;
            for k in st.keys.values_mut() {
                // Oldest first: the expired ones are a prefix.
                let n = k
                    .idle
                    .iter()
                    .take_while(|ic| now.saturating_duration_since(ic.since) >= timeout)
                    .count();
                expired.extend(k.idle.drain(..n).map(|ic| ic.conn));
                if let Some(first) = k.idle.first() {
                    oldest = Some(oldest.map_or(first.since, |o| o.min(first.since)));
                }
            }
            st.total_idle -= expired.len();
            if oldest.is_none() {
                st.sweeping = false;
            }
            (expired, oldest)
        };
        for c in expired {
            close_conn(c, CloseReason::IdleTimeout, &Tracer::none());
        }
        match next.and_then(|since| since.checked_add(timeout)) {
            Some(at) => tokio::time::sleep_until(at).await,
            None => return,
        }
    }
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
        assert!(p.lock().keys.get(&key).is_none_or(|k| k.spare == 0));
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
        assert!(p.lock().keys.get(&key).is_none_or(|k| k.joined.is_empty()));
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
        assert!(st
            .keys
            .get(&key)
            .is_none_or(|k| k.spare == 0 && k.joined.is_empty()));
    }

    /// A key's entry outlives a checkout (its idle list is reused), and once there are many
    /// keys, adding one drops the keys with nothing in them, never one with a connection
    /// counted, a waiter or an idle connection.
    #[tokio::test]
    async fn unused_keys_are_pruned_only_when_keys_pile_up() {
        let key = |i: usize| {
            PoolKey::new(
                Scheme::Http,
                Host::from(format!("h{i}.test").as_str()),
                80,
                None,
            )
        };
        let p = pool();
        let (c, _s) = conn(&key(0)).await;
        p.put(c, &Tracer::none());
        let (taken, _) = p.take_idle(&key(0), &Tracer::none());
        assert!(taken.is_some());
        {
            let st = p.lock();
            let k = st
                .keys
                .get(&key(0))
                .expect("the entry stays after a checkout");
            assert!(k.is_unused() && k.idle.capacity() > 0);
        }
        let mut st = p.lock();
        st.key_mut(&key(1)).open = 1;
        st.key_mut(&key(2)).spare = 1;
        for i in 3..PRUNE_UNUSED_KEYS_AT {
            st.key_mut(&key(i));
        }
        assert_eq!(
            st.keys.len(),
            PRUNE_UNUSED_KEYS_AT,
            "no pruning below the threshold"
        );
        // An existing key never prunes.
        st.key_mut(&key(5));
        assert_eq!(st.keys.len(), PRUNE_UNUSED_KEYS_AT);
        st.key_mut(&key(1000));
        let mut left: Vec<&str> = st.keys.keys().map(|k| k.host.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["h1.test", "h1000.test", "h2.test"]);
    }
}
