//! End-to-end tests of [`Dialer::dial`] against in-process peers on loopback.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
#[cfg(feature = "proxy")]
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};

use super::resolve::HostsResolver;
#[cfg(feature = "proxy")]
use super::socks::test_server::socks_server;
use super::tls::test_certs::{pki, server_config, tls_server, TestPki};
use super::*;
use crate::dial::proxy::parse_proxy_url;
#[cfg(feature = "proxy")]
use crate::error::TimeoutKind;
use crate::route::ProxyTarget;
use crate::trace::ClientTrace;

type Log = Arc<Mutex<Vec<String>>>;

fn recorder() -> (Tracer, Log) {
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let l = |log: &Log| log.clone();
    let (a, b, c, d, e, f) = (l(&log), l(&log), l(&log), l(&log), l(&log), l(&log));
    let trace = ClientTrace::new()
        .on_dns_start(move |i| a.lock().unwrap().push(format!("dns_start {}", i.host)))
        .on_dns_done(move |i| {
            b.lock().unwrap().push(match &i.err {
                None => format!("dns_done {:?} coalesced={}", i.addrs, i.coalesced),
                Some(e) => format!("dns_done err {e}"),
            })
        })
        .on_connect_start(move |n, addr| {
            c.lock().unwrap().push(format!("connect_start {n} {addr}"))
        })
        .on_connect_done(move |n, addr, err| {
            d.lock().unwrap().push(match err {
                None => format!("connect_done {n} {addr} ok"),
                Some(_) => format!("connect_done {n} {addr} err"),
            })
        })
        .on_tls_handshake_start(move || e.lock().unwrap().push("tls_start".into()))
        .on_tls_handshake_done(move |s, err| {
            f.lock().unwrap().push(match err {
                None => format!(
                    "tls_done sni={} alpn={}",
                    s.server_name.as_deref().unwrap_or("-"),
                    s.alpn.as_deref().unwrap_or("-")
                ),
                Some(_) => "tls_done err".to_string(),
            })
        });
    (Tracer::new(Some(trace)), log)
}

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

struct Env {
    pki: TestPki,
    dialer: Dialer,
}

fn env_with(names: &[&str], hosts: &str, insecure: bool) -> Env {
    let pki = pki(names);
    let tls = TlsConnector::new(&TlsOptions {
        use_native_roots: false,
        extra_roots_der: vec![pki.ca_der.clone()],
        insecure,
        ..TlsOptions::default()
    })
    .unwrap();
    let mut cfg = DialConfig::new(Arc::new(tls));
    cfg.resolver = Arc::new(HostsResolver::from_contents(hosts));
    Env {
        pki,
        dialer: Dialer::new(cfg),
    }
}

fn env() -> Env {
    env_with(
        &["localhost", "127.0.0.1"],
        "127.0.0.1 localhost target.test proxy.test\n",
        false,
    )
}

fn route(scheme: Scheme, host: &str, port: u16, proxy: Option<&str>) -> Route {
    Route {
        scheme,
        host: host.into(),
        port,
        proxy: proxy.map(|p| parse_proxy_url(p).unwrap()),
        authority_is_host_port: false,
    }
}

async fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    a
}

async fn ping(s: &mut Stream) {
    s.write_all(b"ping").await.unwrap();
    let mut b = [0u8; 4];
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"ping");
}

async fn hello(s: &mut Stream) {
    let mut b = [0u8; 5];
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"hello");
}

#[cfg(feature = "proxy")]
/// A CONNECT proxy (optionally TLS-terminating) that relays to the requested target; records
/// request heads; answers `refuse` instead when given.
async fn connect_proxy(
    tls: Option<Arc<rustls::ServerConfig>>,
    refuse: Option<&'static str>,
) -> (SocketAddr, Log) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let heads: Log = Arc::default();
    let heads2 = heads.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let heads = heads2.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => relay(s, heads, refuse).await,
                    Some(cfg) => {
                        if let Ok(t) = tokio_rustls::TlsAcceptor::from(cfg).accept(s).await {
                            relay(t, heads, refuse).await
                        }
                    }
                }
            });
        }
    });
    (addr, heads)
}

#[cfg(feature = "proxy")]
async fn relay<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, heads: Log, refuse: Option<&str>) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b).await {
            Ok(1) => head.push(b[0]),
            _ => return,
        }
    }
    let head = String::from_utf8(head).unwrap();
    heads.lock().unwrap().push(head.clone());
    if let Some(r) = refuse {
        let _ = s.write_all(r.as_bytes()).await;
        return;
    }
    let target = head.split(' ').nth(1).unwrap().to_string();
    let (h, p) = target.rsplit_once(':').unwrap();
    let h = h.trim_start_matches('[').trim_end_matches(']');
    let host = if h == "localhost" || h.ends_with(".test") {
        "127.0.0.1"
    } else {
        h
    };
    let Ok(mut up) = TcpStream::connect((host, p.parse::<u16>().unwrap())).await else {
        let _ = s.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    let _ = s
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await;
    let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
}

#[tokio::test]
async fn plain_ip_literal_skips_dns() {
    let e = env();
    let echo = echo_server().await;
    let (t, log) = recorder();
    let mut d = e
        .dialer
        .dial(
            &route(Scheme::Http, "127.0.0.1", echo.port(), None),
            AlpnMode::H2AndHttp1,
            &t,
        )
        .await
        .unwrap();
    ping(&mut d.stream).await;
    assert_eq!(d.remote_addr, echo);
    assert_eq!(d.local_addr.unwrap().ip(), echo.ip());
    assert!(d.tls.is_none() && d.proxy_tls.is_none() && !d.negotiated_h2);
    assert_eq!(
        take(&log),
        vec![
            format!("connect_start tcp {echo}"),
            format!("connect_done tcp {echo} ok")
        ]
    );
}

#[tokio::test]
async fn plain_name_fires_dns_then_connect() {
    let e = env();
    let echo = echo_server().await;
    let (t, log) = recorder();
    let mut d = e
        .dialer
        .dial(
            &route(Scheme::Http, "target.test", echo.port(), None),
            AlpnMode::Http1Only,
            &t,
        )
        .await
        .unwrap();
    ping(&mut d.stream).await;
    assert_eq!(
        take(&log),
        vec![
            "dns_start target.test".to_string(),
            "dns_done [127.0.0.1] coalesced=false".to_string(),
            format!("connect_start tcp {echo}"),
            format!("connect_done tcp {echo} ok"),
        ]
    );
}

#[tokio::test]
async fn dns_failure_fires_nothing_else() {
    let e = env();
    let (t, log) = recorder();
    let err = e
        .dialer
        .dial(
            &route(Scheme::Https, "nonexistent.example", 443, None),
            AlpnMode::H2AndHttp1,
            &t,
        )
        .await
        .unwrap_err();
    assert!(err.is_dns() && err.is_connect());
    assert!(
        err.to_string()
            .contains("lookup nonexistent.example: no such host"),
        "{err}"
    );
    let log = take(&log);
    assert_eq!(log.len(), 2);
    assert_eq!(log[0], "dns_start nonexistent.example");
    assert!(
        log[1].starts_with("dns_done err DNS lookup failed"),
        "{}",
        log[1]
    );
}

#[tokio::test]
async fn connection_refused() {
    let e = env();
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let (t, log) = recorder();
    let err = e
        .dialer
        .dial(
            &route(Scheme::Http, "127.0.0.1", port, None),
            AlpnMode::H2AndHttp1,
            &t,
        )
        .await
        .unwrap_err();
    assert!(err.is_connect() && !err.is_dns() && !err.is_proxy());
    assert!(
        err.to_string()
            .contains(&format!("connect 127.0.0.1:{port}: ")),
        "{err}"
    );
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn https_direct_h2_and_sni() {
    let e = env();
    let srv = tls_server("127.0.0.1:0", server_config(&e.pki, &[b"h2", b"http/1.1"])).await;
    let (t, log) = recorder();
    let mut d = e
        .dialer
        .dial(
            &route(Scheme::Https, "localhost", srv.port(), None),
            AlpnMode::H2AndHttp1,
            &t,
        )
        .await
        .unwrap();
    hello(&mut d.stream).await;
    assert!(d.negotiated_h2);
    let st = d.tls.clone().unwrap();
    assert_eq!(st.server_name.as_deref(), Some("localhost"));
    assert_eq!(
        take(&log),
        vec![
            "dns_start localhost".to_string(),
            "dns_done [127.0.0.1] coalesced=false".to_string(),
            format!("connect_start tcp {srv}"),
            format!("connect_done tcp {srv} ok"),
            "tls_start".to_string(),
            "tls_done sni=localhost alpn=h2".to_string(),
        ]
    );

    // --http1.1 offers only http/1.1; IP literal: no SNI.
    let d = e
        .dialer
        .dial(
            &route(Scheme::Https, "127.0.0.1", srv.port(), None),
            AlpnMode::Http1Only,
            &t,
        )
        .await
        .unwrap();
    assert!(!d.negotiated_h2);
    let l = take(&log);
    assert_eq!(l.last().unwrap(), "tls_done sni=- alpn=http/1.1");
    assert_eq!(l.len(), 4);
}

#[tokio::test]
async fn tls_verify_failure() {
    let e = env_with(&["example.com"], "127.0.0.1 localhost\n", false);
    let srv = tls_server("127.0.0.1:0", server_config(&e.pki, &[])).await;
    let (t, log) = recorder();
    let err = e
        .dialer
        .dial(
            &route(Scheme::Https, "localhost", srv.port(), None),
            AlpnMode::H2AndHttp1,
            &t,
        )
        .await
        .unwrap_err();
    assert!(err.is_tls());
    assert!(
        err.to_string().contains("not valid for name \"localhost\""),
        "{err}"
    );
    let l = take(&log);
    assert_eq!(&l[4..], ["tls_start", "tls_done err"]);
}

#[cfg(feature = "proxy")]
#[tokio::test]
async fn https_through_http_connect_proxy() {
    let e = env();
    let srv = tls_server("127.0.0.1:0", server_config(&e.pki, &[b"h2", b"http/1.1"])).await;
    let (proxy, heads) = connect_proxy(None, None).await;
    let (t, log) = recorder();
    let r = route(
        Scheme::Https,
        "localhost",
        srv.port(),
        Some(&format!("http://user:p%40ss@127.0.0.1:{}", proxy.port())),
    );
    let mut d = e.dialer.dial(&r, AlpnMode::H2AndHttp1, &t).await.unwrap();
    hello(&mut d.stream).await;
    assert_eq!(d.remote_addr, proxy);
    assert!(d.negotiated_h2 && d.proxy_tls.is_none());
    // No DNS: the proxy is an IP literal and the target name is resolved by the proxy.
    assert_eq!(
        take(&log),
        vec![
            format!("connect_start tcp {proxy}"),
            format!("connect_done tcp {proxy} ok"),
            "tls_start".to_string(),
            "tls_done sni=localhost alpn=h2".to_string(),
        ]
    );
    let head = heads.lock().unwrap()[0].clone();
    assert_eq!(
        head,
        format!(
            "CONNECT localhost:{p} HTTP/1.1\r\nHost: localhost:{p}\r\nProxy-Authorization: {}\r\n\r\n",
            proxy::basic_auth("user", "p@ss"),
            p = srv.port()
        )
    );
}

#[cfg(feature = "proxy")]
#[tokio::test]
async fn https_through_https_proxy_two_tls_pairs() {
    let e = env();
    let srv = tls_server("127.0.0.1:0", server_config(&e.pki, &[b"h2", b"http/1.1"])).await;
    // The proxy's certificate covers "localhost" and selects http/1.1 if offered.
    let (proxy, _) = connect_proxy(Some(server_config(&e.pki, &[b"http/1.1"])), None).await;
    let (t, log) = recorder();
    let r = route(
        Scheme::Https,
        "target.test",
        srv.port(),
        Some(&format!("https://localhost:{}", proxy.port())),
    );
    // The target's certificate is for localhost/127.0.0.1, not target.test: use 127.0.0.1.
    let r = Route {
        host: "127.0.0.1".into(),
        ..r
    };
    let mut d = e.dialer.dial(&r, AlpnMode::H2AndHttp1, &t).await.unwrap();
    hello(&mut d.stream).await;
    assert!(d.negotiated_h2);
    assert_eq!(
        d.proxy_tls.as_ref().unwrap().alpn.as_deref(),
        Some("http/1.1")
    );
    assert_eq!(d.tls.as_ref().unwrap().server_name, None);
    assert_eq!(
        take(&log),
        vec![
            "dns_start localhost".to_string(),
            "dns_done [127.0.0.1] coalesced=false".to_string(),
            format!("connect_start tcp {proxy}"),
            format!("connect_done tcp {proxy} ok"),
            "tls_start".to_string(),
            "tls_done sni=localhost alpn=http/1.1".to_string(),
            "tls_start".to_string(),
            "tls_done sni=- alpn=h2".to_string(),
        ]
    );
}

#[cfg(feature = "proxy")]
#[tokio::test]
async fn http_through_https_proxy_has_no_tunnel() {
    let e = env();
    let (proxy, heads) = connect_proxy(Some(server_config(&e.pki, &[b"http/1.1"])), None).await;
    let (t, log) = recorder();
    let r = route(
        Scheme::Http,
        "example.com",
        80,
        Some(&format!("https://127.0.0.1:{}", proxy.port())),
    );
    let mut d = e.dialer.dial(&r, AlpnMode::H2AndHttp1, &t).await.unwrap();
    assert!(d.tls.is_none() && d.proxy_tls.is_some() && !d.negotiated_h2);
    assert!(r.uses_forward_proxy());
    // We talk to the proxy directly: it sees our bytes as its request head.
    d.stream
        .write_all(b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(heads.lock().unwrap()[0].starts_with("GET http://example.com/"));
    assert_eq!(take(&log).len(), 4);
}

#[cfg(feature = "proxy")]
#[tokio::test]
async fn proxy_refusal_fires_no_tls() {
    let e = env();
    let (proxy, _) = connect_proxy(None, Some("HTTP/1.1 403 Forbidden\r\n\r\n")).await;
    let (t, log) = recorder();
    let r = route(
        Scheme::Https,
        "localhost",
        443,
        Some(&format!("127.0.0.1:{}", proxy.port())),
    );
    let err = e
        .dialer
        .dial(&r, AlpnMode::H2AndHttp1, &t)
        .await
        .unwrap_err();
    assert_eq!(err.proxy_status(), Some(http::StatusCode::FORBIDDEN));
    assert_eq!(take(&log).len(), 2, "connect pair only");
}

#[cfg(feature = "proxy")]
#[tokio::test]
async fn proxy_connect_timeout() {
    let pki_env = env();
    // A proxy that accepts and never answers.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = l.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut v = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            v.push(s);
        }
    });
    let mut cfg = DialConfig::new(pki_env.dialer.cfg.tls.clone());
    cfg.proxy_connect_timeout = Duration::from_millis(100);
    let dialer = Dialer::new(cfg);
    let r = route(
        Scheme::Https,
        "localhost",
        443,
        Some(&format!("http://{proxy}")),
    );
    let err = dialer
        .dial(&r, AlpnMode::H2AndHttp1, &Tracer::none())
        .await
        .unwrap_err();
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Connect));
    assert!(err.to_string().contains("CONNECT timed out"), "{err}");
    hold.abort();
}

#[cfg(feature = "proxy")]
#[tokio::test]
async fn socks5h_and_socks5() {
    let e = env();
    let srv = tls_server("127.0.0.1:0", server_config(&e.pki, &[b"h2", b"http/1.1"])).await;
    let (proxy, seen) = socks_server(None, None).await;

    // socks5h: no DNS at all (proxy is an IP literal, target resolved by the proxy).
    let (t, log) = recorder();
    let r = route(
        Scheme::Https,
        "localhost",
        srv.port(),
        Some(&format!("socks5h://{proxy}")),
    );
    let mut d = e.dialer.dial(&r, AlpnMode::H2AndHttp1, &t).await.unwrap();
    hello(&mut d.stream).await;
    assert_eq!(
        take(&log),
        vec![
            format!("connect_start tcp {proxy}"),
            format!("connect_done tcp {proxy} ok"),
            "tls_start".to_string(),
            "tls_done sni=localhost alpn=h2".to_string(),
        ]
    );

    // socks5: the target name is resolved locally, with DNS hooks, after the proxy connect.
    let r = route(
        Scheme::Https,
        "localhost",
        srv.port(),
        Some(&format!("socks5://{proxy}")),
    );
    let mut d = e.dialer.dial(&r, AlpnMode::Http1Only, &t).await.unwrap();
    hello(&mut d.stream).await;
    assert_eq!(
        take(&log),
        vec![
            format!("connect_start tcp {proxy}"),
            format!("connect_done tcp {proxy} ok"),
            "dns_start localhost".to_string(),
            "dns_done [127.0.0.1] coalesced=false".to_string(),
            "tls_start".to_string(),
            "tls_done sni=localhost alpn=http/1.1".to_string(),
        ]
    );
    // Plain http through SOCKS: tunnel, no TLS.
    let echo = echo_server().await;
    let r = route(
        Scheme::Http,
        "target.test",
        echo.port(),
        Some(&format!("socks5h://{proxy}")),
    );
    let mut d = e.dialer.dial(&r, AlpnMode::H2AndHttp1, &t).await.unwrap();
    ping(&mut d.stream).await;
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            format!("domain localhost:{}", srv.port()),
            format!("ip {srv}"),
            format!("domain target.test:{}", echo.port()),
        ]
    );
}

#[tokio::test]
async fn concurrent_dials_coalesce_dns() {
    struct SlowHosts(HostsResolver);
    impl Resolve for SlowHosts {
        fn resolve(&self, host: &str) -> resolve::Resolving {
            let f = self.0.resolve(host);
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                f.await
            })
        }
    }
    let e = env();
    let mut cfg = DialConfig::new(e.dialer.cfg.tls.clone());
    cfg.resolver = Arc::new(SlowHosts(HostsResolver::from_contents(
        "127.0.0.1 target.test",
    )));
    let dialer = Dialer::new(cfg);
    let echo = echo_server().await;
    let r = route(Scheme::Http, "target.test", echo.port(), None);
    let (t1, l1) = recorder();
    let (t2, l2) = recorder();
    let (a, b) = tokio::join!(
        dialer.dial(&r, AlpnMode::H2AndHttp1, &t1),
        dialer.dial(&r, AlpnMode::H2AndHttp1, &t2)
    );
    a.unwrap();
    b.unwrap();
    for l in [l1, l2] {
        assert_eq!(take(&l)[1], "dns_done [127.0.0.1] coalesced=true");
    }
}

#[tokio::test]
async fn dropped_dial_pairs_tls_hooks() {
    // A TLS "server" that never answers; the dial is dropped mid-handshake.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut v = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            v.push(s);
        }
    });
    let e = env();
    let (t, log) = recorder();
    let r = route(Scheme::Https, "127.0.0.1", a.port(), None);
    let res = tokio::time::timeout(
        Duration::from_millis(100),
        e.dialer.dial(&r, AlpnMode::H2AndHttp1, &t),
    )
    .await;
    assert!(res.is_err());
    assert_eq!(&take(&log)[2..], ["tls_start", "tls_done err"]);
    hold.abort();
}

#[test]
fn dial_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_sync<T: Send + Sync>() {}
    assert_sync::<Dialer>();
    let tls = TlsConnector::new(&TlsOptions {
        use_native_roots: false,
        ..TlsOptions::default()
    })
    .unwrap();
    let d = Dialer::new(DialConfig::new(Arc::new(tls)));
    let r = route(Scheme::Https, "localhost", 443, None);
    let t = Tracer::none();
    let f = d.dial(&r, AlpnMode::H2AndHttp1, &t);
    assert_send(&f);
    let _unused: Option<Arc<ProxyTarget>> = None;
}
