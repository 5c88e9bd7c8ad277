//! TLS: the `tls_handshake_start`/`tls_handshake_done` pair (Go's `addTLS`), its state, failures
//! (scenario (k)), timeouts, resumption and the connection facts on the response.

mod support;

use std::time::Duration;

use httptrace::{Protocol, TimeoutKind, TlsVersion};
use httptrace_peers::{Server, TestCa};
use support::{
    bounded, builder, builder_trusting, client, fresh_tls_h1, get, hello_server, reused_h1, seq,
    tls_server, tls_server_for, ALPN_H1, ALPN_H2, ALPN_NONE, TCP_DIAL, TLS_PAIR,
};

/// HTTPS GET to an IP literal, server offering no ALPN: Go's scenario (c) without DNS.
#[tokio::test]
async fn https_ip_literal_no_alpn_hook_order_and_state() {
    bounded(async {
        let (_, srv, client) = tls_server(Server::hello(), ALPN_NONE).await;
        let (res, rec) = get(&client, &srv.url("/")).await;
        let (status, body) = res.expect("GET");
        assert_eq!(status, 200);
        assert_eq!(body, b"Hello, world!");
        let port = srv.port();
        assert_eq!(rec.go_names(), fresh_tls_h1(), "events:\n  {}", rec.dump());
        let ev = rec.go_events();
        assert_eq!(ev[0], format!("get_conn 127.0.0.1:{port}"));
        assert!(
            ev.contains(&"tls_handshake_done nil".to_string()),
            "{}",
            rec.dump()
        );
        assert!(ev.contains(&"got_conn reused=false was_idle=false".to_string()));
        let tls = rec.tls();
        assert_eq!(tls.len(), 1);
        let (st, err) = &tls[0];
        assert!(err.is_none());
        assert_eq!(st.version, Some(TlsVersion::Tls13));
        assert_eq!(st.server_name, None, "IP literal: no SNI");
        assert_eq!(st.alpn, None, "server offered no ALPN");
        assert!(st.cipher_suite.is_some());
        assert!(!st.peer_certificates.is_empty());
        assert!(!st.resumed);
        // HTTP/1.1 header fields (the h1 path, not the h2 one).
        assert_eq!(rec.fields()[0].0, "Host");
        let gc = &rec.got_conns()[0];
        assert_eq!(gc.conn.protocol, Protocol::Http1);
        assert!(gc.conn.tls.is_some());
    })
    .await;
}

#[tokio::test]
async fn https_alpn_h2_offered_reports_h2() {
    bounded(async {
        let (_, srv, client) = tls_server(Server::hello(), ALPN_H2).await;
        let (res, rec) = get(&client, &srv.url("/")).await;
        assert_eq!(res.expect("GET").0, 200);
        let tls = rec.tls();
        assert_eq!(tls.len(), 1, "{}", rec.dump());
        assert_eq!(tls[0].0.alpn.as_deref(), Some("h2"));
        assert_eq!(tls[0].0.version, Some(TlsVersion::Tls13));
        assert!(rec.pos("tls_handshake_done").unwrap() > rec.pos("connect_done").unwrap());
        assert!(rec.pos("tls_handshake_done").unwrap() < rec.pos("got_conn").unwrap());
    })
    .await;
}

#[tokio::test]
async fn https_alpn_http11_selected() {
    bounded(async {
        let (_, srv, client) = tls_server(Server::hello(), ALPN_H1).await;
        let (res, rec) = get(&client, &srv.url("/")).await;
        assert_eq!(res.expect("GET").0, 200);
        assert_eq!(rec.tls()[0].0.alpn.as_deref(), Some("http/1.1"));
        assert_eq!(rec.count("put_idle_conn nil"), 1, "{}", rec.dump());
    })
    .await;
}

/// Scenario (c) then (b): an HTTPS server that selects http/1.1 by ALPN; the second request
/// on the same (default, HTTP/2-capable) client must reuse the idle HTTP/1.1 connection.
#[tokio::test]
async fn https_h1_by_alpn_reuses_idle_connection() {
    bounded(async {
        let (_, srv, client) = tls_server(Server::hello(), ALPN_H1).await;
        let (res, rec1) = get(&client, &srv.url("/")).await;
        assert_eq!(res.expect("first").0, 200);
        assert_eq!(rec1.count("put_idle_conn nil"), 1, "{}", rec1.dump());
        let (res, rec2) = get(&client, &srv.url("/")).await;
        assert_eq!(res.expect("second").0, 200);
        assert_eq!(
            rec2.go_names(),
            reused_h1(),
            "second request should take the idle h1 connection (Go: GotConn reused=true \
             was_idle=true, no dial):\n  {}",
            rec2.dump()
        );
        assert!(rec2.has("got_conn reused=true was_idle=true"));
        assert_eq!(srv.connections_accepted(), 1);
    })
    .await;
}

#[tokio::test]
async fn localhost_url_sends_sni() {
    bounded(async {
        let (_, srv, client) = tls_server(Server::hello().dual_stack(true), ALPN_NONE).await;
        let (res, rec) = get(&client, &srv.url_localhost("/")).await;
        assert_eq!(res.expect("GET").0, 200, "{}", rec.dump());
        assert_eq!(
            rec.go_events()[0],
            format!("get_conn localhost:{}", srv.port())
        );
        assert_eq!(rec.go_events()[1], "dns_start host=localhost");
        let tls = rec.tls();
        assert_eq!(tls.len(), 1);
        assert_eq!(tls[0].0.server_name.as_deref(), Some("localhost"));
        assert!(rec.pos("tls_handshake_start").unwrap() > rec.pos("connect_done").unwrap());
    })
    .await;
}

/// Scenario (k): TLSHandshakeDone(empty state, err), no GotConn, the request fails.
#[tokio::test]
async fn wrong_host_certificate_fails_with_tls_error() {
    bounded(async {
        let (_, srv, client) = tls_server_for(&["example.com"], Server::hello(), ALPN_H2).await;
        let (res, rec) = get(&client, &srv.url("/")).await;
        let err = res.expect_err("must fail verification");
        assert!(err.is_tls(), "{err:?}");
        assert!(!err.is_timeout());
        assert_eq!(rec.go_names(), seq(&[TCP_DIAL, TLS_PAIR]), "{}", rec.dump());
        assert_eq!(rec.count("tls_handshake_done err"), 1);
        let (st, e) = &rec.tls()[0];
        assert!(e.as_ref().is_some_and(|e| e.is_tls()));
        assert!(st.version.is_none());
        assert!(st.alpn.is_none());
        assert!(st.cipher_suite.is_none());
        assert!(st.peer_certificates.is_empty());
        assert_eq!(rec.count("got_conn"), 0);
        assert_eq!(srv.requests_served(), 0);
    })
    .await;
}

#[tokio::test]
async fn untrusted_ca_fails_with_tls_error() {
    bounded(async {
        let (_, srv, _) = tls_server(Server::hello(), ALPN_NONE).await;
        let other = TestCa::new();
        let client = builder_trusting(&other).build().unwrap();
        let (res, rec) = get(&client, &srv.url("/")).await;
        let err = res.expect_err("untrusted CA");
        assert!(err.is_tls(), "{err:?}");
        assert_eq!(rec.count("tls_handshake_done err"), 1, "{}", rec.dump());
        assert_eq!(rec.count("got_conn"), 0);
    })
    .await;
}

#[tokio::test]
async fn danger_accept_invalid_certs_accepts_wrong_host() {
    bounded(async {
        let (_, srv, _) = tls_server_for(&["example.com"], Server::hello(), ALPN_NONE).await;
        // Trusts nothing at all, but accepts anything.
        let client = builder()
            .native_roots(false)
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let (res, rec) = get(&client, &srv.url("/")).await;
        assert_eq!(res.expect("insecure GET").0, 200, "{}", rec.dump());
        assert_eq!(rec.count("tls_handshake_done nil"), 1);
        assert!(!rec.tls()[0].0.peer_certificates.is_empty());
    })
    .await;
}

#[tokio::test]
async fn ca_file_is_trusted() {
    bounded(async {
        let (ca, srv, _) = tls_server(Server::hello(), ALPN_NONE).await;
        let dir = std::env::temp_dir().join(format!(
            "httptrace-tls-cafile-{}-{}",
            std::process::id(),
            srv_nonce()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = ca.write_ca_pem(&dir).unwrap();
        let client = builder()
            .native_roots(false)
            .ca_file(&path)
            .build()
            .unwrap();
        let (res, rec) = get(&client, &srv.url("/")).await;
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(res.expect("GET").0, 200, "{}", rec.dump());
    })
    .await;
}

/// The TLS configuration is built at the first TLS connection, or by `prepare_tls`: a root
/// webpki cannot use fails that (a builder error), not `build`, and plain HTTP works meanwhile.
#[tokio::test]
async fn unusable_root_fails_prepare_tls_and_https_not_build() {
    bounded(async {
        let (ca, srv, _) = tls_server(Server::hello(), ALPN_NONE).await;
        let plain = httptrace_peers::http1::Server::builder()
            .handler(|_req| httptrace_peers::http1::Response::hello())
            .start()
            .await
            .unwrap();
        let client = builder_trusting(&ca)
            .add_root_certificate_der(vec![0x30, 0x03, 1, 2, 3])
            .build()
            .expect("build does not parse the roots");
        let (res, rec) = get(&client, &plain.url("/")).await;
        assert_eq!(res.expect("plain GET").0, 200, "{}", rec.dump());
        let e = client.prepare_tls().unwrap_err();
        assert!(e.is_builder(), "{e}");
        let (res, rec) = get(&client, &srv.url("/")).await;
        let e = res.unwrap_err();
        assert!(e.is_builder(), "{e}");
        assert_eq!(rec.count("tls_handshake_start"), 1, "{}", rec.dump());
        assert_eq!(rec.count("tls_handshake_done"), 1, "{}", rec.dump());

        let good = builder_trusting(&ca).build().unwrap();
        good.prepare_tls().unwrap();
        good.prepare_tls().unwrap();
        let (res, rec) = get(&good, &srv.url("/")).await;
        assert_eq!(res.expect("GET").0, 200, "{}", rec.dump());
    })
    .await;
}

fn srv_nonce() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Two connections of one client (keep-alive off): the second handshake resumes the session.
#[tokio::test]
async fn second_connection_resumes_session() {
    bounded(async {
        let (ca, srv, _) = tls_server(Server::hello(), ALPN_NONE).await;
        let client = builder_trusting(&ca).keep_alive(false).build().unwrap();
        let (res, rec1) = get(&client, &srv.url("/")).await;
        assert_eq!(res.expect("first").0, 200);
        let (res, rec2) = get(&client, &srv.url("/")).await;
        assert_eq!(res.expect("second").0, 200);
        assert_eq!(srv.connections_accepted(), 2);
        assert!(!rec1.tls()[0].0.resumed);
        let st2 = &rec2.tls()[0].0;
        assert!(st2.resumed, "second handshake should resume: {st2:?}");
        // Go reports the peer chain on resumption too (it is stored in the session).
        assert_eq!(rec2.count("tls_handshake_start"), 1);
    })
    .await;
}

/// With resumption off (Go's default client has no session cache), every handshake is full.
#[tokio::test]
async fn resumption_can_be_turned_off() {
    bounded(async {
        let (ca, srv, _) = tls_server(Server::hello(), ALPN_NONE).await;
        let client = builder_trusting(&ca)
            .keep_alive(false)
            .tls_session_resumption(false)
            .build()
            .unwrap();
        for _ in 0..2 {
            let (res, rec) = get(&client, &srv.url("/")).await;
            assert_eq!(res.expect("GET").0, 200, "{}", rec.dump());
            assert!(!rec.tls()[0].0.resumed, "{:?}", rec.tls());
        }
        assert_eq!(srv.connections_accepted(), 2);
    })
    .await;
}

/// A TCP peer that accepts and never answers the ClientHello.
#[tokio::test]
async fn tls_handshake_timeout() {
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let ca = TestCa::new();
        let client = builder_trusting(&ca)
            .tls_handshake_timeout(Some(Duration::from_millis(300)))
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let (res, rec) = get(&client, &format!("https://{addr}/")).await;
        let took = started.elapsed();
        hold.abort();
        let err = res.expect_err("must time out");
        assert!(err.is_timeout(), "{err:?}");
        assert!(err.is_tls(), "{err:?}");
        assert_eq!(err.timeout_kind(), Some(TimeoutKind::TlsHandshake));
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert_eq!(rec.go_names(), seq(&[TCP_DIAL, TLS_PAIR]), "{}", rec.dump());
        assert_eq!(rec.count("tls_handshake_done err"), 1);
        let (st, e) = &rec.tls()[0];
        assert!(e.as_ref().is_some_and(|e| e.is_timeout()));
        assert!(st.version.is_none());
    })
    .await;
}

/// The handshake timeout counts from the handshake's start, not the dial's: a dial whose name
/// resolution alone outlasts the handshake timeout still gets all of it for the handshake.
/// (The handshake's timer is registered when the dial starts, with an earlier deadline, and
/// moved when the handshake starts; without the move this handshake would time out at once.)
#[tokio::test]
async fn handshake_timeout_counts_from_the_handshake_start() {
    struct Slow;
    impl httptrace::dns::Resolve for Slow {
        fn resolve(&self, _host: &str) -> httptrace::dns::Resolving {
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                Ok(vec![std::net::Ipv4Addr::LOCALHOST.into()])
            })
        }
    }
    bounded(async {
        let (ca, srv, _) = tls_server(Server::hello(), ALPN_NONE).await;
        let client = builder_trusting(&ca)
            .resolver(Slow)
            .tls_handshake_timeout(Some(Duration::from_millis(300)))
            .build()
            .unwrap();
        let (res, rec) = get(&client, &srv.url_localhost("/")).await;
        assert_eq!(res.expect("GET").0, 200, "{}", rec.dump());
        assert_eq!(rec.count("tls_handshake_done err"), 0, "{}", rec.dump());
    })
    .await;
}

#[tokio::test]
async fn response_extensions_carry_conn_info_with_tls_state() {
    bounded(async {
        let (ca, srv, client) = tls_server(Server::hello(), ALPN_H1).await;
        let resp = client.get(&srv.url("/")).send().await.expect("GET");
        let info = resp.body().conn_info().cloned().expect("ConnInfo");
        let _ = resp.into_body().bytes().await.unwrap();
        assert_eq!(info.remote_addr, srv.addr());
        assert_eq!(info.protocol, Protocol::Http1);
        assert!(info.proxy.is_none());
        let tls = info.tls.expect("TLS state");
        assert_eq!(tls.version, Some(TlsVersion::Tls13));
        assert_eq!(tls.alpn.as_deref(), Some("http/1.1"));
        // Leaf then CA, as the server sends them.
        assert_eq!(tls.peer_certificates.len(), 2);
        assert_eq!(tls.peer_certificates[0], ca.leaf().cert_der().to_vec());
    })
    .await;
}

/// Plain http on the same client reports no TLS at all.
#[tokio::test]
async fn plain_http_has_no_tls_hooks() {
    bounded(async {
        let srv = hello_server().await;
        let client = client();
        let (res, rec) = get(&client, &srv.url("/")).await;
        assert_eq!(res.unwrap().0, 200);
        assert_eq!(rec.count_prefix("tls_"), 0);
        assert!(rec.got_conns()[0].conn.tls.is_none());
    })
    .await;
}

/// A TLS server on loopback for one connection: answers one request with `ok`, then reports
/// how its next read ended (`Ok(0)` after a `close_notify`, `UnexpectedEof` on a bare EOF).
async fn close_watching_server(
    ca: &TestCa,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Receiver<std::io::Result<usize>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let acceptor = tokio_rustls::TlsAcceptor::from(ca.server_config(ALPN_H1));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tls.read(&mut buf).await.unwrap();
            assert!(n > 0, "request head");
            head.extend_from_slice(&buf[..n]);
        }
        tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await
            .unwrap();
        tls.flush().await.unwrap();
        let _ = tx.send(tls.read(&mut buf).await);
    });
    (addr, rx)
}

/// A client that keeps no idle connection closes its TLS connection after the body with a
/// `close_notify`, as Go's `tls.Conn.Close` does; so does one whose pool is dropped with the
/// client (the idle connection closes with it).
#[tokio::test]
async fn closing_a_tls_connection_sends_close_notify() {
    bounded(async {
        for keep_idle in [false, true] {
            let ca = TestCa::new();
            let (addr, ended) = close_watching_server(&ca).await;
            let mut b = builder_trusting(&ca).http1_only();
            if !keep_idle {
                b = b.max_idle_per_host(0);
            }
            let client = b.build().unwrap();
            let resp = client
                .get(&format!("https://127.0.0.1:{}/", addr.port()))
                .send()
                .await
                .expect("GET");
            assert_eq!(resp.into_body().bytes().await.unwrap(), "ok");
            if keep_idle {
                drop(client);
            }
            let r = ended.await.expect("server ended");
            assert_eq!(
                r.map_err(|e| e.kind()).ok(),
                Some(0),
                "keep_idle={keep_idle}: a clean TLS close"
            );
        }
    })
    .await;
}

/// A client dropped after its runtime is gone, holding an idle TLS connection, closes it
/// without panicking (the close_notify write needs no runtime).
#[test]
fn a_client_outliving_its_runtime_drops_cleanly() {
    let ca = TestCa::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt.block_on(async {
        let (addr, _ended) = close_watching_server(&ca).await;
        let client = builder_trusting(&ca).http1_only().build().unwrap();
        let resp = client
            .get(&format!("https://127.0.0.1:{}/", addr.port()))
            .send()
            .await
            .expect("GET");
        assert_eq!(resp.into_body().bytes().await.unwrap(), "ok");
        client
    });
    drop(rt);
    drop(client);
}
