//! Proxies: Go's scenarios (d) (HTTPS through CONNECT) and (e) (plain HTTP through a forward
//! proxy), proxy credentials, CONNECT refusals, SOCKS5 (`socks5://`, `socks5h://`) and an HTTPS
//! proxy (the peers' HTTP proxy behind a TLS front written here).
//!
//! Proxies from the environment are not tested here (that would mutate the process env); the
//! dial module's unit tests cover `proxy_from_vars`.
#![cfg(feature = "proxy")]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use httptrace::dns::HostsResolver;
use httptrace::{Client, Protocol};
use httptrace_peers::{Proxy, ProxyConfig, Server, TestCa};
use support::{
    base64, bounded, builder, builder_trusting, creds, fresh_tcp_h1, fresh_tls_h1, fresh_tls_h2,
    get, hello_server, http_proxy, proxied_client, reused_h1, seq, socks5_proxy, strs, tls_server,
    within, Recorder, ALPN_H1, ALPN_H2, ALPN_NONE, EXCHANGE, PUT_IDLE, TCP_DIAL, TLS_PAIR,
};

/// A client through `proxy` (a URL) whose resolver knows only the names in `hosts`.
fn client_resolving(proxy: &str, hosts: &str) -> Client {
    Client::builder()
        .proxy(proxy)
        .resolver(HostsResolver::from_contents(hosts))
        .build()
        .unwrap()
}

/// Scenario (e).
#[tokio::test]
async fn forward_proxy_plain_http_hooks_and_absolute_form() {
    bounded(async {
        let srv = hello_server().await;
        let proxy = http_proxy(None).await;
        let c = proxied_client(&proxy.url());
        let rec = Recorder::new();
        let resp = c
            .get(&srv.url("/x?y=1"))
            .trace(rec.trace())
            .send()
            .await
            .expect("GET");
        let info = resp.body().conn_info().cloned().unwrap();
        let body = resp.into_body().bytes().await.unwrap();
        assert_eq!(&body[..], b"Hello, world!");
        let pa = proxy.addr();
        assert_eq!(rec.go_names(), fresh_tcp_h1(), "{}", rec.dump());
        let ev = rec.go_events();
        assert_eq!(
            ev[0],
            format!("get_conn {pa}"),
            "get_conn reports the proxy"
        );
        assert_eq!(ev[1], format!("connect_start tcp {pa}"));
        assert!(ev.contains(&"got_conn reused=false was_idle=false".to_string()));
        let origin = format!("127.0.0.1:{}", srv.port());
        assert_eq!(rec.fields()[0], ("Host".to_string(), vec![origin.clone()]));
        assert_eq!(rec.field("Proxy-Authorization"), None);
        assert_eq!(
            proxy.requests_seen(),
            vec![format!("GET http://{origin}/x?y=1 HTTP/1.1")]
        );
        let seen = srv.requests();
        assert_eq!(seen[0].target, "/x?y=1");
        assert_eq!(seen[0].header("host"), Some(origin.as_str()));
        assert_eq!(info.remote_addr, pa);
        assert!(info.proxy.is_some());
        assert!(info.tls.is_none());
    })
    .await;
}

/// Scenario (e) with credentials: `Proxy-Authorization` is reported by the hook (in clear
/// text, last, as Go's sorted extra headers put it), reaches the proxy, never the origin.
#[tokio::test]
async fn forward_proxy_credentials_reported_and_sent_to_proxy_only() {
    bounded(async {
        let srv = hello_server().await;
        let proxy = http_proxy(creds("user", "pass")).await;
        let c = proxied_client(&proxy.url_with_auth("user", "pass"));
        let (res, rec) = get(&c, &srv.url("/")).await;
        assert_eq!(res.expect("GET").0, 200, "{}", rec.dump());
        let want = format!("Basic {}", base64(b"user:pass"));
        assert_eq!(want, "Basic dXNlcjpwYXNz");
        assert_eq!(rec.field("Proxy-Authorization"), Some(vec![want.clone()]));
        let names = rec.field_names();
        assert_eq!(
            names.last().map(String::as_str),
            Some("Proxy-Authorization"),
            "{names:?}"
        );
        assert_eq!(rec.count("wrote_header_field Proxy-Authorization"), 1);
        let preq = &proxy.requests()[0];
        assert_eq!(
            preq.headers
                .get("proxy-authorization")
                .and_then(|v| v.to_str().ok()),
            Some(want.as_str())
        );
        assert!(srv.requests()[0]
            .headers
            .get("proxy-authorization")
            .is_none());
        // No 407 round: exactly one request reached the proxy.
        assert_eq!(proxy.requests_seen().len(), 1);
    })
    .await;
}

/// Scenario (e) point 4: the pool key omits the target for http through a proxy.
#[tokio::test]
async fn forward_proxy_connection_reused_for_another_origin() {
    bounded(async {
        let a = hello_server().await;
        let b = hello_server().await;
        let proxy = http_proxy(None).await;
        let c = proxied_client(&proxy.url());
        let (r1, rec1) = get(&c, &a.url("/")).await;
        assert_eq!(r1.unwrap().0, 200);
        assert_eq!(rec1.count("put_idle_conn nil"), 1, "{}", rec1.dump());
        let (r2, rec2) = get(&c, &b.url("/")).await;
        assert_eq!(r2.unwrap().0, 200);
        assert_eq!(rec2.go_names(), reused_h1(), "{}", rec2.dump());
        assert_eq!(rec2.go_events()[0], format!("get_conn {}", proxy.addr()));
        assert!(rec2.has("got_conn reused=true was_idle=true"));
        assert_eq!(rec2.fields()[0].1, vec![format!("127.0.0.1:{}", b.port())]);
        assert_eq!(proxy.connections_accepted(), 1);
        assert_eq!(a.requests_served(), 1);
        assert_eq!(b.requests_served(), 1);
    })
    .await;
}

/// Two clients on one thread, one through a proxy and one direct, alternating on one URL: each
/// request goes its own client's way (the route a thread remembers is per client).
#[tokio::test]
async fn clients_with_and_without_a_proxy_alternate_on_one_url() {
    bounded(async {
        let srv = hello_server().await;
        let proxy = http_proxy(None).await;
        let via = proxied_client(&proxy.url());
        let direct = Client::builder().no_proxy().build().unwrap();
        let url = srv.url("/same");
        for round in 0..2 {
            for (c, want, name) in [
                (&direct, srv.addr(), "direct"),
                (&via, proxy.addr(), "proxied"),
            ] {
                let resp = c.get(&url).send().await.expect("GET");
                let remote = resp.body().conn_info().map(|i| i.remote_addr);
                assert_eq!(remote, Some(want), "round {round}, {name}");
                resp.into_body().bytes().await.unwrap();
            }
        }
        assert_eq!(proxy.requests_seen().len(), 2);
        assert_eq!(srv.requests_served(), 4);
    })
    .await;
}

/// Scenario (d), HTTP/1.1 inside the tunnel.
#[tokio::test]
async fn connect_tunnel_https_h1_hooks() {
    bounded(async {
        let (ca, srv, _) = tls_server(Server::hello(), ALPN_H1).await;
        let proxy = http_proxy(creds("user", "pass")).await;
        let c = builder_trusting(&ca)
            .proxy(&proxy.url_with_auth("user", "pass"))
            .http1_only()
            .build()
            .unwrap();
        let rec = Recorder::new();
        let resp = c
            .get(&srv.url("/in"))
            .trace(rec.trace())
            .send()
            .await
            .expect("GET");
        let info = resp.body().conn_info().cloned().unwrap();
        assert_eq!(resp.into_body().bytes().await.unwrap().len(), 13);
        let pa = proxy.addr();
        assert_eq!(rec.go_names(), fresh_tls_h1(), "{}", rec.dump());
        assert_eq!(rec.go_events()[0], format!("get_conn {pa}"));
        assert_eq!(rec.go_events()[1], format!("connect_start tcp {pa}"));
        let origin = format!("127.0.0.1:{}", srv.port());
        assert_eq!(rec.fields()[0], ("Host".to_string(), vec![origin.clone()]));
        assert_eq!(
            rec.field("Proxy-Authorization"),
            None,
            "credentials go in the CONNECT"
        );
        let (st, _) = &rec.tls()[0];
        assert_eq!(st.alpn.as_deref(), Some("http/1.1"));
        assert_eq!(st.server_name, None);
        let preqs = proxy.requests();
        assert_eq!(preqs.len(), 1);
        assert_eq!(preqs[0].line, format!("CONNECT {origin} HTTP/1.1"));
        assert!(preqs[0].headers.get("proxy-authorization").is_some());
        assert_eq!(srv.requests()[0].target, "/in");
        assert!(srv.requests()[0].tls);
        assert_eq!(info.remote_addr, pa);
        assert!(info.tls.is_some());
        // Reuse of the tunnelled connection.
        let (r2, rec2) = get(&c, &srv.url("/in")).await;
        assert_eq!(r2.unwrap().0, 200);
        assert!(rec2.has("got_conn reused=true was_idle=true"));
        assert_eq!(rec2.go_events()[0], format!("get_conn {pa}"));
        assert_eq!(proxy.tunnels_opened(), 1);
    })
    .await;
}

/// Scenario (d) with the default client (HTTP/2 enabled) and an origin that only speaks
/// http/1.1: Go's first GetConn comes from the h1 path and names the proxy.
#[tokio::test]
async fn connect_tunnel_default_client_h1_origin_get_conn_is_proxy() {
    bounded(async {
        let (ca, srv, _) = tls_server(Server::hello(), ALPN_H1).await;
        let proxy = http_proxy(None).await;
        let c = builder_trusting(&ca).proxy(&proxy.url()).build().unwrap();
        let (res, rec) = get(&c, &srv.url("/")).await;
        assert_eq!(res.expect("GET").0, 200, "{}", rec.dump());
        assert_eq!(rec.count("tls_handshake_done nil"), 1);
        assert!(rec.pos("tls_handshake_start").unwrap() > rec.pos("connect_done").unwrap());
        assert_eq!(
            rec.go_events()[0],
            format!("get_conn {}", proxy.addr()),
            "Go: GetConn(proxy host:port) for https through CONNECT\n  {}",
            rec.dump()
        );
    })
    .await;
}

/// Scenario (d) with h2 in the tunnel: first GetConn names the proxy (Go's h1 path fires it),
/// later ones the target (Go's h2 pool); one TLS pair after the CONNECT.
#[tokio::test]
async fn connect_tunnel_h2_get_conn_proxy_then_target() {
    bounded(async {
        let (ca, srv, _) = tls_server(Server::hello(), ALPN_H2).await;
        let proxy = http_proxy(None).await;
        let c = builder_trusting(&ca).proxy(&proxy.url()).build().unwrap();
        let (res, rec) = get(&c, &srv.url("/")).await;
        assert_eq!(res.expect("GET").0, 200, "{}", rec.dump());
        let pa = proxy.addr();
        let origin = format!("127.0.0.1:{}", srv.port());
        // Everything but the get_conn value.
        assert_eq!(rec.go_names(), fresh_tls_h2(), "{}", rec.dump());
        assert_eq!(rec.go_events()[1], format!("connect_start tcp {pa}"));
        assert_eq!(rec.tls()[0].0.alpn.as_deref(), Some("h2"));
        assert_eq!(
            rec.fields()[0],
            (":authority".to_string(), vec![origin.clone()])
        );
        assert_eq!(rec.got_conns()[0].conn.protocol, Protocol::Http2);
        let (r2, rec2) = get(&c, &srv.url("/")).await;
        assert_eq!(r2.unwrap().0, 200);
        assert_eq!(
            rec2.go_events()[0],
            format!("get_conn {origin}"),
            "{}",
            rec2.dump()
        );
        assert!(rec2.has("got_conn reused=true was_idle=true"));
        assert_eq!(proxy.tunnels_opened(), 1);
        // Go parity, checked last: the first GetConn is the proxy's address.
        assert_eq!(
            rec.go_events()[0],
            format!("get_conn {pa}"),
            "Go: first GetConn(proxy) from the h1 path\n  {}",
            rec.dump()
        );
    })
    .await;
}

/// Scenario (d) point 7: CONNECT refused; no TLS hooks, no GotConn.
#[tokio::test]
async fn connect_refused_407_is_proxy_error() {
    bounded(async {
        let (ca, srv, _) = tls_server(Server::hello(), ALPN_NONE).await;
        let proxy = http_proxy(creds("user", "pass")).await;
        let c = builder_trusting(&ca).proxy(&proxy.url()).build().unwrap();
        let (res, rec) = get(&c, &srv.url("/")).await;
        let err = res.expect_err("407");
        assert!(err.is_proxy(), "{err:?}");
        assert_eq!(err.proxy_status().map(|s| s.as_u16()), Some(407), "{err:?}");
        assert_eq!(rec.go_names(), strs(TCP_DIAL), "{}", rec.dump());
        assert_eq!(rec.count("connect_done"), 1);
        assert_eq!(rec.count_prefix("connect_done tcp 127.0.0.1:"), 1);
        assert_eq!(rec.count_prefix("tls_"), 0);
        assert_eq!(rec.count("got_conn"), 0);
        assert_eq!(srv.connections_accepted(), 0);
    })
    .await;
}

#[tokio::test]
async fn connect_refused_403_status() {
    bounded(async {
        let (ca, srv, _) = tls_server(Server::hello(), ALPN_NONE).await;
        let proxy = Proxy::start(ProxyConfig {
            connect_status: Some(403),
            ..ProxyConfig::default()
        })
        .await
        .unwrap();
        let c = builder_trusting(&ca)
            .proxy(&proxy.url())
            .http1_only()
            .build()
            .unwrap();
        let (res, rec) = get(&c, &srv.url("/")).await;
        let err = res.expect_err("403");
        assert!(err.is_proxy() && err.is_connect(), "{err:?}");
        assert_eq!(err.proxy_status().map(|s| s.as_u16()), Some(403));
        assert_eq!(
            rec.count_prefix("tls_") + rec.count("got_conn"),
            0,
            "{}",
            rec.dump()
        );
    })
    .await;
}

#[tokio::test]
async fn socks5_http_no_auth() {
    bounded(async {
        let srv = hello_server().await;
        let socks = socks5_proxy(None).await;
        let c = proxied_client(&socks.url());
        let (res, rec) = get(&c, &srv.url("/s")).await;
        assert_eq!(res.expect("GET via socks5").0, 200, "{}", rec.dump());
        let sa = socks.addr();
        assert_eq!(rec.go_names(), fresh_tcp_h1(), "{}", rec.dump());
        assert_eq!(rec.go_events()[0], format!("get_conn {sa}"));
        assert_eq!(rec.go_events()[1], format!("connect_start tcp {sa}"));
        let origin = format!("127.0.0.1:{}", srv.port());
        assert_eq!(socks.targets(), vec![origin.clone()]);
        assert_eq!(socks.requests()[0].address_type, 1);
        assert_eq!(socks.requests()[0].username, None);
        assert_eq!(srv.requests()[0].target, "/s", "origin-form through SOCKS");
        assert_eq!(rec.fields()[0].1, vec![origin]);
        // Reuse.
        let (r2, rec2) = get(&c, &srv.url("/s")).await;
        assert_eq!(r2.unwrap().0, 200);
        assert!(rec2.has("got_conn reused=true was_idle=true"));
        assert_eq!(socks.connections_accepted(), 1);
    })
    .await;
}

#[tokio::test]
async fn socks5_https_with_username_password() {
    bounded(async {
        let (ca, srv, _) = tls_server(Server::hello(), ALPN_H2).await;
        let socks = socks5_proxy(creds("u", "p")).await;
        let url = format!("socks5://u:p@{}", socks.addr());
        let c = builder_trusting(&ca).proxy(&url).build().unwrap();
        let (res, rec) = get(&c, &srv.url("/")).await;
        assert_eq!(res.expect("GET via socks5 auth").0, 200, "{}", rec.dump());
        assert_eq!(socks.requests()[0].username.as_deref(), Some("u"));
        assert_eq!(socks.requests()[0].reply, 0);
        assert_eq!(rec.count("tls_handshake_done nil"), 1);
        assert!(rec.pos("tls_handshake_start").unwrap() > rec.pos("connect_done").unwrap());
        assert_eq!(
            rec.go_events()[1],
            format!("connect_start tcp {}", socks.addr())
        );
        assert_eq!(rec.tls()[0].0.alpn.as_deref(), Some("h2"));
    })
    .await;
}

#[tokio::test]
async fn socks5_wrong_password_fails() {
    bounded(async {
        let srv = hello_server().await;
        let socks = socks5_proxy(creds("u", "p")).await;
        let c = proxied_client(&format!("socks5://u:wrong@{}", socks.addr()));
        let (res, rec) = get(&c, &srv.url("/")).await;
        let err = res.expect_err("bad credentials");
        assert!(err.is_proxy(), "{err:?}");
        assert_eq!(rec.count("got_conn"), 0, "{}", rec.dump());
        assert_eq!(srv.connections_accepted(), 0);
    })
    .await;
}

/// `socks5://` with a name: the client resolves it (DNS hooks after the proxy connect; Go has
/// no such mode, its socks5 behaves like socks5h) and sends the IP to the proxy.
#[tokio::test]
async fn socks5_client_resolves_name() {
    bounded(async {
        let srv = hello_server().await;
        let socks = socks5_proxy(None).await;
        let c = client_resolving(&socks.url(), "127.0.0.1 origin.test\n");
        let url = format!("http://origin.test:{}/", srv.port());
        let (res, rec) = get(&c, &url).await;
        assert_eq!(res.expect("GET").0, 200, "{}", rec.dump());
        assert_eq!(socks.targets(), vec![format!("127.0.0.1:{}", srv.port())]);
        assert_eq!(socks.requests()[0].address_type, 1);
        assert_eq!(rec.count("dns_start host=origin.test"), 1, "{}", rec.dump());
        assert!(rec.pos("dns_start").unwrap() > rec.pos("connect_done").unwrap());
        assert_eq!(
            rec.fields()[0].1,
            vec![format!("origin.test:{}", srv.port())]
        );
    })
    .await;
}

/// `socks5h://`: the proxy resolves the name; the client does no DNS at all.
#[tokio::test]
async fn socks5h_sends_domain_name() {
    bounded(async {
        let srv = hello_server().await;
        let socks = socks5_proxy(None).await;
        // A resolver that knows nothing: any lookup of the target would fail.
        let c = client_resolving(&socks.url_h(), "");
        let url = format!("http://localhost:{}/h", srv.port());
        let (res, rec) = get(&c, &url).await;
        assert_eq!(res.expect("GET via socks5h").0, 200, "{}", rec.dump());
        assert_eq!(socks.targets(), vec![format!("localhost:{}", srv.port())]);
        assert_eq!(socks.requests()[0].address_type, 3);
        assert_eq!(rec.count_prefix("dns_"), 0, "{}", rec.dump());
        assert_eq!(rec.go_events()[0], format!("get_conn {}", socks.addr()));
    })
    .await;
}

#[tokio::test]
async fn socks5h_with_auth_https() {
    bounded(async {
        let (ca, srv, _) = tls_server(Server::hello().dual_stack(true), ALPN_NONE).await;
        let socks = socks5_proxy(creds("name", "secret")).await;
        let c = builder_trusting(&ca)
            .proxy(&format!("socks5h://name:secret@{}", socks.addr()))
            .build()
            .unwrap();
        let (res, rec) = get(&c, &srv.url_localhost("/")).await;
        assert_eq!(res.expect("GET").0, 200, "{}", rec.dump());
        assert_eq!(socks.requests()[0].username.as_deref(), Some("name"));
        assert_eq!(socks.requests()[0].address_type, 3);
        assert_eq!(rec.tls()[0].0.server_name.as_deref(), Some("localhost"));
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// HTTPS proxy: the peers' HTTP proxy behind a TLS front.
// ---------------------------------------------------------------------------------------------

struct TlsFront {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tls_front(ca: &TestCa, backend: SocketAddr) -> TlsFront {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(ca.server_config(&[b"http/1.1"]));
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let hs = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(s));
                let Ok(Ok(mut tls)) = hs.await else { return };
                let Ok(mut up) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    TlsFront { addr, task }
}

/// Go's `dialConn` with an https proxy and an https target: a TLS pair to the proxy before the
/// CONNECT, a second pair to the target after it.
#[tokio::test]
async fn https_proxy_https_target_two_tls_pairs() {
    bounded(async {
        let (ca, srv, _) = tls_server(Server::hello(), ALPN_H1).await;
        let proxy = http_proxy(None).await;
        let front = tls_front(&ca, proxy.addr()).await;
        let c = builder_trusting(&ca)
            .proxy(&format!("https://{}", front.addr))
            .http1_only()
            .build()
            .unwrap();
        let (res, rec) = get(&c, &srv.url("/")).await;
        assert_eq!(res.expect("GET via https proxy").0, 200, "{}", rec.dump());
        assert_eq!(
            rec.go_names(),
            seq(&[TCP_DIAL, TLS_PAIR, TLS_PAIR, EXCHANGE, PUT_IDLE]),
            "{}",
            rec.dump()
        );
        assert_eq!(rec.go_events()[0], format!("get_conn {}", front.addr));
        assert_eq!(proxy.tunnels_opened(), 1);
        assert_eq!(rec.tls().len(), 2);
        assert!(rec.got_conns()[0].conn.tls.is_some());
        assert_eq!(rec.fields()[0].1, vec![format!("127.0.0.1:{}", srv.port())]);
    })
    .await;
}

/// An http target via an https proxy: one TLS pair (to the proxy), absolute-form inside.
#[tokio::test]
async fn https_proxy_http_target_one_tls_pair() {
    bounded(async {
        let ca = TestCa::new();
        let srv = hello_server().await;
        let proxy = http_proxy(None).await;
        let front = tls_front(&ca, proxy.addr()).await;
        let c = builder_trusting(&ca)
            .proxy(&format!("https://{}", front.addr))
            .build()
            .unwrap();
        let (res, rec) = get(&c, &srv.url("/p")).await;
        assert_eq!(res.expect("GET via https proxy").0, 200, "{}", rec.dump());
        assert_eq!(rec.go_names(), fresh_tls_h1(), "{}", rec.dump());
        assert_eq!(
            proxy.requests_seen(),
            vec![format!("GET http://127.0.0.1:{}/p HTTP/1.1", srv.port())]
        );
        assert_eq!(rec.tls()[0].0.alpn.as_deref(), Some("http/1.1"));
    })
    .await;
}

const SECRET: &str = "S3cr3tPw";

/// A fake proxy on loopback: runs `script` on each accepted connection.
async fn fake_peer<F, Fut>(script: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let script = std::sync::Arc::new(script);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let script = script.clone();
            tokio::spawn(async move { script(s).await });
        }
    });
    addr
}

async fn read_head(s: &mut TcpStream) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b).await {
            Ok(1) => head.push(b[0]),
            _ => return,
        }
    }
}

/// A proxy URL's password appears in no builder error and not in the builder's `Debug`
/// output (which ends up in logs): the URL is shown with `***` for its credentials.
#[test]
fn proxy_password_never_in_builder_errors_or_debug() {
    let mut leaks = Vec::new();
    for url in [
        format!("http://user:{SECRET}@proxy.test:99999"),
        format!("ftp://user:{SECRET}@proxy.test:21"),
        format!("http://user:{SECRET}@[::1"),
    ] {
        let e = Client::builder().proxy(&url).build().unwrap_err();
        if e.to_string().contains(SECRET) {
            leaks.push(format!("error Display: {e}"));
        }
    }
    let b = Client::builder().proxy(&format!("http://user:{SECRET}@127.0.0.1:1"));
    let d = format!("{b:?}");
    if d.contains(SECRET) {
        leaks.push(format!("ClientBuilder Debug: {d}"));
    }
    assert!(
        leaks.is_empty(),
        "the proxy password leaks:\n{}",
        leaks.join("\n")
    );
}

/// The CONNECT answer's heads are bounded to 64 KiB in all, interim (1xx) heads included: a
/// proxy streaming 1xx heads without end fails the dial once 64 KiB have come, instead of
/// keeping the client reading until the 60 s proxy timeout.
#[tokio::test]
async fn endless_1xx_heads_to_connect_are_bounded() {
    let proxy = fake_peer(|mut s| async move {
        read_head(&mut s).await;
        let chunk = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(100);
        // Up to ~1 MiB, then hold the connection open.
        for _ in 0..400 {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_secs(120)).await;
    })
    .await;
    let c = builder().proxy(&format!("http://{proxy}")).build().unwrap();
    let r = within(
        Duration::from_secs(10),
        "a dial through a proxy streaming 1xx heads",
        c.get("https://127.0.0.1:1/").send(),
    )
    .await;
    let e = r.expect_err("no tunnel");
    assert!(e.is_proxy(), "{e:?}");
}
