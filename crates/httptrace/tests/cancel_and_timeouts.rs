//! Timeouts and cancellation over HTTP/1.1 and HTTP/2: every timeout fires with its kind (and
//! `Duration::MAX` means no limit), the idle timeout closes idle connections (HTTP/1.1, by a
//! timer) and is obeyed by HTTP/2, and a request dropped or timed out at any stage leaks no
//! slot and reports the connection it closes. Each test states the rule it checks.

mod support;

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use httptrace::dns::{Resolve, Resolving};
use httptrace::TimeoutKind;
use httptrace_peers::http1::{Response, Server};
use httptrace_peers::{Script, ScriptedPeer};
use support::{bounded, builder_trusting, get_traced, guard, ok_response, Recorder};

const MS: fn(u64) -> Duration = Duration::from_millis;

/// Run `f` on its own task so that a panic inside the client shows up as a clean assertion.
async fn no_panic<T: Send + 'static>(
    what: &str,
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    match guard(tokio::spawn(f)).await {
        Ok(v) => v,
        Err(e) if e.is_panic() => {
            let p = e.into_panic();
            let m = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{what}: the client panicked: {m}")
        }
        Err(e) => panic!("{what}: {e}"),
    }
}

/// A resolver that never answers.
struct Hanging(Arc<AtomicUsize>);

impl Resolve for Hanging {
    fn resolve(&self, _host: &str) -> Resolving {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::pending::<std::io::Result<Vec<IpAddr>>>())
    }
}

// ---------------------------------------------------------------------------------------------
// Very large timeouts: `Some(Duration::MAX)` must mean "as good as none", not a panic.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn whole_request_timeout_of_duration_max_does_not_panic() {
    let srv = support::hello_server().await;
    let client = support::builder()
        .timeout(Some(Duration::MAX))
        .build()
        .unwrap();
    let url = srv.url("/");
    let r = no_panic("timeout(Duration::MAX)", async move {
        let resp = client.get(&url).send().await?;
        resp.into_body().bytes().await
    })
    .await;
    assert_eq!(&r.expect("request succeeds")[..], b"Hello, world!");
}

#[tokio::test]
async fn connect_timeout_of_duration_max_does_not_fail_the_request() {
    let srv = support::hello_server().await;
    let client = support::builder()
        .connect_timeout(Some(Duration::MAX))
        .build()
        .unwrap();
    let url = srv.url("/");
    let r = no_panic("connect_timeout(Duration::MAX)", async move {
        let resp = client.get(&url).send().await?;
        resp.into_body().bytes().await
    })
    .await;
    assert_eq!(&r.expect("request succeeds")[..], b"Hello, world!");
}

#[tokio::test]
async fn tls_handshake_timeout_of_duration_max_does_not_fail_the_request() {
    bounded(async {
        // HTTP/1.1 over TLS (dial on its own task) and HTTP/2 (dial inline).
        for alpn in [support::ALPN_H1, support::ALPN_H2] {
            let (ca, srv, _) = support::tls_server(Server::hello(), alpn).await;
            let client = builder_trusting(&ca)
                .tls_handshake_timeout(Some(Duration::MAX))
                .build()
                .unwrap();
            let url = srv.url("/");
            let r = no_panic("tls_handshake_timeout(Duration::MAX)", async move {
                let resp = client.get(&url).send().await?;
                resp.into_body().bytes().await
            })
            .await;
            assert_eq!(&r.expect("request succeeds")[..], b"Hello, world!");
        }
    })
    .await;
}

#[tokio::test]
async fn other_duration_max_timeouts_work() {
    let srv = support::hello_server().await;
    let client = support::builder()
        .response_header_timeout(Some(Duration::MAX))
        .expect_continue_timeout(Duration::MAX)
        .idle_timeout(Some(Duration::MAX))
        .build()
        .unwrap();
    let url = srv.url("/");
    let r = no_panic("other Duration::MAX timeouts", async move {
        for _ in 0..2 {
            let resp = client.get(&url).send().await?;
            resp.into_body().bytes().await?;
        }
        Ok::<_, httptrace::Error>(())
    })
    .await;
    r.expect("requests succeed");
}

// ---------------------------------------------------------------------------------------------
// Timeouts fire, with the right kind.
// ---------------------------------------------------------------------------------------------

/// A TLS server that accepts the TCP connection and never answers the ClientHello.
#[tokio::test]
async fn tls_handshake_timeout_fires_h1_and_auto() {
    bounded(async {
        for h1_only in [true, false] {
            let peer = ScriptedPeer::start(vec![Script::new().hold()])
                .await
                .unwrap();
            let mut b = support::builder().tls_handshake_timeout(Some(MS(200)));
            if h1_only {
                b = b.http1_only();
            }
            let client = b.build().unwrap();
            let rec = Recorder::new();
            let url = format!("https://127.0.0.1:{}/", peer.port());
            let err = guard(client.get(&url).trace(rec.trace()).send())
                .await
                .expect_err("stalled handshake");
            assert_eq!(
                err.timeout_kind(),
                Some(TimeoutKind::TlsHandshake),
                "h1_only={h1_only}: {err:?}\n{}",
                rec.dump()
            );
            assert!(err.is_tls() && err.is_timeout(), "{err:?}");
            assert!(rec.has("tls_handshake_done err"), "{}", rec.dump());
        }
    })
    .await;
}

/// The connect timeout covers name resolution (Go's Dialer.Timeout).
#[tokio::test]
async fn connect_timeout_bounds_a_hanging_lookup() {
    let calls = Arc::new(AtomicUsize::new(0));
    let client = support::builder()
        .resolver(Hanging(calls.clone()))
        .connect_timeout(Some(MS(200)))
        .build()
        .unwrap();
    let err = guard(client.get("http://never.test:1/").send())
        .await
        .expect_err("lookup hangs");
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Connect), "{err:?}");
    assert!(err.is_connect(), "{err:?}");
}

/// The whole-request timeout bounds a body that stalls after the head (HTTP/1.1).
#[tokio::test]
async fn whole_request_timeout_bounds_a_stalled_h1_body() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
        .hold()])
    .await
    .unwrap();
    let client = support::builder().timeout(Some(MS(300))).build().unwrap();
    let rec = Recorder::new();
    let resp = guard(client.get(&peer.url("/")).trace(rec.trace()).send())
        .await
        .expect("head in time");
    let err = guard(resp.into_body().bytes())
        .await
        .expect_err("the body stalls");
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Request), "{err:?}");
    assert!(
        rec.has("response_body_done bytes=5 err=err outcome=Closed"),
        "{}",
        rec.dump()
    );
    assert!(peer.wait_finished(0, Duration::from_secs(5)).await);
}

/// The whole-request timeout bounds a body that stalls after the head (HTTP/2).
#[tokio::test]
async fn whole_request_timeout_bounds_a_stalled_h2_body() {
    bounded(async {
        let (ca, srv, _) = support::h2_server(Server::builder().handler(|_| {
            Response::new(200).chunked(
                vec![Bytes::from_static(b"hello"), Bytes::from_static(b"world")],
                Duration::from_secs(30),
            )
        }))
        .await;
        let client = builder_trusting(&ca)
            .timeout(Some(MS(500)))
            .build()
            .unwrap();
        let rec = Recorder::new();
        let resp = guard(client.get(&srv.url("/")).trace(rec.trace()).send())
            .await
            .expect("head in time");
        assert_eq!(resp.version(), http::Version::HTTP_2);
        let err = guard(resp.into_body().bytes())
            .await
            .expect_err("the body stalls");
        assert_eq!(err.timeout_kind(), Some(TimeoutKind::Request), "{err:?}");
    })
    .await;
}

/// Response header timeout over HTTP/2.
#[tokio::test]
async fn response_header_timeout_fires_over_h2() {
    bounded(async {
        let (ca, srv, _) = support::h2_server(
            Server::builder().handler(|_| Response::hello().delay(Duration::from_secs(30))),
        )
        .await;
        let client = builder_trusting(&ca)
            .response_header_timeout(Some(MS(200)))
            .build()
            .unwrap();
        let err = guard(client.get(&srv.url("/")).send())
            .await
            .expect_err("no head");
        assert_eq!(
            err.timeout_kind(),
            Some(TimeoutKind::ResponseHeader),
            "{err:?}"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Idle timeout
// ---------------------------------------------------------------------------------------------

/// HTTP/1.1: a connection idle longer than the idle timeout is not reused.
#[tokio::test]
async fn idle_timeout_h1_is_honoured() {
    let srv = support::hello_server().await;
    let client = support::builder()
        .idle_timeout(Some(MS(100)))
        .build()
        .unwrap();
    let (r, _) = support::get(&client, &srv.url("/")).await;
    r.unwrap();
    tokio::time::sleep(MS(300)).await;
    let (r, rec) = support::get(&client, &srv.url("/")).await;
    r.unwrap();
    assert!(
        rec.has("got_conn reused=false was_idle=false"),
        "{}",
        rec.dump()
    );
    assert_eq!(srv.connections_accepted(), 2);
}

/// HTTP/2: `idle_timeout` ("Idle connections older than this are closed instead of reused";
/// Go: IdleConnTimeout, "h2 uses it too") must apply to an HTTP/2 connection with no stream.
#[tokio::test]
async fn idle_timeout_h2_is_honoured() {
    bounded(async {
        let (ca, srv, _) = support::h2_server(Server::hello()).await;
        let client = builder_trusting(&ca)
            .idle_timeout(Some(MS(100)))
            .build()
            .unwrap();
        let (r, _) = support::get(&client, &srv.url("/")).await;
        r.unwrap();
        tokio::time::sleep(MS(400)).await;
        let (r, rec) = support::get(&client, &srv.url("/")).await;
        r.unwrap();
        assert!(
            rec.has("got_conn reused=false was_idle=false"),
            "an HTTP/2 connection idle for 400 ms was reused under a 100 ms idle timeout:\n  {}",
            rec.dump()
        );
        assert_eq!(srv.connections_accepted(), 2);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Cancellation: no leaked slot, no half-read pooled connection.
// ---------------------------------------------------------------------------------------------

/// Dropped while waiting for the response head under max_conns_per_host(1): the slot is freed.
#[tokio::test]
async fn drop_while_waiting_for_head_frees_the_slot() {
    let peer = ScriptedPeer::start(vec![
        Script::new().read_head().hold(),
        Script::new().read_head().write(ok_response("good")).hold(),
    ])
    .await
    .unwrap();
    let client = support::builder()
        .max_conns_per_host(Some(1))
        .build()
        .unwrap();
    let r = tokio::time::timeout(MS(200), client.get(&peer.url("/")).send()).await;
    assert!(r.is_err());
    let rec = Recorder::new();
    let (_, body) = get_traced(&client, &peer.url("/"), &rec)
        .await
        .expect("the slot is free again");
    assert_eq!(&body[..], b"good");
}

/// Dropped while waiting for a slot: the holder's connection still goes to the next request.
#[tokio::test]
async fn drop_while_waiting_for_a_slot_leaks_nothing() {
    let srv = Server::builder()
        .handler(|_| Response::hello().delay(MS(300)))
        .start()
        .await
        .unwrap();
    let client = support::builder()
        .max_conns_per_host(Some(1))
        .build()
        .unwrap();
    let url = srv.url("/");
    guard(async {
        let holder = async {
            let r = client.get(&url).send().await.unwrap();
            r.into_body().bytes().await.unwrap()
        };
        let waiter_rec = Recorder::new();
        let waiter = async {
            tokio::time::sleep(MS(50)).await;
            let f = client.get(&url).trace(waiter_rec.trace()).send();
            assert!(tokio::time::timeout(MS(100), f).await.is_err());
        };
        tokio::join!(holder, waiter);
        assert_eq!(
            waiter_rec.count("pool_wait_start"),
            1,
            "{}",
            waiter_rec.dump()
        );
        assert_eq!(
            waiter_rec.count("pool_wait_done"),
            1,
            "{}",
            waiter_rec.dump()
        );
    })
    .await;
    let (r, rec) = support::get(&client, &url).await;
    r.unwrap();
    assert!(
        rec.has("got_conn reused=true was_idle=true"),
        "{}",
        rec.dump()
    );
}

/// The whole-request timeout firing during a slot wait: a timeout error, pool_wait_done
/// fired, and the slot not leaked (a later request on the same client succeeds).
#[tokio::test]
async fn whole_request_timeout_while_waiting_for_a_slot() {
    let peer = ScriptedPeer::start(vec![
        Script::new()
            .read_head()
            .write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
            .hold(),
        Script::new().read_head().write(ok_response("good")).hold(),
    ])
    .await
    .unwrap();
    let timed = support::builder()
        .max_conns_per_host(Some(1))
        .timeout(Some(MS(150)))
        .build()
        .unwrap();
    // The holder keeps its (unpolled) body, and so the only connection slot.
    let holder = guard(timed.get(&peer.url("/")).send()).await.unwrap();
    let rec = Recorder::new();
    let e = guard(timed.get(&peer.url("/")).trace(rec.trace()).send())
        .await
        .expect_err("times out waiting");
    assert_eq!(e.timeout_kind(), Some(TimeoutKind::Request), "{e:?}");
    assert_eq!(rec.count("pool_wait_start"), 1, "{}", rec.dump());
    assert_eq!(rec.count("pool_wait_done"), 1, "{}", rec.dump());
    drop(holder);
    let (r, rec2) = support::get(&timed, &peer.url("/")).await;
    assert_eq!(
        r.as_ref().map(|x| &x.1[..]).ok(),
        Some(&b"good"[..]),
        "{r:?}\n  {}",
        rec2.dump()
    );
}

/// Dropping the body mid-way under max_conns_per_host(1): the next request gets its own
/// response on a new connection (no leftover bytes) and is not blocked by a leaked slot.
#[tokio::test]
async fn drop_body_mid_way_frees_slot_and_pools_nothing() {
    let peer = ScriptedPeer::start(vec![
        Script::new()
            .read_head()
            .write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
            .sleep(MS(300))
            .write("world")
            .hold(),
        Script::new().read_head().write(ok_response("good")).hold(),
    ])
    .await
    .unwrap();
    let client = support::builder()
        .max_conns_per_host(Some(1))
        .build()
        .unwrap();
    let rec = Recorder::new();
    let resp = guard(client.get(&peer.url("/")).trace(rec.trace()).send())
        .await
        .unwrap();
    let mut body = resp.into_body();
    let first = guard(body.chunk()).await.unwrap().unwrap();
    assert_eq!(&first[..], b"hello");
    drop(body);
    assert!(rec.has("conn_closed reason=BodyDropped"), "{}", rec.dump());
    assert!(
        rec.has("response_body_done bytes=5 err=err outcome=Closed"),
        "{}",
        rec.dump()
    );
    tokio::time::sleep(MS(400)).await;
    let r2 = Recorder::new();
    let (_, b) = get_traced(&client, &peer.url("/"), &r2).await.unwrap();
    assert_eq!(&b[..], b"good");
}

/// The whole-request timeout while waiting for the head: the connection this request used is
/// closed, and `conn_closed` ("an HTTP/1.1 connection this request used ... was closed, with
/// the reason") reports it, as it does for every other way such a connection is closed.
#[tokio::test]
async fn whole_request_timeout_reports_the_closed_connection() {
    let peer = ScriptedPeer::start(vec![Script::new().read_head().hold()])
        .await
        .unwrap();
    let client = support::builder().timeout(Some(MS(200))).build().unwrap();
    let rec = Recorder::new();
    let err = guard(client.get(&peer.url("/")).trace(rec.trace()).send())
        .await
        .expect_err("stalled");
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Request));
    assert!(peer.wait_finished(0, Duration::from_secs(5)).await);
    assert_eq!(
        rec.count("conn_closed"),
        1,
        "the timed-out connection was closed without conn_closed:\n  {}",
        rec.dump()
    );
}

/// A zero whole-request timeout ends at once (a timeout, or a success when the timer's
/// millisecond granularity lets an exchange finish first): no panic, no hang, no leaked slot.
#[tokio::test]
async fn zero_whole_request_timeout() {
    let srv = support::hello_server().await;
    let client = support::builder()
        .timeout(Some(Duration::ZERO))
        .max_conns_per_host(Some(1))
        .build()
        .unwrap();
    for _ in 0..3 {
        match guard(client.get(&srv.url("/")).send()).await {
            Err(e) => assert_eq!(e.timeout_kind(), Some(TimeoutKind::Request), "{e:?}"),
            Ok(r) => {
                let _ = guard(r.into_body().bytes()).await;
            }
        }
    }
}

/// HTTP/1.1: Go closes an idle connection when its idle timer fires (`closeConnIfStillIdle`,
/// "h1 timer per idle conn"); a connection idle past the timeout must not stay open until some
/// later request for the same host happens to look at it.
#[tokio::test]
async fn idle_timeout_h1_closes_the_idle_socket() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write(ok_response("good"))
        .hold()])
    .await
    .unwrap();
    let client = support::builder()
        .idle_timeout(Some(MS(100)))
        .build()
        .unwrap();
    let rec = Recorder::new();
    let (_, b) = get_traced(&client, &peer.url("/"), &rec).await.unwrap();
    assert_eq!(&b[..], b"good");
    assert!(rec.has("put_idle_conn nil"), "{}", rec.dump());
    assert!(
        peer.wait_finished(0, Duration::from_secs(2)).await,
        "the connection idle past its 100 ms idle timeout is still open after 2 s"
    );
}

/// A resolver answering 127.0.0.1 after a delay.
struct Slow(Duration);

impl Resolve for Slow {
    fn resolve(&self, _host: &str) -> Resolving {
        let d = self.0;
        Box::pin(async move {
            tokio::time::sleep(d).await;
            Ok(vec![IpAddr::from([127, 0, 0, 1])])
        })
    }
}

/// Dropped during DNS under max_conns_per_host(1): the dial goes on and its connection serves
/// the next request; no slot is leaked.
#[tokio::test]
async fn drop_during_dns_leaks_no_slot() {
    let srv = support::hello_server().await;
    let client = support::builder()
        .resolver(Slow(MS(200)))
        .max_conns_per_host(Some(1))
        .build()
        .unwrap();
    let url = format!("http://slow.test:{}/", srv.port());
    assert!(tokio::time::timeout(MS(50), client.get(&url).send())
        .await
        .is_err());
    let (r, rec) = support::get(&client, &url).await;
    assert!(r.is_ok(), "{r:?}\n  {}", rec.dump());
    let (r, rec) = support::get(&client, &url).await;
    assert!(r.is_ok(), "{r:?}\n  {}", rec.dump());
    assert_eq!(srv.connections_accepted(), 1);
}

/// HTTP/2: dropped while waiting for the head; the shared connection keeps serving, and the
/// stream's slot accounting does not keep it busy.
#[tokio::test]
async fn h2_drop_while_waiting_for_head_then_reuse() {
    bounded(async {
        let (ca, srv, _) = support::h2_server(Server::builder().handler(|req| {
            if req.path() == "/slow" {
                Response::hello().delay(Duration::from_secs(30))
            } else {
                Response::hello()
            }
        }))
        .await;
        let client = builder_trusting(&ca)
            .max_conns_per_host(Some(1))
            .build()
            .unwrap();
        let (r, _) = support::get(&client, &srv.url("/fast")).await;
        r.unwrap();
        let slow_rec = Recorder::new();
        assert!(tokio::time::timeout(
            MS(200),
            client.get(&srv.url("/slow")).trace(slow_rec.trace()).send()
        )
        .await
        .is_err());
        let (r, rec) = support::get(&client, &srv.url("/fast")).await;
        assert!(r.is_ok(), "{r:?}\n  {}", rec.dump());
        assert!(
            rec.has("got_conn reused=true was_idle=true"),
            "{}",
            rec.dump()
        );
        assert_eq!(srv.connections_accepted(), 1);
    })
    .await;
}

/// HTTP/2: a server that never sends 100 Continue: the body goes after the expect timeout.
#[tokio::test]
async fn h2_expect_continue_timeout_releases_the_body() {
    bounded(async {
        let (ca, srv, _) = support::h2_server(
            Server::builder().continue_policy(httptrace_peers::http1::ContinuePolicy::Never),
        )
        .await;
        let client = builder_trusting(&ca)
            .expect_continue_timeout(MS(200))
            .build()
            .unwrap();
        let rec = Recorder::new();
        let resp = support::post_expecting_continue(&client, &srv.url("/"), vec![7u8; 4096], &rec)
            .await
            .expect("answered");
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert_eq!(resp.status(), 200);
        guard(resp.into_body().bytes()).await.unwrap();
        assert!(rec.has("wait_100_continue"), "{}", rec.dump());
        assert!(rec.has("wrote_request nil"), "{}", rec.dump());
    })
    .await;
}

/// Dropping the request future while it waits for the head (HTTP/1.1): the connection it used
/// is closed; `conn_closed` reports it.
#[tokio::test]
async fn drop_while_waiting_for_head_reports_conn_closed() {
    let peer = ScriptedPeer::start(vec![Script::new().read_head().hold()])
        .await
        .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let fut = client.get(&peer.url("/")).trace(rec.trace()).send();
    assert!(tokio::time::timeout(MS(200), fut).await.is_err());
    assert!(peer.wait_finished(0, Duration::from_secs(5)).await);
    assert_eq!(rec.count("conn_closed"), 1, "{}", rec.dump());
}

/// The whole-request timeout firing mid-upload (the server stopped reading): `wrote_request`
/// ("writing the request ended, successfully or with info.err ... once per attempt") must
/// report the abandoned write, as Go's write loop reports the error of the closed connection.
#[tokio::test]
async fn whole_request_timeout_mid_upload_fires_wrote_request() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .sleep(Duration::from_secs(5))])
    .await
    .unwrap();
    let client = support::builder().timeout(Some(MS(300))).build().unwrap();
    let rec = Recorder::new();
    let err = guard(
        client
            .post(&peer.url("/"))
            .body(vec![0u8; 16 << 20])
            .trace(rec.trace())
            .send(),
    )
    .await
    .expect_err("the upload stalls");
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Request), "{err:?}");
    assert_eq!(
        rec.count("wrote_request"),
        1,
        "no wrote_request for the abandoned upload:\n  {}",
        rec.dump()
    );
}

/// Dropping the client closes its idle connections.
#[tokio::test]
async fn dropping_the_client_closes_idle_connections() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write(ok_response("good"))
        .hold()])
    .await
    .unwrap();
    let client = support::client();
    let (r, _) = support::get(&client, &peer.url("/")).await;
    r.unwrap();
    drop(client);
    assert!(peer.wait_finished(0, Duration::from_secs(2)).await);
}

/// Dropping the client while a request (holding its own clone via `send`) waits for its head:
/// the request still ends (here by its response-header timeout), nothing hangs.
#[tokio::test]
async fn dropping_the_client_mid_request() {
    let peer = ScriptedPeer::start(vec![Script::new().read_head().hold()])
        .await
        .unwrap();
    let client = support::builder()
        .response_header_timeout(Some(MS(200)))
        .build()
        .unwrap();
    let fut = client.get(&peer.url("/")).send();
    drop(client);
    let err = guard(fut).await.expect_err("stalls");
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::ResponseHeader));
    assert!(peer.wait_finished(0, Duration::from_secs(2)).await);
}

/// Default timeouts, in paused time: the 10 s TLS handshake timeout and the 30 s connect
/// timeout (DNS included) fire with their kinds.
#[tokio::test(start_paused = true)]
async fn default_long_timeouts_fire_in_paused_time() {
    let peer = ScriptedPeer::start(vec![Script::new().hold()])
        .await
        .unwrap();
    let client = support::client();
    let url = format!("https://127.0.0.1:{}/", peer.port());
    let t0 = tokio::time::Instant::now();
    let err = support::within(Duration::from_secs(100), "tls", client.get(&url).send())
        .await
        .expect_err("stalled handshake");
    assert_eq!(
        err.timeout_kind(),
        Some(TimeoutKind::TlsHandshake),
        "{err:?}"
    );
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(11),
        "{took:?}"
    );

    let client = support::builder()
        .resolver(Hanging(Arc::new(AtomicUsize::new(0))))
        .build()
        .unwrap();
    let t0 = tokio::time::Instant::now();
    let err = support::within(
        Duration::from_secs(100),
        "dns",
        client.get("http://never.test/").send(),
    )
    .await
    .expect_err("lookup hangs");
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Connect), "{err:?}");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(31),
        "{took:?}"
    );
}
