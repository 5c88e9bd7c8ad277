//! Name resolution: the pluggable [`Resolve`] trait and the resolvers that come with the crate.
//!
//! The client resolves the host of a connection's first hop (the target, or the proxy when a
//! proxy is used) through a [`Resolve`] implementation. Three are provided:
//!
//! * [`SystemResolver`] (the default): the operating system's resolver (`getaddrinfo`), run on
//!   tokio's blocking thread pool. Addresses are kept in the order the system returns them
//!   (RFC 6724 order on glibc), duplicates removed.
//! * [`HostsResolver`]: answers from the hosts file only (`/etc/hosts`) and fails every other
//!   name at once, without sending a packet. Useful for tests and reproducible runs.
//! * [`StaticResolver`]: a fixed map from names to addresses (like curl's `--resolve`), falling
//!   back to another resolver for names it does not know.
//!
//! Whatever the resolver, the client wraps it so that concurrent lookups of one name share a
//! single lookup (Go's `singleflight`), fires `dns_start`/`dns_done` around it, and never asks it
//! about IP literals (they skip DNS entirely, as in Go).
//!
//! Implementing [`Resolve`] yourself:
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use httptrace::dns::{Resolve, Resolving};
//!
//! struct AlwaysLoopback;
//!
//! impl Resolve for AlwaysLoopback {
//!     fn resolve(&self, _host: &str) -> Resolving {
//!         Box::pin(async { Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]) })
//!     }
//! }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::deadline::Deadline;
use crate::error::{msg, Error, Kind, TimeoutKind};
use crate::trace::{DnsDoneInfo, DnsStartInfo, Tracer};

/// The future returned by [`Resolve::resolve`]: the addresses of a name, or an I/O error
/// (`io::ErrorKind::NotFound` for a name that does not exist, by convention).
pub type Resolving = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// A name resolver: turns a host name into IP addresses.
///
/// `host` is a DNS name without port or brackets, lower-case ASCII (punycode for IDNA names).
/// The client never passes IP literals. The addresses are used in the order returned: the first
/// address's family is tried first (Happy Eyeballs primaries), the other family after 300 ms or
/// as soon as every primary failed. An empty `Ok` list is treated as a lookup failure
/// ("no addresses").
///
/// The client calls `resolve` once per lookup even when several connections want the same name
/// at the same time (it coalesces them), and keeps polling the returned future even if the
/// request that started it is cancelled, so other requests waiting for the same name still get
/// the answer.
pub trait Resolve: Send + Sync + 'static {
    /// Start resolving `host`.
    fn resolve(&self, host: &str) -> Resolving;
}

impl fmt::Debug for dyn Resolve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn Resolve")
    }
}

impl<R: Resolve + ?Sized> Resolve for Arc<R> {
    fn resolve(&self, host: &str) -> Resolving {
        (**self).resolve(host)
    }
}

impl<R: Resolve + ?Sized> Resolve for Box<R> {
    fn resolve(&self, host: &str) -> Resolving {
        (**self).resolve(host)
    }
}

/// Remove duplicates, keeping the first occurrence of each address (and so the order).
fn dedupe(addrs: &mut Vec<IpAddr>) {
    let mut seen = Vec::with_capacity(addrs.len());
    addrs.retain(|a| {
        if seen.contains(a) {
            false
        } else {
            seen.push(*a);
            true
        }
    });
}

// ---------------------------------------------------------------------------------------------
// SystemResolver
// ---------------------------------------------------------------------------------------------

/// The operating system's resolver: `getaddrinfo` (through [`std::net::ToSocketAddrs`]) on
/// tokio's blocking thread pool. This is the client's default.
///
/// The system order of the addresses is kept (it already applies RFC 6724 destination address
/// selection on glibc); duplicates are removed. `/etc/hosts`, `nsswitch.conf` and the system's
/// DNS configuration apply as for any other program.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl SystemResolver {
    /// The system resolver.
    pub fn new() -> SystemResolver {
        SystemResolver
    }
}

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str) -> Resolving {
        let host = host.to_owned();
        Box::pin(async move {
            let joined = tokio::task::spawn_blocking(move || {
                (host.as_str(), 0u16)
                    .to_socket_addrs()
                    .map(|it| it.map(|sa| sa.ip()).collect::<Vec<_>>())
            })
            .await;
            let mut addrs = match joined {
                Ok(r) => r?,
                Err(e) => return Err(io::Error::other(e)),
            };
            dedupe(&mut addrs);
            Ok(addrs)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// HostsResolver
// ---------------------------------------------------------------------------------------------

type HostsMap = HashMap<String, Vec<IpAddr>>;

/// Parse hosts-file contents: `#` comments, any whitespace, several names per line, IPv4 and
/// IPv6 addresses (a `%zone` suffix is dropped), names case-insensitive, one trailing dot
/// ignored. Lines with an unparsable address are skipped. Addresses keep file order per name.
fn parse_hosts(contents: &str) -> HostsMap {
    let mut map: HostsMap = HashMap::new();
    for line in contents.lines() {
        let line = match line.find('#') {
            Some(i) => &line[..i],
            None => line,
        };
        let mut fields = line.split_whitespace();
        let Some(addr) = fields.next() else { continue };
        let addr = addr.split('%').next().unwrap_or(addr);
        let Ok(ip) = addr.parse::<IpAddr>() else {
            continue;
        };
        for name in fields {
            let key = normalize_name(name);
            if key.is_empty() {
                continue;
            }
            let v = map.entry(key).or_default();
            if !v.contains(&ip) {
                v.push(ip);
            }
        }
    }
    map
}

fn normalize_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// A resolver that answers from the hosts file only and fails every other name at once with
/// `io::ErrorKind::NotFound` ("no such host (hosts-only resolver)"), without sending any DNS
/// packet. This is the CLI's `--dns hosts`.
///
/// [`HostsResolver::new`] reads `/etc/hosts`. The file is read at the first lookup and re-read
/// whenever its modification time or size changed (one `stat` per lookup), so edits are seen
/// without re-reading an unchanged file. [`HostsResolver::from_contents`] (or
/// [`str::parse`]) answers from fixed contents instead.
///
/// Matching is case-insensitive and ignores one trailing dot. An entry may list several names;
/// a name may appear on several lines (its addresses are returned in file order, IPv4 and IPv6
/// alike). A hosts file that cannot be read fails every lookup with that I/O error.
pub struct HostsResolver {
    source: HostsSource,
}

enum HostsSource {
    Fixed(Arc<HostsMap>),
    File {
        path: PathBuf,
        cache: Mutex<Option<HostsCache>>,
    },
}

struct HostsCache {
    modified: Option<SystemTime>,
    len: u64,
    map: Arc<HostsMap>,
}

impl fmt::Debug for HostsResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            HostsSource::Fixed(m) => f
                .debug_struct("HostsResolver")
                .field("names", &m.len())
                .finish(),
            HostsSource::File { path, .. } => {
                f.debug_struct("HostsResolver").field("path", path).finish()
            }
        }
    }
}

impl Default for HostsResolver {
    fn default() -> Self {
        HostsResolver::new()
    }
}

impl HostsResolver {
    /// A resolver answering from `/etc/hosts`.
    pub fn new() -> HostsResolver {
        HostsResolver::with_path("/etc/hosts")
    }

    /// A resolver answering from the hosts file at `path`.
    pub fn with_path(path: impl Into<PathBuf>) -> HostsResolver {
        HostsResolver {
            source: HostsSource::File {
                path: path.into(),
                cache: Mutex::new(None),
            },
        }
    }

    /// A resolver answering from `contents`, in hosts-file syntax
    /// (`127.0.0.1 localhost example.test # comment`).
    pub fn from_contents(contents: &str) -> HostsResolver {
        HostsResolver {
            source: HostsSource::Fixed(Arc::new(parse_hosts(contents))),
        }
    }

    fn table(&self) -> io::Result<Arc<HostsMap>> {
        match &self.source {
            HostsSource::Fixed(m) => Ok(m.clone()),
            HostsSource::File { path, cache } => {
                let meta = std::fs::metadata(path)?;
                let modified = meta.modified().ok();
                let len = meta.len();
                let mut guard = cache.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(c) = &*guard {
                    if c.modified.is_some() && c.modified == modified && c.len == len {
                        return Ok(c.map.clone());
                    }
                }
                let contents = std::fs::read_to_string(path)?;
                let map = Arc::new(parse_hosts(&contents));
                *guard = Some(HostsCache {
                    modified,
                    len,
                    map: map.clone(),
                });
                Ok(map)
            }
        }
    }

    /// Look `host` up synchronously.
    fn lookup_now(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        let table = self.table()?;
        match table.get(&normalize_name(host)) {
            Some(v) if !v.is_empty() => Ok(v.clone()),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such host (hosts-only resolver)",
            )),
        }
    }
}

impl std::str::FromStr for HostsResolver {
    type Err = std::convert::Infallible;

    /// Same as [`HostsResolver::from_contents`].
    fn from_str(contents: &str) -> Result<Self, Self::Err> {
        Ok(HostsResolver::from_contents(contents))
    }
}

impl Resolve for HostsResolver {
    fn resolve(&self, host: &str) -> Resolving {
        Box::pin(std::future::ready(self.lookup_now(host)))
    }
}

// ---------------------------------------------------------------------------------------------
// StaticResolver
// ---------------------------------------------------------------------------------------------

/// A fixed map from names to addresses, falling back to another resolver for other names
/// (curl's `--resolve host:port:addr`, without the port).
///
/// ```
/// use std::net::IpAddr;
/// use httptrace::dns::{StaticResolver, SystemResolver};
///
/// let ip: IpAddr = "127.0.0.1".parse().unwrap();
/// let resolver = StaticResolver::new(SystemResolver).add("example.com", [ip]);
/// # let _ = resolver;
/// ```
pub struct StaticResolver {
    map: HashMap<String, Vec<IpAddr>>,
    fallback: Arc<dyn Resolve>,
}

impl fmt::Debug for StaticResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticResolver")
            .field("map", &self.map)
            .finish_non_exhaustive()
    }
}

impl StaticResolver {
    /// An empty map that asks `fallback` about every name.
    pub fn new<R: Resolve>(fallback: R) -> StaticResolver {
        StaticResolver {
            map: HashMap::new(),
            fallback: Arc::new(fallback),
        }
    }

    /// Answer `host` (case-insensitive, one trailing dot ignored) with `addrs`, in that order.
    /// Adding a name twice appends the addresses.
    #[must_use]
    pub fn add(mut self, host: &str, addrs: impl IntoIterator<Item = IpAddr>) -> StaticResolver {
        let v = self.map.entry(normalize_name(host)).or_default();
        for a in addrs {
            if !v.contains(&a) {
                v.push(a);
            }
        }
        self
    }
}

impl Resolve for StaticResolver {
    fn resolve(&self, host: &str) -> Resolving {
        match self.map.get(&normalize_name(host)) {
            Some(v) if !v.is_empty() => Box::pin(std::future::ready(Ok(v.clone()))),
            _ => self.fallback.resolve(host),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// IP literals
// ---------------------------------------------------------------------------------------------

/// The address of an IP-literal host, which skips DNS (Go's `parseIPZone` in `lookupIPAddr`).
/// Accepts IPv4 dotted quads, IPv6 with or without brackets, and an IPv6 `%zone` suffix (dropped:
/// `IpAddr` has no zone). Anything else (names, `1.2.3`, octal forms) is `None`.
pub(crate) fn parse_ip_literal(host: &str) -> Option<IpAddr> {
    let h = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Some(ip);
    }
    // IPv6 with a zone: "fe80::1%eth0" (or "%25eth0" as written in URLs).
    let (addr, zone) = h.split_once('%')?;
    if zone.is_empty() || !addr.contains(':') {
        return None;
    }
    addr.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
}

// ---------------------------------------------------------------------------------------------
// Coalescing (singleflight) + trace hooks
// ---------------------------------------------------------------------------------------------

/// A lookup error that keeps the I/O error's kind and says which name failed:
/// `lookup nonexistent.example: no such host`.
#[derive(Debug)]
struct LookupError {
    host: String,
    source: io::Error,
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lookup {}: {}", self.host, self.source)
    }
}

impl std::error::Error for LookupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn dns_error(host: &str, e: io::Error) -> Error {
    let kind = e.kind();
    Error::with(
        Kind::Dns,
        io::Error::new(
            kind,
            LookupError {
                host: host.to_owned(),
                source: e,
            },
        ),
    )
}

type Outcome = (Result<Vec<IpAddr>, Error>, bool);

struct Flight {
    /// How many callers joined after the one that started the lookup (Go's `dups`).
    dups: usize,
    tx: watch::Sender<Option<Outcome>>,
}

type Inflight = Arc<Mutex<HashMap<String, Flight>>>;

/// Removes the flight from the table if its task ends without delivering (panic, runtime
/// shutdown); joiners then see the channel closed.
struct FlightCleanup {
    inflight: Inflight,
    key: String,
    armed: bool,
}

impl Drop for FlightCleanup {
    fn drop(&mut self) {
        if self.armed {
            let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            map.remove(&self.key);
        }
    }
}

/// Fires `dns_done` with a cancellation error if the lookup future is dropped between
/// `dns_start` and `dns_done`, so the two hooks always pair up.
struct DnsDoneGuard<'a> {
    tracer: &'a Tracer,
    host: &'a str,
    armed: bool,
}

impl Drop for DnsDoneGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let err = Error::with(
                Kind::Canceled,
                msg(format!("lookup {}: operation was canceled", self.host)),
            );
            self.tracer.dns_done(&DnsDoneInfo {
                addrs: Vec::new(),
                coalesced: false,
                err: Some(err),
            });
        }
    }
}

/// The client's resolver front: concurrent lookups of one name share one call to the inner
/// [`Resolve`] (Go's `singleflight.DoChan`), and each caller gets `dns_start`/`dns_done`.
///
/// `coalesced` is Go's `Shared`: true for every caller of a shared lookup, the one that started
/// it included, when at least one other caller joined before the result was delivered. The
/// inner lookup runs on its own task, so a cancelled caller never breaks it for the others.
pub(crate) struct Coalescing {
    inner: Arc<dyn Resolve>,
    inflight: Inflight,
}

impl Coalescing {
    pub(crate) fn new(inner: Arc<dyn Resolve>) -> Coalescing {
        Coalescing {
            inner,
            inflight: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Resolve `host` (never an IP literal: see [`parse_ip_literal`]) with the DNS hooks.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) async fn lookup(&self, host: &str, tracer: &Tracer) -> Result<Vec<IpAddr>, Error> {
        self.lookup_until(host, None, tracer).await
    }

    /// As [`lookup`](Self::lookup), giving up at `deadline` (the dial's connect deadline, which
    /// in Go covers name resolution too) with a `TimeoutKind::Connect` error reported to
    /// `dns_done`. The shared lookup itself carries on for other callers.
    pub(crate) async fn lookup_until(
        &self,
        host: &str,
        deadline: Option<Instant>,
        tracer: &Tracer,
    ) -> Result<Vec<IpAddr>, Error> {
        tracer.dns_start(&DnsStartInfo {
            host: host.to_owned(),
        });
        let mut guard = DnsDoneGuard {
            tracer,
            host,
            armed: true,
        };
        let result = match Deadline::new(self.shared(host), deadline).await {
            Some(r) => r,
            None => (
                Err(Error::with(
                    Kind::Timeout(TimeoutKind::Connect),
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("lookup {host}: i/o timeout"),
                    ),
                )),
                false,
            ),
        };
        guard.armed = false;
        let (res, coalesced) = result;
        match &res {
            Ok(addrs) => tracer.dns_done(&DnsDoneInfo {
                addrs: addrs.clone(),
                coalesced,
                err: None,
            }),
            Err(e) => tracer.dns_done(&DnsDoneInfo {
                addrs: Vec::new(),
                coalesced,
                err: Some(e.clone()),
            }),
        }
        res
    }

    /// Join the in-flight lookup of `host`, or start one.
    async fn shared(&self, host: &str) -> Outcome {
        let mut rx = {
            let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            match map.get_mut(host) {
                Some(f) => {
                    f.dups += 1;
                    f.tx.subscribe()
                }
                None => {
                    let (tx, rx) = watch::channel(None);
                    map.insert(host.to_owned(), Flight { dups: 0, tx });
                    drop(map);
                    self.start(host);
                    rx
                }
            }
        };
        let delivered = rx
            .wait_for(|v| v.is_some())
            .await
            .ok()
            .and_then(|v| v.clone());
        match delivered {
            Some(o) => o,
            None => (
                Err(dns_error(
                    host,
                    io::Error::other("resolver task ended without an answer"),
                )),
                false,
            ),
        }
    }

    fn start(&self, host: &str) {
        let inner = self.inner.clone();
        let inflight = self.inflight.clone();
        let key = host.to_owned();
        crate::outlined::spawn_task(async move {
            let mut cleanup = FlightCleanup {
                inflight: inflight.clone(),
                key: key.clone(),
                armed: true,
            };
            let res = match inner.resolve(&key).await {
                Ok(addrs) if addrs.is_empty() => Err(dns_error(
                    &key,
                    io::Error::new(io::ErrorKind::NotFound, "no addresses"),
                )),
                Ok(mut addrs) => {
                    dedupe(&mut addrs);
                    Ok(addrs)
                }
                Err(e) => Err(dns_error(&key, e)),
            };
            // Singleflight: remove the call from the table and read `dups` under one lock, so
            // nobody can join after `shared` was decided.
            let flight = {
                let mut map = inflight.lock().unwrap_or_else(|p| p.into_inner());
                map.remove(&key)
            };
            cleanup.armed = false;
            if let Some(f) = flight {
                let shared = f.dups > 0;
                f.tx.send_replace(Some((res, shared)));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::ClientTrace;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn recorder() -> (Tracer, Arc<Mutex<Vec<String>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (l1, l2) = (log.clone(), log.clone());
        let trace = ClientTrace::new()
            .on_dns_start(move |i| l1.lock().unwrap().push(format!("dns_start {}", i.host)))
            .on_dns_done(move |i| {
                l2.lock().unwrap().push(format!(
                    "dns_done {:?} coalesced={} err={}",
                    i.addrs,
                    i.coalesced,
                    i.err.as_ref().map(|e| e.to_string()).unwrap_or_default()
                ))
            });
        (Tracer::new(Some(trace)), log)
    }

    /// A resolver that waits, counts its calls and answers from a fixed result.
    struct Slow {
        calls: Arc<AtomicUsize>,
        delay: Duration,
        answer: Result<Vec<IpAddr>, io::ErrorKind>,
    }

    impl Resolve for Slow {
        fn resolve(&self, _host: &str) -> Resolving {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let d = self.delay;
            let a = self.answer.clone();
            Box::pin(async move {
                tokio::time::sleep(d).await;
                a.map_err(|k| io::Error::new(k, "synthetic failure"))
            })
        }
    }

    fn slow(
        delay_ms: u64,
        answer: Result<Vec<IpAddr>, io::ErrorKind>,
    ) -> (Coalescing, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let r = Slow {
            calls: calls.clone(),
            delay: Duration::from_millis(delay_ms),
            answer,
        };
        (Coalescing::new(Arc::new(r)), calls)
    }

    const HOSTS: &str = "\
# comment line
127.0.0.1\tlocalhost   Localhost.localdomain # trailing comment
::1 localhost ip6-localhost ip6-loopback
10.0.0.5 app.test APP2.test.
10.0.0.6 app.test
fe80::1%lo link.test
not-an-ip bogus.test
   # indented comment
192.0.2.1
";

    #[tokio::test]
    async fn hosts_parsing() {
        let r = HostsResolver::from_contents(HOSTS);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            r.resolve("localhost").await.unwrap(),
            vec![ip("127.0.0.1"), ip("::1")]
        );
        assert_eq!(r.resolve("LOCALHOST.").await.unwrap().len(), 2);
        assert_eq!(
            r.resolve("localhost.localdomain").await.unwrap(),
            vec![ip("127.0.0.1")]
        );
        assert_eq!(r.resolve("ip6-loopback").await.unwrap(), vec![ip("::1")]);
        assert_eq!(
            r.resolve("app.test").await.unwrap(),
            vec![ip("10.0.0.5"), ip("10.0.0.6")]
        );
        assert_eq!(r.resolve("app2.test").await.unwrap(), vec![ip("10.0.0.5")]);
        assert_eq!(r.resolve("link.test").await.unwrap(), vec![ip("fe80::1")]);
        for missing in ["bogus.test", "comment", "example.com", "192.0.2.1"] {
            let e = r.resolve(missing).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound, "{missing}");
            assert!(e.to_string().contains("hosts-only"), "{e}");
        }
        let r2: HostsResolver = "1.2.3.4 x".parse().unwrap();
        assert_eq!(r2.resolve("X").await.unwrap(), vec![ip("1.2.3.4")]);
    }

    #[tokio::test]
    async fn hosts_file_reload_and_missing_file() {
        let dir = std::env::temp_dir().join(format!("httptrace-hosts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hosts");
        std::fs::write(&path, "10.1.1.1 a.test\n").unwrap();
        let r = HostsResolver::with_path(&path);
        assert_eq!(r.resolve("a.test").await.unwrap().len(), 1);
        // A different size forces a re-read even within the same mtime tick.
        std::fs::write(&path, "10.1.1.1 a.test\n10.2.2.2 b.test\n").unwrap();
        assert_eq!(r.resolve("b.test").await.unwrap().len(), 1);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            r.resolve("a.test").await.unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        let _ = std::fs::remove_dir(&dir);
        // The real /etc/hosts is readable here and answers nothing unknown.
        let sys = HostsResolver::new();
        assert!(sys.resolve("no-such-name.invalid").await.is_err());
    }

    #[tokio::test]
    async fn static_resolver_falls_back() {
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let r = StaticResolver::new(HostsResolver::from_contents("10.0.0.1 other.test"))
            .add("Example.COM", [ip]);
        assert_eq!(r.resolve("example.com").await.unwrap(), vec![ip]);
        assert_eq!(r.resolve("other.test").await.unwrap().len(), 1);
        assert!(r.resolve("nope.test").await.is_err());
    }

    #[tokio::test]
    async fn system_resolver_localhost() {
        let addrs = SystemResolver.resolve("localhost").await.unwrap();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.is_loopback()), "{addrs:?}");
    }

    #[test]
    fn ip_literals() {
        let p = parse_ip_literal;
        assert_eq!(p("127.0.0.1"), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(p("::1"), Some("::1".parse().unwrap()));
        assert_eq!(p("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(p("fe80::1%eth0"), Some("fe80::1".parse().unwrap()));
        assert_eq!(p("[fe80::1%25eth0]"), Some("fe80::1".parse().unwrap()));
        assert_eq!(
            p("::ffff:127.0.0.1"),
            Some("::ffff:127.0.0.1".parse().unwrap())
        );
        for not in [
            "localhost",
            "example.com",
            "1.2.3",
            "1.2.3.4.5",
            "127.1",
            "fe80::1%",
            "a%b",
            "",
        ] {
            assert_eq!(p(not), None, "{not}");
        }
    }

    #[tokio::test]
    async fn single_lookup_not_coalesced() {
        let (c, calls) = slow(0, Ok(vec!["127.0.0.1".parse().unwrap()]));
        let (tracer, log) = recorder();
        let addrs = c.lookup("a.test", &tracer).await.unwrap();
        assert_eq!(addrs.len(), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            *log.lock().unwrap(),
            vec![
                "dns_start a.test".to_string(),
                "dns_done [127.0.0.1] coalesced=false err=".to_string()
            ]
        );
        // A second, sequential lookup is a new one (nothing cached).
        c.lookup("a.test", &tracer).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(log.lock().unwrap()[3].contains("coalesced=false"));
    }

    #[tokio::test]
    async fn concurrent_lookups_share_one_call() {
        let (c, calls) = slow(
            150,
            Ok(vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()]),
        );
        let (t1, log1) = recorder();
        let (t2, log2) = recorder();
        let (t3, log3) = recorder();
        let (a, b, other) = tokio::join!(
            c.lookup("a.test", &t1),
            async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                c.lookup("a.test", &t2).await
            },
            c.lookup("b.test", &t3)
        );
        assert_eq!(a.unwrap(), b.unwrap());
        assert!(other.is_ok());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "one call for a.test, one for b.test"
        );
        for log in [&log1, &log2] {
            let l = log.lock().unwrap();
            assert_eq!(l.len(), 2);
            assert_eq!(l[1], "dns_done [127.0.0.1, ::1] coalesced=true err=");
        }
        assert!(log3.lock().unwrap()[1].contains("coalesced=false"));
    }

    #[tokio::test]
    async fn errors_are_shared() {
        let (c, calls) = slow(100, Err(io::ErrorKind::NotFound));
        let (t1, log1) = recorder();
        let (t2, _log2) = recorder();
        let (a, b) = tokio::join!(c.lookup("x.test", &t1), c.lookup("x.test", &t2));
        let (a, b) = (a.unwrap_err(), b.unwrap_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(a.is_dns() && b.is_dns());
        assert!(a.to_string().contains("lookup x.test"), "{a}");
        let src = std::error::Error::source(&a).unwrap();
        let io = src.downcast_ref::<io::Error>().unwrap();
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
        let l = log1.lock().unwrap();
        assert!(
            l[1].starts_with("dns_done [] coalesced=true err=DNS lookup failed"),
            "{}",
            l[1]
        );
    }

    #[tokio::test]
    async fn empty_answer_is_an_error() {
        let (c, _) = slow(0, Ok(vec![]));
        let e = c.lookup("e.test", &Tracer::none()).await.unwrap_err();
        assert!(e.is_dns());
        assert!(e.to_string().contains("no addresses"), "{e}");
    }

    #[tokio::test]
    async fn cancelled_caller_does_not_break_joiners() {
        let (c, calls) = slow(300, Ok(vec!["127.0.0.1".parse().unwrap()]));
        let c = Arc::new(c);
        let (t1, log1) = recorder();
        let (t2, log2) = recorder();
        // The leader gives up early: dropped after 30 ms.
        let leader = tokio::time::timeout(Duration::from_millis(30), c.lookup("c.test", &t1));
        let joiner = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            c.lookup("c.test", &t2).await
        };
        let (l, j) = tokio::join!(leader, joiner);
        assert!(l.is_err(), "leader timed out");
        assert_eq!(j.unwrap().len(), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let l1 = log1.lock().unwrap();
        assert_eq!(l1.len(), 2, "dns_done fired on cancel: {l1:?}");
        assert!(l1[1].contains("canceled"), "{}", l1[1]);
        assert!(log2.lock().unwrap()[1].contains("coalesced=true"));
        assert!(c.inflight.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn deadline_reports_timeout() {
        let (c, _) = slow(500, Ok(vec!["127.0.0.1".parse().unwrap()]));
        let (t, log) = recorder();
        let d = Instant::now() + Duration::from_millis(30);
        let e = c.lookup_until("slow.test", Some(d), &t).await.unwrap_err();
        assert_eq!(e.timeout_kind(), Some(TimeoutKind::Connect));
        assert!(log.lock().unwrap()[1].contains("i/o timeout"));
    }
}
