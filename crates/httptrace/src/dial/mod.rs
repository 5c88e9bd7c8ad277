//! Establishing connections: name resolution, Happy Eyeballs, proxies, TLS.
//!
//! [`Dialer::dial`] mirrors Go's `Transport.dialConn`, one layer per file:
//!
//! 1. the first hop is the proxy when the route has one, else the target;
//! 2. its name is resolved ([`resolve`]; `dns_start`/`dns_done`, skipped for IP literals; concurrent
//!    lookups of one name coalesced);
//! 3. TCP connect, Happy Eyeballs ([`happy_eyeballs`]; `connect_start`/`connect_done` per
//!    attempt, addressed to the proxy when there is one);
//! 4. HTTPS proxy: TLS to the proxy ([`tls`]; first `tls_handshake_start`/`done` pair, SNI = proxy
//!    host, ALPN `http/1.1`);
//! 5. https target through an http(s) proxy: CONNECT tunnel ([`proxy`]; **no hooks**); SOCKS5 proxy
//!    (any target scheme): SOCKS handshake ([`socks`]; no hooks for the handshake; with
//!    `socks5://` the client resolves the target name first, **with** DNS hooks (Go has no such
//!    mode: its `socks5` behaves like `socks5h`), with `socks5h://` the proxy resolves it);
//! 6. https target: TLS to the target (second pair when the proxy is HTTPS; SNI = target host).
//!
//! Plain http through an http(s) proxy gets no tunnel: the h1 layer sends absolute-form requests
//! to the proxy ([`crate::route::Route::uses_forward_proxy`]).
//!
//! Errors: DNS and TCP failures keep `Kind::Dns`/`Kind::Connect` even when they concern the proxy
//! (the address in the message says which); the CONNECT and SOCKS exchanges fail with
//! `Kind::Proxy`; TLS with `Kind::Tls`; timeouts with `TimeoutKind::Connect` (DNS + TCP, and the
//! proxy exchange) or `TimeoutKind::TlsHandshake`.
//!
//! Hooks run on the task polling [`Dialer::dial`]. Every `*_start` hook is paired with exactly one
//! `*_done`, even when the dial future is dropped midway (drop guards report a cancellation
//! error), so a dial the pool lets outlive a cancelled request reports normally, and one that is
//! dropped reports its cancellation.

// Items used only once the pool is wired to the dialer, or only by tests.

pub(crate) mod happy_eyeballs;
// Without the `proxy` feature the client builds no proxy and the dial has no proxy step: the
// tunnel code is unreachable (left in the source for the types it shares, left out of the
// program by the linker).
#[cfg_attr(not(feature = "proxy"), allow(dead_code))]
pub(crate) mod proxy;
pub(crate) mod resolve;
#[cfg(feature = "proxy")]
pub(crate) mod socks;
pub(crate) mod tls;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

#[cfg(feature = "proxy")]
use crate::deadline::Deadline;
use crate::error::Error;
#[cfg(feature = "proxy")]
use crate::error::TimeoutKind;
use crate::error::{msg, Kind};
#[cfg(feature = "proxy")]
use crate::route::{ProxyScheme, ProxyTarget};
use crate::route::{Route, Scheme};
use crate::stream::Stream;
use crate::trace::{TlsState, Tracer};

/// A dial step's future, boxed: built in a short frame of its own and polled through a
/// vtable, so that the async functions awaiting it keep small frames and one copy of its code
/// (see [`Dialer::dial`] and `Dialer::via_proxy`).
pub(crate) type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

pub(crate) use happy_eyeballs::{ConnectConfig, SystemConnect, TcpConnect, DEFAULT_FALLBACK_DELAY};
pub(crate) use proxy::{basic_auth, ProxyConfig};
#[cfg(feature = "proxy")]
pub(crate) use proxy::{parse_proxy_url, proxy_from_env};
pub(crate) use resolve::{parse_ip_literal, Coalescing};
/// The public resolver API, re-exported by `lib.rs` as `httptrace::dns`.
pub use resolve::{HostsResolver, Resolve, Resolving, StaticResolver, SystemResolver};
pub(crate) use tls::{Alpn, TlsConnector, TlsOptions};

/// Go's `DefaultTransport` dialer timeout.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Go's CONNECT timeout when the request has no deadline.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const DEFAULT_PROXY_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// How the client dials.
pub(crate) struct DialConfig {
    /// The name resolver (wrapped in the coalescing layer by [`Dialer::new`]).
    pub(crate) resolver: Arc<dyn Resolve>,
    /// Bound on DNS + TCP connect of one dial (Go's `Dialer.Timeout`, which covers resolution);
    /// default 30 s.
    pub(crate) connect_timeout: Option<Duration>,
    /// Happy Eyeballs fallback delay; default 300 ms; `None` disables the race.
    pub(crate) fallback_delay: Option<Duration>,
    /// The client's TLS configuration (its `TlsOptions::handshake_timeout` bounds each handshake).
    pub(crate) tls: Arc<TlsConnector>,
    /// Bound on the CONNECT or SOCKS exchange with a proxy; default 60 s.
    pub(crate) proxy_connect_timeout: Duration,
    /// `User-Agent` sent on CONNECT requests (Go sends its default UA there); `None` = no header.
    #[cfg_attr(not(feature = "proxy"), allow(dead_code))]
    pub(crate) proxy_user_agent: Option<String>,
}

impl DialConfig {
    /// Go's `DefaultTransport` settings with the system resolver.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn new(tls: Arc<TlsConnector>) -> DialConfig {
        DialConfig {
            resolver: Arc::new(SystemResolver),
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            fallback_delay: Some(DEFAULT_FALLBACK_DELAY),
            tls,
            proxy_connect_timeout: DEFAULT_PROXY_CONNECT_TIMEOUT,
            proxy_user_agent: None,
        }
    }
}

/// Which protocols the target's TLS handshake offers by ALPN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AlpnMode {
    /// `["http/1.1"]`.
    Http1Only,
    /// `["h2", "http/1.1"]`.
    H2AndHttp1,
    /// `["h2"]`, and the server must select it (HTTP/2 with prior knowledge): the dial fails
    /// with a TLS error when it selects nothing (another protocol fails the handshake).
    H2Only,
}

/// A dialed connection.
pub(crate) struct Dialed {
    /// The stream to speak HTTP on: TCP, TLS to the target, TLS to the proxy (http target via an
    /// HTTPS proxy), or TLS inside TLS.
    pub(crate) stream: Stream,
    /// The TCP peer: the target, or the proxy when there is one.
    pub(crate) remote_addr: SocketAddr,
    /// The local end of the TCP socket.
    pub(crate) local_addr: Option<SocketAddr>,
    /// TLS with the target (https targets only).
    pub(crate) tls: Option<Arc<TlsState>>,
    /// TLS with an HTTPS proxy. Go reports the *last* handshake as the connection's TLS state,
    /// so for Go parity use `tls.or(proxy_tls)`.
    pub(crate) proxy_tls: Option<Arc<TlsState>>,
    /// The target selected `h2` by ALPN.
    pub(crate) negotiated_h2: bool,
}

impl fmt::Debug for Dialed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialed")
            .field("remote_addr", &self.remote_addr)
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls)
            .field("proxy_tls", &self.proxy_tls)
            .field("negotiated_h2", &self.negotiated_h2)
            .finish_non_exhaustive()
    }
}

/// Dials new connections for a client. One per client; cheap to share behind an `Arc`.
pub(crate) struct Dialer {
    cfg: DialConfig,
    dns: Coalescing,
    connector: Arc<dyn TcpConnect>,
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialer")
            .field("connect_timeout", &self.cfg.connect_timeout)
            .field("fallback_delay", &self.cfg.fallback_delay)
            .field("proxy_connect_timeout", &self.cfg.proxy_connect_timeout)
            .finish_non_exhaustive()
    }
}

impl Dialer {
    /// A dialer with the given configuration.
    /// Build the TLS configuration now (see [`crate::Client::prepare_tls`]).
    pub(crate) fn prepare_tls(&self) -> Result<(), Error> {
        self.cfg.tls.prepare()
    }

    pub(crate) fn new(cfg: DialConfig) -> Dialer {
        Dialer::with_connector(cfg, Arc::new(SystemConnect))
    }

    /// A dialer whose TCP connects go through `connector` (a test seam).
    pub(crate) fn with_connector(cfg: DialConfig, connector: Arc<dyn TcpConnect>) -> Dialer {
        Dialer {
            dns: Coalescing::new(cfg.resolver.clone()),
            cfg,
            connector,
        }
    }

    /// Dial `route`, firing the DNS, connect and TLS hooks on `tracer` (see the module docs).
    pub(crate) fn dial<'a>(
        &'a self,
        route: &'a Route,
        alpn: AlpnMode,
        tracer: &'a Tracer,
    ) -> Boxed<'a, Dialed> {
        // Boxed: the dial (DNS, Happy Eyeballs, proxies, TLS) is awaited by the HTTP/1.1 dial
        // task and by the HTTP/2 dial. Awaited directly, rustc gave each caller's codegen unit
        // its own copy of the whole dial's machine code, and of the code that drops it
        // half-way (six copies of the TLS handshake's); behind the box both exist once. A dial
        // costs tens of thousands of instructions and a system call or more a step: one
        // allocation is nothing beside it.
        Box::pin(self.dial_inner(route, alpn, tracer))
    }

    async fn dial_inner(
        &self,
        route: &Route,
        alpn: AlpnMode,
        tracer: &Tracer,
    ) -> Result<Dialed, Error> {
        let deadline = self
            .cfg
            .connect_timeout
            .and_then(crate::deadline::deadline_after);
        // The handshake's timer, registered beside the connect's (see `EarlyTimer`).
        let tls_timer = if route.scheme == Scheme::Https {
            self.cfg.tls.early_timer()
        } else {
            None
        };
        let (hop_host, hop_port) = match &route.proxy {
            Some(p) => (&*p.host, p.port),
            None => (&*route.host, route.port),
        };
        let (tcp, remote_addr) = self
            .connect_tcp(hop_host, hop_port, deadline, tracer)
            .await?;
        let local_addr = tcp.local_addr().ok();
        let mut stream = Stream::Tcp(tcp);
        #[cfg_attr(not(feature = "proxy"), allow(unused_mut))]
        let mut proxy_tls = None;
        // Without the `proxy` feature no route has a proxy (the client builds none), and
        // leaving this step out leaves the proxy handshakes out of the program.
        #[cfg(not(feature = "proxy"))]
        debug_assert!(
            route.proxy.is_none(),
            "a proxied route without the proxy feature"
        );
        #[cfg(feature = "proxy")]
        if let Some(p) = &route.proxy {
            (stream, proxy_tls) = self.via_proxy(stream, route, p, deadline, tracer).await?;
        }

        let mut tls = None;
        if route.scheme == Scheme::Https {
            let offer = match alpn {
                AlpnMode::Http1Only => Alpn::Http1,
                AlpnMode::H2AndHttp1 => Alpn::H2AndHttp1,
                AlpnMode::H2Only => Alpn::H2,
            };
            let (s, st) = self
                .cfg
                .tls
                .handshake_on(stream, &route.host, offer, tls_timer, tracer)
                .await?;
            stream = s;
            tls = Some(st);
        }
        let negotiated_h2 = tls
            .as_ref()
            .is_some_and(|t| t.alpn.as_deref() == Some("h2"));
        if let (AlpnMode::H2Only, Some(st)) = (alpn, &tls) {
            if !negotiated_h2 {
                // Prior knowledge over TLS means "ALPN h2 only": a server that did not agree
                // to h2 may not understand the HTTP/2 preface, so none is sent.
                return Err(Error::with(
                    Kind::Tls,
                    msg(format!(
                        "HTTP/2 prior knowledge: the server selected {} by ALPN, not h2",
                        match st.alpn.as_deref() {
                            Some(p) => format!("{p:?}"),
                            None => "no protocol".to_owned(),
                        }
                    )),
                ));
            }
        }
        Ok(Dialed {
            stream,
            remote_addr,
            local_addr,
            tls,
            proxy_tls,
            negotiated_h2,
        })
    }

    /// Through the proxy `p`, on `stream` connected to it: its TLS handshake (an HTTPS proxy),
    /// then the tunnel to the route's target (CONNECT, for an HTTPS target) or the SOCKS5
    /// handshake. Returns the stream to speak to the target on, and the proxy's TLS state.
    ///
    /// Boxed, as is the TLS handshake ([`TlsConnector::handshake`]): awaited in place, the
    /// proxy handshakes took 4.7 KB of [`dial_inner`](Self::dial_inner)'s frame, for every
    /// dial, and that frame is on the stack under the TLS handshake's deepest calls. Not
    /// inlined: the boxed future is built in this function's frame.
    #[inline(never)]
    #[cfg(feature = "proxy")]
    fn via_proxy<'a>(
        &'a self,
        stream: Stream,
        route: &'a Route,
        p: &'a ProxyTarget,
        deadline: Option<Instant>,
        tracer: &'a Tracer,
    ) -> Boxed<'a, (Stream, Option<Arc<TlsState>>)> {
        Box::pin(async move {
            let mut stream = stream;
            let mut proxy_tls = None;
            match p.scheme {
                ProxyScheme::Http | ProxyScheme::Https => {
                    if p.scheme == ProxyScheme::Https {
                        let (s, st) = self
                            .cfg
                            .tls
                            .handshake(stream, &p.host, Alpn::Http1, tracer)
                            .await?;
                        stream = s;
                        proxy_tls = Some(st);
                    }
                    if route.scheme == Scheme::Https {
                        let target = route.target_host_port();
                        let fut = proxy::connect_tunnel(
                            stream,
                            &target,
                            p.auth.as_ref(),
                            self.cfg.proxy_user_agent.as_deref(),
                        );
                        stream = self.bounded(fut, "CONNECT").await?;
                    }
                }
                ProxyScheme::Socks5 | ProxyScheme::Socks5h => {
                    let local = if p.scheme == ProxyScheme::Socks5
                        && parse_ip_literal(&route.host).is_none()
                    {
                        let addrs = self.dns.lookup_until(&route.host, deadline, tracer).await?;
                        addrs.first().copied()
                    } else {
                        None
                    };
                    let fut = socks::socks5_connect(
                        stream,
                        &route.host,
                        route.port,
                        local,
                        p.auth.as_ref(),
                    );
                    stream = self.bounded(fut, "SOCKS5 handshake").await?;
                }
            }
            Ok((stream, proxy_tls))
        })
    }

    /// Resolve (unless an IP literal) and connect to `host:port`.
    ///
    /// Not boxed, unlike the TLS and proxy handshakes: [`dial_inner`](Self::dial_inner)'s
    /// frame, which is on the stack under the TLS handshake's deepest calls, is 1.6 KB with
    /// this step awaited in place (9.9 KB with every step in place; 0.4 KB with this one boxed
    /// too), and one more short-lived box per dial measured +100 KB of heap at the end of 32
    /// concurrent TLS dials (glibc left the freed boxes between the connections' buffers).
    async fn connect_tcp(
        &self,
        host: &str,
        port: u16,
        deadline: Option<Instant>,
        tracer: &Tracer,
    ) -> Result<(TcpStream, SocketAddr), Error> {
        let addrs = match parse_ip_literal(host) {
            Some(ip) => vec![ip],
            None => self.dns.lookup_until(host, deadline, tracer).await?,
        };
        let cfg = ConnectConfig {
            deadline,
            fallback_delay: self.cfg.fallback_delay,
        };
        happy_eyeballs::connect_with(&*self.connector, &addrs, port, &cfg, tracer).await
    }

    #[cfg(feature = "proxy")]
    async fn bounded<F>(&self, fut: F, what: &str) -> Result<Stream, Error>
    where
        F: std::future::Future<Output = Result<Stream, Error>>,
    {
        let t = self.cfg.proxy_connect_timeout;
        match Deadline::new(fut, crate::deadline::deadline_after(t)).await {
            Some(r) => r,
            None => Err(Error::with(
                Kind::Timeout(TimeoutKind::Connect),
                msg(format!("proxy {what} timed out after {t:?}")),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
