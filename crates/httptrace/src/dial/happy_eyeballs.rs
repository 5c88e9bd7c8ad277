//! TCP connect with Happy Eyeballs, as Go's `net.Dialer` does it (`dialParallel`,
//! `dialSerial`, `dialSingle`, `partialDeadline` in `net/dial.go`).
//!
//! * The addresses are split by family: primaries are those of the first address's family (order
//!   kept), fallbacks the others.
//! * The primary racer tries its addresses one after the other; the fallback racer starts after
//!   `fallback_delay` (300 ms by default), or at once when the primary racer has failed on all its
//!   addresses. `fallback_delay: None` disables the race: one serial pass over all addresses in
//!   their order.
//! * The first success wins; if both racers fail the primary's (first) error is returned.
//! * Every attempt fires `connect_start("tcp", ip:port)` and exactly one matching `connect_done`.
//!
//! **Losers.** The racers are not spawned tasks: both are polled by the future returned by
//! [`connect`]. When one racer wins, the other racer's future is dropped before `connect`
//! returns; a drop guard on its in-flight attempt fires `connect_done` with a
//! cancellation error ([`Error::is_canceled`]) and the half-open socket is closed. The same guard
//! fires when the whole dial future is dropped (request cancelled or dial timed out from
//! outside). So `connect_done` fires exactly once per `connect_start`, and for a dial that
//! completes, always before the winning stream is handed back (Go may fire it a little later;
//! the order relative to the winner's own `connect_done` is the same).
//!
//! **Timeouts.** A deadline bounds the whole dial. Each serial attempt gets Go's
//! `partialDeadline`: the remaining time split evenly over the remaining addresses of its racer,
//! but at least 2 s (or all that is left). An attempt cut short by its deadline reports
//! `connect_done` with a `TimeoutKind::Connect` error and the next address is tried.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::deadline::Deadline;
use crate::error::{msg, Error, Kind, TimeoutKind};
use crate::trace::Tracer;

/// Go's default `FallbackDelay`.
pub(crate) const DEFAULT_FALLBACK_DELAY: Duration = Duration::from_millis(300);

/// Go's `saneMinimum` in `partialDeadline`.
const MIN_ATTEMPT_TIME: Duration = Duration::from_secs(2);

/// A TCP connect of one address. The system implementation is [`SystemConnect`]; tests inject
/// delays and failures through this seam.
pub(crate) trait TcpConnect: Send + Sync + 'static {
    fn connect(
        &self,
        addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send + 'static>>;
}

/// `TcpStream::connect`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SystemConnect;

impl TcpConnect for SystemConnect {
    fn connect(
        &self,
        addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send + 'static>> {
        Box::pin(TcpStream::connect(addr))
    }
}

/// Settings of one dial.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectConfig {
    /// When the whole dial must be done (DNS included when the caller set it before resolving).
    pub(crate) deadline: Option<Instant>,
    /// Delay before the fallback family starts; `None` disables the race (serial over all).
    pub(crate) fallback_delay: Option<Duration>,
}

impl ConnectConfig {
    /// A dial that must finish within `timeout` from now.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn new(timeout: Option<Duration>, fallback_delay: Option<Duration>) -> Self {
        ConnectConfig {
            deadline: timeout.and_then(crate::deadline::deadline_after),
            fallback_delay,
        }
    }
}

impl Default for ConnectConfig {
    fn default() -> Self {
        ConnectConfig {
            deadline: None,
            fallback_delay: Some(DEFAULT_FALLBACK_DELAY),
        }
    }
}

/// An I/O error that says which address it is about, keeping the original error (and its
/// kind): `connect 127.0.0.1:1: Connection refused (os error 111)`.
#[derive(Debug)]
pub(crate) struct AddrError {
    pub(crate) op: &'static str,
    pub(crate) addr: SocketAddr,
    pub(crate) source: io::Error,
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.op, self.addr, self.source)
    }
}

impl std::error::Error for AddrError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn connect_error(addr: SocketAddr, e: io::Error) -> Error {
    let kind = e.kind();
    Error::with(
        Kind::Connect,
        io::Error::new(
            kind,
            AddrError {
                op: "connect",
                addr,
                source: e,
            },
        ),
    )
}

fn timeout_error(addr: SocketAddr) -> Error {
    Error::with(
        Kind::Timeout(TimeoutKind::Connect),
        io::Error::new(
            io::ErrorKind::TimedOut,
            AddrError {
                op: "connect",
                addr,
                source: io::Error::new(io::ErrorKind::TimedOut, "i/o timeout"),
            },
        ),
    )
}

/// Connect to one of `addrs` (in the resolver's order) on `port`, Happy Eyeballs style, with the
/// system TCP connect. Returns the stream (TCP_NODELAY set) and the address it is connected to.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) async fn connect(
    addrs: &[IpAddr],
    port: u16,
    cfg: &ConnectConfig,
    tracer: &Tracer,
) -> Result<(TcpStream, SocketAddr), Error> {
    connect_with(&SystemConnect, addrs, port, cfg, tracer).await
}

/// [`connect`] through a given [`TcpConnect`].
pub(crate) async fn connect_with(
    connector: &dyn TcpConnect,
    addrs: &[IpAddr],
    port: u16,
    cfg: &ConnectConfig,
    tracer: &Tracer,
) -> Result<(TcpStream, SocketAddr), Error> {
    let all: Vec<SocketAddr> = addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
    let Some(first) = all.first() else {
        return Err(Error::with(
            Kind::Connect,
            msg("no addresses to connect to"),
        ));
    };
    let delay = match cfg.fallback_delay {
        Some(d) => d,
        None => return dial_serial(connector, &all, cfg.deadline, tracer).await,
    };
    let first_is_v4 = first.is_ipv4();
    let (primaries, fallbacks): (Vec<SocketAddr>, Vec<SocketAddr>) =
        all.iter().partition(|a| a.is_ipv4() == first_is_v4);
    if fallbacks.is_empty() {
        return dial_serial(connector, &primaries, cfg.deadline, tracer).await;
    }

    // Futures are lazy: the fallback racer fires no hook until it is first polled.
    let primary = dial_serial(connector, &primaries, cfg.deadline, tracer);
    let fallback = dial_serial(connector, &fallbacks, cfg.deadline, tracer);
    let timer = tokio::time::sleep(delay);
    tokio::pin!(primary, fallback, timer);

    let mut fallback_started = false;
    let mut primary_err: Option<Error> = None;
    let mut fallback_failed = false;
    loop {
        tokio::select! {
            biased;
            r = &mut primary, if primary_err.is_none() => match r {
                Ok(s) => return Ok(s),
                Err(e) => {
                    if fallback_failed {
                        return Err(e);
                    }
                    primary_err = Some(e);
                    // Go: fallbackTimer.Reset(0).
                    fallback_started = true;
                }
            },
            r = &mut fallback, if fallback_started && !fallback_failed => match r {
                Ok(s) => return Ok(s),
                Err(_) => {
                    if let Some(e) = primary_err.take() {
                        return Err(e);
                    }
                    fallback_failed = true;
                }
            },
            _ = &mut timer, if !fallback_started => fallback_started = true,
            else => {
                return Err(primary_err.unwrap_or_else(|| {
                    Error::with(Kind::Connect, msg("all connect attempts failed"))
                }))
            }
        }
    }
}

/// Go's `partialDeadline`: `None` when no time is left.
fn partial_deadline(now: Instant, deadline: Instant, remaining: usize) -> Option<Instant> {
    if deadline <= now {
        return None;
    }
    let left = deadline - now;
    let n = u32::try_from(remaining.max(1)).unwrap_or(u32::MAX);
    let mut t = left / n;
    if t < MIN_ATTEMPT_TIME {
        t = left.min(MIN_ATTEMPT_TIME);
    }
    Some(now + t)
}

/// Go's `dialSerial`: try each address in turn; the first error is returned when all fail.
async fn dial_serial(
    connector: &dyn TcpConnect,
    addrs: &[SocketAddr],
    deadline: Option<Instant>,
    tracer: &Tracer,
) -> Result<(TcpStream, SocketAddr), Error> {
    let mut first_err: Option<Error> = None;
    for (i, addr) in addrs.iter().enumerate() {
        let attempt_deadline = match deadline {
            None => None,
            Some(d) => match partial_deadline(Instant::now(), d, addrs.len() - i) {
                Some(pd) => Some(pd),
                None => {
                    // No time left: Go records an i/o timeout without attempting (no hooks).
                    first_err.get_or_insert_with(|| timeout_error(*addr));
                    break;
                }
            },
        };
        match dial_single(connector, *addr, attempt_deadline, tracer).await {
            Ok(s) => return Ok((s, *addr)),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| Error::with(Kind::Connect, msg("no addresses to connect to"))))
}

/// Fires `connect_done` with a cancellation error if an attempt is dropped while in flight.
struct ConnectDoneGuard<'a> {
    tracer: &'a Tracer,
    addr: SocketAddr,
    armed: bool,
}

impl Drop for ConnectDoneGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let err = Error::with(
                Kind::Canceled,
                msg(format!("connect {}: operation was canceled", self.addr)),
            );
            self.tracer.connect_done("tcp", self.addr, Some(&err));
        }
    }
}

/// Go's `dialSingle`: one attempt, bracketed by `connect_start`/`connect_done`.
async fn dial_single(
    connector: &dyn TcpConnect,
    addr: SocketAddr,
    deadline: Option<Instant>,
    tracer: &Tracer,
) -> Result<TcpStream, Error> {
    tracer.connect_start("tcp", addr);
    let mut guard = ConnectDoneGuard {
        tracer,
        addr,
        armed: true,
    };
    let res = match Deadline::new(connector.connect(addr), deadline).await {
        Some(r) => r.map_err(|e| connect_error(addr, e)),
        None => Err(timeout_error(addr)),
    };
    guard.armed = false;
    match &res {
        Ok(s) => {
            if let Err(e) = s.set_nodelay(true) {
                tracing::debug!(%addr, error = %e, "cannot set TCP_NODELAY");
            }
            tracer.connect_done("tcp", addr, None);
        }
        Err(e) => tracer.connect_done("tcp", addr, Some(e)),
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::ClientTrace;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use tokio::net::TcpListener;

    type Log = Arc<Mutex<Vec<String>>>;

    fn recorder() -> (Tracer, Log) {
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        let (l1, l2) = (log.clone(), log.clone());
        let trace = ClientTrace::new()
            .on_connect_start(move |n, a| l1.lock().unwrap().push(format!("start {n} {a}")))
            .on_connect_done(move |n, a, e| {
                let e = match e {
                    None => "ok".to_string(),
                    Some(e) if e.is_canceled() => "canceled".to_string(),
                    Some(e) if e.is_timeout() => "timeout".to_string(),
                    Some(e) => format!("err {e}"),
                };
                l2.lock().unwrap().push(format!("done {n} {a} {e}"))
            });
        (Tracer::new(Some(trace)), log)
    }

    /// What the fake connector does for one address.
    #[derive(Clone, Copy)]
    enum Plan {
        /// Connect for real (to `to`) after a delay.
        Real { delay_ms: u64, to: SocketAddr },
        /// Fail with ECONNREFUSED after a delay.
        Refuse { delay_ms: u64 },
        /// Never finish.
        Hang,
    }

    struct Fake(HashMap<SocketAddr, Plan>);

    impl TcpConnect for Fake {
        fn connect(
            &self,
            addr: SocketAddr,
        ) -> Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send + 'static>> {
            let plan = self
                .0
                .get(&addr)
                .copied()
                .unwrap_or(Plan::Refuse { delay_ms: 0 });
            Box::pin(async move {
                match plan {
                    Plan::Real { delay_ms, to } => {
                        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                        TcpStream::connect(to).await
                    }
                    Plan::Refuse { delay_ms } => {
                        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                        Err(io::Error::from(io::ErrorKind::ConnectionRefused))
                    }
                    Plan::Hang => std::future::pending().await,
                }
            })
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A port on which nothing listens (bound then dropped).
    async fn closed_port(v6: bool) -> u16 {
        let l = TcpListener::bind(if v6 { "[::1]:0" } else { "127.0.0.1:0" })
            .await
            .unwrap();
        l.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn v6_refused_then_v4_listening_real_sockets() {
        // The same port number on both families: v4 listens, v6 is closed.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (tracer, log) = recorder();
        let (s, addr) = connect(
            &[ip("::1"), ip("127.0.0.1")],
            port,
            &ConnectConfig::default(),
            &tracer,
        )
        .await
        .unwrap();
        assert_eq!(addr, SocketAddr::new(ip("127.0.0.1"), port));
        assert!(s.nodelay().unwrap());
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 4, "{log:?}");
        assert_eq!(log[0], format!("start tcp [::1]:{port}"));
        assert!(
            log[1].starts_with(&format!("done tcp [::1]:{port} err ")),
            "{}",
            log[1]
        );
        assert_eq!(log[2], format!("start tcp 127.0.0.1:{port}"));
        assert_eq!(log[3], format!("done tcp 127.0.0.1:{port} ok"));
    }

    #[tokio::test]
    async fn all_refused_returns_primary_error() {
        let p4 = closed_port(false).await;
        let (tracer, log) = recorder();
        let e = connect(
            &[ip("::1"), ip("127.0.0.1")],
            p4,
            &ConnectConfig::default(),
            &tracer,
        )
        .await
        .unwrap_err();
        assert!(e.is_connect());
        let s = e.to_string();
        assert!(s.contains(&format!("connect [::1]:{p4}")), "{s}");
        let io = std::error::Error::source(&e)
            .unwrap()
            .downcast_ref::<io::Error>()
            .unwrap();
        assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(log.lock().unwrap().len(), 4);

        // Single address, v4: message names the address.
        let e = connect(
            &[ip("127.0.0.1")],
            p4,
            &ConnectConfig::default(),
            &Tracer::none(),
        )
        .await
        .unwrap_err();
        assert!(
            e.to_string().contains(&format!("connect 127.0.0.1:{p4}: ")),
            "{e}"
        );
    }

    #[tokio::test]
    async fn slow_primary_fallback_wins_and_loser_reports_cancel_once() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let real = l.local_addr().unwrap();
        let p = 4444;
        let v6 = SocketAddr::new(ip("::1"), p);
        let v4 = SocketAddr::new(ip("127.0.0.1"), p);
        let fake = Fake(HashMap::from([
            (v6, Plan::Hang),
            (
                v4,
                Plan::Real {
                    delay_ms: 0,
                    to: real,
                },
            ),
        ]));
        let (tracer, log) = recorder();
        let cfg = ConnectConfig {
            deadline: None,
            fallback_delay: Some(Duration::from_millis(50)),
        };
        let t0 = Instant::now();
        let (_s, addr) = connect_with(&fake, &[ip("::1"), ip("127.0.0.1")], p, &cfg, &tracer)
            .await
            .unwrap();
        assert!(t0.elapsed() >= Duration::from_millis(50));
        assert_eq!(addr, v4);
        let log = log.lock().unwrap();
        assert_eq!(
            *log,
            vec![
                format!("start tcp {v6}"),
                format!("start tcp {v4}"),
                format!("done tcp {v4} ok"),
                format!("done tcp {v6} canceled"),
            ]
        );
    }

    #[tokio::test]
    async fn primary_fails_fast_fallback_starts_at_once() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let real = l.local_addr().unwrap();
        let p = 5555;
        let fake = Fake(HashMap::from([
            (SocketAddr::new(ip("::1"), p), Plan::Refuse { delay_ms: 5 }),
            (SocketAddr::new(ip("::2"), p), Plan::Refuse { delay_ms: 5 }),
            (
                SocketAddr::new(ip("127.0.0.1"), p),
                Plan::Real {
                    delay_ms: 0,
                    to: real,
                },
            ),
        ]));
        let (tracer, log) = recorder();
        let cfg = ConnectConfig {
            deadline: None,
            fallback_delay: Some(Duration::from_secs(10)),
        };
        let t0 = Instant::now();
        connect_with(
            &fake,
            &[ip("::1"), ip("127.0.0.1"), ip("::2")],
            p,
            &cfg,
            &tracer,
        )
        .await
        .unwrap();
        assert!(t0.elapsed() < Duration::from_secs(2));
        let log = log.lock().unwrap();
        let starts: Vec<_> = log.iter().filter(|l| l.starts_with("start")).collect();
        assert_eq!(starts.len(), 3, "{log:?}");
        assert!(starts[0].contains("[::1]") && starts[1].contains("[::2]"));
        assert!(starts[2].contains("127.0.0.1"));
    }

    #[tokio::test]
    async fn primary_wins_before_fallback_delay() {
        let l = TcpListener::bind("[::1]:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (tracer, log) = recorder();
        connect(
            &[ip("::1"), ip("127.0.0.1")],
            port,
            &ConnectConfig::default(),
            &tracer,
        )
        .await
        .unwrap();
        assert_eq!(log.lock().unwrap().len(), 2, "the fallback never started");
    }

    #[tokio::test]
    async fn fallback_disabled_is_serial() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let real = l.local_addr().unwrap();
        let p = 6666;
        let fake = Fake(HashMap::from([
            (
                SocketAddr::new(ip("::1"), p),
                Plan::Refuse { delay_ms: 100 },
            ),
            (
                SocketAddr::new(ip("127.0.0.1"), p),
                Plan::Real {
                    delay_ms: 0,
                    to: real,
                },
            ),
        ]));
        let (tracer, log) = recorder();
        let cfg = ConnectConfig {
            deadline: None,
            fallback_delay: None,
        };
        connect_with(&fake, &[ip("::1"), ip("127.0.0.1")], p, &cfg, &tracer)
            .await
            .unwrap();
        let log = log.lock().unwrap();
        assert!(log[0].starts_with("start tcp [::1]") && log[1].starts_with("done tcp [::1]"));
        assert!(log[2].starts_with("start tcp 127.0.0.1"));
    }

    #[tokio::test]
    async fn connect_timeout_bounds_the_dial() {
        let p = 7777;
        let fake = Fake(HashMap::from([(
            SocketAddr::new(ip("10.255.0.1"), p),
            Plan::Hang,
        )]));
        let (tracer, log) = recorder();
        let cfg = ConnectConfig::new(
            Some(Duration::from_millis(100)),
            Some(DEFAULT_FALLBACK_DELAY),
        );
        let t0 = Instant::now();
        let e = connect_with(&fake, &[ip("10.255.0.1")], p, &cfg, &tracer)
            .await
            .unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(1));
        assert_eq!(e.timeout_kind(), Some(TimeoutKind::Connect));
        assert!(
            e.to_string().contains("10.255.0.1:7777: i/o timeout"),
            "{e}"
        );
        assert_eq!(
            *log.lock().unwrap(),
            vec![
                "start tcp 10.255.0.1:7777".to_string(),
                "done tcp 10.255.0.1:7777 timeout".to_string()
            ]
        );
    }

    #[tokio::test]
    async fn serial_addresses_share_the_deadline() {
        // 3 hanging v4 addresses and 300 ms: the first gets all the time (< 2 s minimum), so
        // the others get none and are never attempted.
        let fake = Fake(HashMap::new());
        let addrs = [ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3")];
        let fake = Fake(
            addrs
                .iter()
                .map(|a| (SocketAddr::new(*a, 80), Plan::Hang))
                .chain(fake.0)
                .collect(),
        );
        let (tracer, log) = recorder();
        let cfg = ConnectConfig::new(Some(Duration::from_millis(300)), None);
        let e = connect_with(&fake, &addrs, 80, &cfg, &tracer)
            .await
            .unwrap_err();
        assert!(e.is_timeout());
        assert_eq!(log.lock().unwrap().len(), 2);
    }

    #[test]
    fn partial_deadline_rules() {
        let now = Instant::now();
        let d = now + Duration::from_secs(30);
        assert_eq!(
            partial_deadline(now, d, 3),
            Some(now + Duration::from_secs(10))
        );
        assert_eq!(
            partial_deadline(now, d, 30),
            Some(now + Duration::from_secs(2))
        );
        let short = now + Duration::from_millis(500);
        assert_eq!(partial_deadline(now, short, 3), Some(short));
        assert_eq!(partial_deadline(now, now, 1), None);
    }

    #[tokio::test]
    async fn dropped_dial_reports_every_attempt() {
        let p = 8888;
        let fake = Fake(HashMap::from([
            (SocketAddr::new(ip("::1"), p), Plan::Hang),
            (SocketAddr::new(ip("127.0.0.1"), p), Plan::Hang),
        ]));
        let (tracer, log) = recorder();
        let cfg = ConnectConfig {
            deadline: None,
            fallback_delay: Some(Duration::from_millis(20)),
        };
        let r = tokio::time::timeout(
            Duration::from_millis(100),
            connect_with(&fake, &[ip("::1"), ip("127.0.0.1")], p, &cfg, &tracer),
        )
        .await;
        assert!(r.is_err());
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 4, "{log:?}");
        assert_eq!(log.iter().filter(|l| l.ends_with("canceled")).count(), 2);
    }

    #[test]
    fn connect_future_is_send() {
        fn assert_send<T: Send>(_: T) {}
        let t = Tracer::none();
        let cfg = ConnectConfig::default();
        assert_send(connect(&[], 1, &cfg, &t));
    }
}
