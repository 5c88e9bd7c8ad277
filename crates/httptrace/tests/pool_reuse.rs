//! Connection pooling and reuse as Go's Transport does it (HTTP/1.1 idle pool, connection slots
//! under `max_conns_per_host`, HTTP/2 shared connections: stream limits, racing dials,
//! close_idle_connections). Each test states Go's behaviour it checks.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use httptrace::Client;
use httptrace_peers::{Response, Script, ScriptedPeer, Server};
use support::{bounded, builder, builder_trusting, get, guard, h2_server, Recorder};

// ---------------------------------------------------------------------------------------------
// A scripted h2c server: per connection (by accept order) whether it sends GOAWAY after its
// first stream; a response delay taken from the path (`/ms/NNN`).
// ---------------------------------------------------------------------------------------------

struct H2c {
    addr: std::net::SocketAddr,
    conns: Arc<AtomicUsize>,
    /// Connections whose serving task ended (the client closed it, or the script did).
    closed: Arc<AtomicUsize>,
}

/// Connections with index < `goaway_first` start a graceful GOAWAY after their first stream.
async fn h2c_server(goaway_first: usize) -> H2c {
    h2c_server_with(goaway_first, 0).await
}

/// As [`h2c_server`]; connections with index < `drop_first` are dropped (TCP close, no
/// GOAWAY) 50 ms after their first response.
async fn h2c_server_with(goaway_first: usize, drop_first: usize) -> H2c {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let counter = conns.clone();
    let closed_counter = closed.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let idx = counter.fetch_add(1, Ordering::SeqCst);
            let closed_counter = closed_counter.clone();
            tokio::spawn(async move {
                struct Count(Arc<AtomicUsize>);
                impl Drop for Count {
                    fn drop(&mut self) {
                        self.0.fetch_add(1, Ordering::SeqCst);
                    }
                }
                let _count = Count(closed_counter);
                let Ok(mut conn) = h2::server::handshake(sock).await else {
                    return;
                };
                let mut n = 0usize;
                while let Some(Ok((req, mut respond))) = conn.accept().await {
                    n += 1;
                    let ms: u64 = req
                        .uri()
                        .path()
                        .strip_prefix("/ms/")
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        if let Ok(mut send) = respond.send_response(http::Response::new(()), false)
                        {
                            let _ = send.send_data(Bytes::from_static(b"ok"), true);
                        }
                    });
                    if n == 1 && idx < goaway_first {
                        conn.graceful_shutdown();
                    }
                    if n == 1 && idx < drop_first {
                        // Drive the connection a little so the response goes out, then drop it.
                        let _ =
                            tokio::time::timeout(Duration::from_millis(50), conn.accept()).await;
                        return;
                    }
                }
            });
        }
    });
    H2c {
        addr,
        conns,
        closed,
    }
}

async fn get_body(c: &Client, url: &str, rec: &Recorder) -> Bytes {
    let resp = c
        .get(url)
        .trace(rec.trace())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n  {}", rec.dump()));
    resp.into_body()
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n  {}", rec.dump()))
}

/// Suspected bug from the brief: under `max_conns_per_host >= 2`, a request that waited for a
/// connection slot and receives one dials a new HTTP/2 connection without first looking for a
/// shared connection that appeared while it waited.
///
/// Setup (limit 2): connections 0 and 1 each receive GOAWAY after their first (slow) stream, so
/// they hold both slots while being unusable. C and D then wait for a slot. Conn 0's stream
/// ends first: C gets its slot and dials conn 2 (usable, shared). Conn 1's stream ends later:
/// D gets that slot. Go: D's request runs on the shared conn 2 (Go's `addConnIfNeeded` discards
/// the extra dial, then `RoundTripOpt` takes the cached connection; GotConn reused=true). Here:
/// D opens and uses a fourth connection.
#[tokio::test]
async fn h2_slot_handover_uses_the_shared_connection_that_appeared() {
    bounded(async {
        let srv = h2c_server(2).await;
        let c = builder()
            .http2_prior_knowledge()
            .max_conns_per_host(Some(2))
            .build()
            .unwrap();
        let base = format!("http://{}", srv.addr);
        let (ra, rb, rc, rd) = (
            Recorder::new(),
            Recorder::new(),
            Recorder::new(),
            Recorder::new(),
        );
        let a = {
            let (c, url, r) = (c.clone(), format!("{base}/ms/400"), ra.clone());
            tokio::spawn(async move { get_body(&c, &url, &r).await })
        };
        // Let the GOAWAY on conn 0 arrive.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let b = {
            let (c, url, r) = (c.clone(), format!("{base}/ms/1200"), rb.clone());
            tokio::spawn(async move { get_body(&c, &url, &r).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let cc = {
            let (c, url, r) = (c.clone(), format!("{base}/ms/0"), rc.clone());
            tokio::spawn(async move { get_body(&c, &url, &r).await })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        let d = {
            let (c, url, r) = (c.clone(), format!("{base}/ms/0"), rd.clone());
            tokio::spawn(async move { get_body(&c, &url, &r).await })
        };
        for t in [a, b, cc, d] {
            assert_eq!(&guard(t).await.unwrap()[..], b"ok");
        }
        assert_eq!(rc.count("pool_wait_start"), 1, "C waits: {}", rc.dump());
        assert_eq!(rd.count("pool_wait_start"), 1, "D waits: {}", rd.dump());
        let conn_c = rc.got_conns()[0].conn.id;
        let got_d = rd.got_conns();
        let got_d = got_d.last().unwrap();
        assert_eq!(
            got_d.conn.id,
            conn_c,
            "D should share C's HTTP/2 connection (Go), but used another one; \
             server connections: {}\n  C: {}\n  D: {}",
            srv.conns.load(Ordering::SeqCst),
            rc.dump(),
            rd.dump()
        );
        assert!(got_d.reused, "{}", rd.dump());
    })
    .await;
}

/// Go (`StrictMaxConcurrentStreams` false, the default): a connection whose
/// SETTINGS_MAX_CONCURRENT_STREAMS is reached cannot take a new request
/// (`ClientConn.CanTakeNewRequest`), so the request goes to a new connection instead of queueing
/// behind the stream in flight.
#[tokio::test]
async fn h2_stream_limit_reached_opens_another_connection_like_go() {
    bounded(async {
        let (_, srv, c) = h2_server(
            Server::builder()
                .handler(|_| Response::hello().delay(Duration::from_millis(600)))
                .max_concurrent_streams(1),
        )
        .await;
        // Warm up: the server's SETTINGS reach the client.
        let (r, _) = get(&c, &srv.url("/")).await;
        assert_eq!(r.unwrap().0, 200);
        let (ra, rb) = (Recorder::new(), Recorder::new());
        let started = tokio::time::Instant::now();
        let url = srv.url("/");
        let (a, b) = tokio::join!(get_body(&c, &url, &ra), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            get_body(&c, &url, &rb).await
        });
        let took = started.elapsed();
        assert_eq!(&a[..], b"Hello, world!");
        assert_eq!(&b[..], b"Hello, world!");
        assert_eq!(
            srv.connections_accepted(),
            2,
            "Go opens a second connection when the first is at its stream limit; \
             both took {took:?}\n  A: {}\n  B: {}",
            ra.dump(),
            rb.dump()
        );
    })
    .await;
}

/// Go's `CloseIdleConnections` closes only *idle* HTTP/2 connections
/// (`http2clientConnPool.closeIdleConnections` → `cc.closeIfIdle`); a connection with a stream
/// in flight stays in the pool and serves the next request.
#[tokio::test]
async fn h2_close_idle_connections_keeps_a_busy_connection() {
    bounded(async {
        let (_, srv, c) = h2_server(Server::builder().handler(|r| {
            if r.path() == "/slow" {
                Response::hello().delay(Duration::from_millis(500))
            } else {
                Response::hello()
            }
        }))
        .await;
        let slow = {
            let (c, url) = (c.clone(), srv.url("/slow"));
            tokio::spawn(async move { get(&c, &url).await })
        };
        tokio::time::sleep(Duration::from_millis(150)).await;
        c.close_idle_connections();
        let (r, rec) = get(&c, &srv.url("/")).await;
        assert_eq!(r.unwrap().0, 200);
        let (rs, _) = slow.await.unwrap();
        assert_eq!(rs.unwrap().0, 200);
        assert_eq!(
            srv.connections_accepted(),
            1,
            "the busy connection is not idle: Go keeps it and shares it\n  {}",
            rec.dump()
        );
    })
    .await;
}

/// Go's `tryPutIdleConn` hands a returned connection to a waiting request *before* it looks at
/// `closeIdle`: after `CloseIdleConnections`, a request waiting under `MaxConnsPerHost` still
/// takes the connection the request in flight returns (no new dial).
#[tokio::test]
async fn close_idle_connections_does_not_take_a_connection_from_a_waiter() {
    bounded(async {
        let srv = Server::builder()
            .handler(|_| Response::hello().delay(Duration::from_millis(300)))
            .start()
            .await
            .unwrap();
        let c = builder().max_conns_per_host(Some(1)).build().unwrap();
        let url = srv.url("/");
        let (ra, rb) = (Recorder::new(), Recorder::new());
        let (a, b) = tokio::join!(get_body(&c, &url, &ra), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let f = get_body(&c, &url, &rb);
            tokio::pin!(f);
            // B is waiting for the slot; then the user closes idle connections.
            tokio::select! {
                biased;
                b = &mut f => b,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    c.close_idle_connections();
                    f.await
                }
            }
        });
        assert_eq!(&a[..], b"Hello, world!");
        assert_eq!(&b[..], b"Hello, world!");
        assert_eq!(rb.count("pool_wait_start"), 1, "{}", rb.dump());
        assert_eq!(
            rb.count("connect_start"),
            0,
            "Go hands A's connection to the waiting B before checking closeIdle\n  A: {}\n  B: {}",
            ra.dump(),
            rb.dump()
        );
        assert_eq!(srv.connections_accepted(), 1);
    })
    .await;
}

/// `max_conns_per_host(2)` with 8 concurrent requests: never more than 2 connections, every
/// request served, each waiter reports one `pool_wait_start` and one `pool_wait_done`, and the
/// waiters are served in arrival order (FIFO).
#[tokio::test]
async fn many_waiters_fifo_under_the_limit() {
    bounded(async {
        let srv = Server::builder()
            .handler(|_| Response::hello().delay(Duration::from_millis(80)))
            .start()
            .await
            .unwrap();
        let c = builder().max_conns_per_host(Some(2)).build().unwrap();
        let url = srv.url("/");
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let recs: Vec<Recorder> = (0..8).map(|_| Recorder::new()).collect();
        let mut tasks = Vec::new();
        for (i, rec) in recs.iter().enumerate() {
            let (c, url, rec, order) = (c.clone(), url.clone(), rec.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let resp = c.get(&url).trace(rec.trace()).send().await.unwrap();
                order.lock().unwrap().push(i);
                resp.into_body().bytes().await.unwrap()
            }));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for t in tasks {
            assert_eq!(&guard(t).await.unwrap()[..], b"Hello, world!");
        }
        assert!(
            srv.connections_accepted() <= 2,
            "{}",
            srv.connections_accepted()
        );
        for (i, r) in recs.iter().enumerate().skip(2) {
            assert_eq!(r.count("pool_wait_start"), 1, "req {i}: {}", r.dump());
            assert_eq!(r.count("pool_wait_done"), 1, "req {i}: {}", r.dump());
        }
        let order = order.lock().unwrap().clone();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "waiters served out of arrival order");
    })
    .await;
}

/// A waiter cancelled while waiting: the connection returned afterwards goes to the next
/// waiter (no new dial, one connection in all).
#[tokio::test]
async fn a_cancelled_waiter_passes_the_connection_to_the_next() {
    bounded(async {
        let srv = Server::builder()
            .handler(|_| Response::hello().delay(Duration::from_millis(250)))
            .start()
            .await
            .unwrap();
        let c = builder().max_conns_per_host(Some(1)).build().unwrap();
        let url = srv.url("/");
        let (ra, rb, rc) = (Recorder::new(), Recorder::new(), Recorder::new());
        let (a, (), cres) = tokio::join!(
            get_body(&c, &url, &ra),
            async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                let r =
                    tokio::time::timeout(Duration::from_millis(80), get_body(&c, &url, &rb)).await;
                assert!(r.is_err(), "B should have been waiting");
            },
            async {
                tokio::time::sleep(Duration::from_millis(60)).await;
                get_body(&c, &url, &rc).await
            }
        );
        assert_eq!(&a[..], b"Hello, world!");
        assert_eq!(&cres[..], b"Hello, world!");
        assert!(
            rc.has("got_conn reused=true was_idle=false"),
            "{}",
            rc.dump()
        );
        assert_eq!(rc.count("connect_start"), 0, "{}", rc.dump());
        assert_eq!(srv.connections_accepted(), 1);
    })
    .await;
}

/// `max_idle` (Go's MaxIdleConns): the oldest idle connection of all hosts is evicted, the
/// returned one is kept (and `put_idle_conn` reports nil).
#[tokio::test]
async fn max_idle_evicts_the_oldest_across_hosts() {
    bounded(async {
        let s1 = Server::hello().start().await.unwrap();
        let s2 = Server::hello().start().await.unwrap();
        let c = builder().max_idle(1).build().unwrap();
        let (r1, rec1) = get(&c, &s1.url("/")).await;
        r1.unwrap();
        let (r2, rec2) = get(&c, &s2.url("/")).await;
        r2.unwrap();
        assert!(rec1.has("put_idle_conn nil"), "{}", rec1.dump());
        assert!(rec2.has("put_idle_conn nil"), "{}", rec2.dump());
        // s2's connection is the newest: kept.
        let (r3, rec3) = get(&c, &s2.url("/")).await;
        r3.unwrap();
        assert!(
            rec3.has("got_conn reused=true was_idle=true"),
            "{}",
            rec3.dump()
        );
        // s1's was evicted.
        let (r4, rec4) = get(&c, &s1.url("/")).await;
        r4.unwrap();
        assert!(
            rec4.has("got_conn reused=false was_idle=false"),
            "{}",
            rec4.dump()
        );
        assert_eq!(s1.connections_accepted(), 2);
        assert_eq!(s2.connections_accepted(), 1);
    })
    .await;
}

/// Dropping the client closes its idle connections (the server sees EOF).
#[tokio::test]
async fn dropping_the_client_closes_idle_h1_connections() {
    bounded(async {
        let peer = ScriptedPeer::start(vec![Script::new()
            .read_head()
            .write(support::ok_response("hi"))
            .read_until_eof()])
        .await
        .unwrap();
        let c = builder().build().unwrap();
        let (r, rec) = get(&c, &peer.url("/")).await;
        r.unwrap();
        assert!(rec.has("put_idle_conn nil"), "{}", rec.dump());
        drop(c);
        assert!(
            peer.wait_finished(0, Duration::from_secs(3)).await,
            "the idle connection stayed open after the client was dropped"
        );
    })
    .await;
}

/// `keep_alive(false)` over HTTP/2: every request its own connection (Go's single-use h2
/// connections with DisableKeepAlives).
#[tokio::test]
async fn h2_keep_alive_off_uses_a_connection_per_request() {
    bounded(async {
        let (ca, srv, _) = h2_server(Server::hello()).await;
        let c = builder_trusting(&ca).keep_alive(false).build().unwrap();
        for _ in 0..3 {
            let (r, rec) = get(&c, &srv.url("/")).await;
            assert_eq!(r.unwrap_or_else(|e| panic!("{e:?} {}", rec.dump())).0, 200);
        }
        assert_eq!(srv.connections_accepted(), 3);
    })
    .await;
}

/// An HTTP/2-capable dial that ends in HTTP/1.1 (ALPN) while several requests wait on it,
/// under `max_conns_per_host(1)`: every request is served on the one connection, none hangs.
#[tokio::test]
async fn h2_dial_ending_in_h1_with_waiters_under_a_limit() {
    bounded(async {
        let (ca, srv, _) = support::tls_server(
            Server::builder().handler(|_| Response::hello().delay(Duration::from_millis(50))),
            support::ALPN_H1,
        )
        .await;
        let c = builder_trusting(&ca)
            .max_conns_per_host(Some(1))
            .build()
            .unwrap();
        let res = support::get_concurrently(&c, &srv.url("/"), 4).await;
        for (r, rec) in res {
            assert_eq!(r.unwrap_or_else(|e| panic!("{e:?} {}", rec.dump())).0, 200);
        }
        assert_eq!(srv.connections_accepted(), 1);
    })
    .await;
}

/// The same without a limit: all served.
#[tokio::test]
async fn h2_dial_ending_in_h1_with_waiters() {
    bounded(async {
        let (_, srv, c) = support::tls_server(
            Server::builder().handler(|_| Response::hello().delay(Duration::from_millis(50))),
            support::ALPN_H1,
        )
        .await;
        let res = support::get_concurrently(&c, &srv.url("/"), 4).await;
        for (r, rec) in res {
            assert_eq!(r.unwrap_or_else(|e| panic!("{e:?} {}", rec.dump())).0, 200);
        }
        assert!(srv.connections_accepted() <= 4);
    })
    .await;
}

/// A shared HTTP/2 connection that the server closed (TCP close, no GOAWAY) while idle is
/// removed from the pool: the next request succeeds on a new connection.
#[tokio::test]
async fn h2_connection_closed_by_the_server_is_not_reused() {
    bounded(async {
        let srv = h2c_server_with(0, 1).await;
        let c = builder().http2_prior_knowledge().build().unwrap();
        let url = format!("http://{}/ms/0", srv.addr);
        let r1 = Recorder::new();
        assert_eq!(&get_body(&c, &url, &r1).await[..], b"ok");
        // Let the close reach the client's connection task.
        for _ in 0..50 {
            if srv.closed.load(Ordering::SeqCst) >= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r2 = Recorder::new();
        assert_eq!(&get_body(&c, &url, &r2).await[..], b"ok");
        assert!(
            r2.has("got_conn reused=false was_idle=false"),
            "{}",
            r2.dump()
        );
        assert_eq!(r2.count("retry"), 0, "{}", r2.dump());
        assert_eq!(srv.conns.load(Ordering::SeqCst), 2);
    })
    .await;
}

/// Dropping the client closes its idle HTTP/2 connection.
#[tokio::test]
async fn dropping_the_client_closes_idle_h2_connections() {
    bounded(async {
        let srv = h2c_server(0).await;
        let c = builder().http2_prior_knowledge().build().unwrap();
        let url = format!("http://{}/ms/0", srv.addr);
        let r1 = Recorder::new();
        assert_eq!(&get_body(&c, &url, &r1).await[..], b"ok");
        drop(c);
        for _ in 0..100 {
            if srv.closed.load(Ordering::SeqCst) >= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            srv.closed.load(Ordering::SeqCst),
            1,
            "the idle HTTP/2 connection stayed open after the client was dropped"
        );
    })
    .await;
}

/// http and https to the same host:port never share a pooled connection (the pool key has the
/// scheme): the https request dials (and here fails its TLS handshake against a plain peer)
/// instead of writing plaintext on the idle http connection.
#[tokio::test]
async fn http_and_https_to_the_same_port_never_share() {
    bounded(async {
        let peer = ScriptedPeer::start(vec![
            Script::new()
                .read_head()
                .write(support::ok_response("hi"))
                .hold(),
            Script::new().sleep(Duration::from_millis(50)).close(),
        ])
        .await
        .unwrap();
        let c = builder().build().unwrap();
        let (r, rec) = get(&c, &peer.url("/")).await;
        r.unwrap();
        assert!(rec.has("put_idle_conn nil"), "{}", rec.dump());
        let https = format!("https://127.0.0.1:{}/", peer.port());
        let (r2, rec2) = get(&c, &https).await;
        assert!(r2.is_err(), "{}", rec2.dump());
        assert_eq!(rec2.count("connect_start"), 1, "{}", rec2.dump());
        assert_eq!(
            peer.heads(0).len(),
            1,
            "plaintext request sent on the http connection"
        );
        assert_eq!(peer.connections_accepted(), 2);
    })
    .await;
}

/// A resolver answering 127.0.0.1 for every name after `delay` (the client coalesces
/// concurrent lookups of one name into one call).
struct SlowLoopback {
    delay: Duration,
}

impl httptrace::dns::Resolve for SlowLoopback {
    fn resolve(&self, _host: &str) -> httptrace::dns::Resolving {
        let d = self.delay;
        Box::pin(async move {
            tokio::time::sleep(d).await;
            Ok(vec![std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)])
        })
    }
}

/// B and C join A's HTTP/2 dial; A is cancelled before its dial ends. B and C then each dial on
/// their own (`h2::connect`, `waited = true`: unregistered, no joining) and each keep a
/// connection: two shared HTTP/2 connections to one origin. Go dedups concurrent h2 dials
/// (`addConnIfNeeded` keeps the first, closes the other), so B and C end on one connection.
#[tokio::test]
async fn h2_waiters_of_a_cancelled_dial_share_one_new_connection() {
    bounded(async {
        let srv = h2c_server(0).await;
        let c = builder()
            .http2_prior_knowledge()
            .resolver(SlowLoopback {
                delay: Duration::from_millis(300),
            })
            .build()
            .unwrap();
        let url = format!("http://pool.test:{}/ms/100", srv.addr.port());
        let (rb, rc) = (Recorder::new(), Recorder::new());
        let ((), b, cc) = tokio::join!(
            async {
                let r = tokio::time::timeout(Duration::from_millis(100), c.get(&url).send()).await;
                assert!(r.is_err(), "A should still be dialing");
            },
            async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                get_body(&c, &url, &rb).await
            },
            async {
                tokio::time::sleep(Duration::from_millis(40)).await;
                get_body(&c, &url, &rc).await
            }
        );
        assert_eq!(&b[..], b"ok");
        assert_eq!(&cc[..], b"ok");
        let (gb, gc) = (rb.got_conns(), rc.got_conns());
        assert_eq!(
            gb.last().unwrap().conn.id,
            gc.last().unwrap().conn.id,
            "B and C ended on two HTTP/2 connections; server accepted {}\n  B: {}\n  C: {}",
            srv.conns.load(Ordering::SeqCst),
            rb.dump(),
            rc.dump()
        );
    })
    .await;
}

/// keep_alive(false) under `max_conns_per_host(1)`: a waiter cancelled while waiting does not
/// keep the slot freed by the request in flight; the next waiter gets it and is served.
#[tokio::test]
async fn a_cancelled_waiter_passes_the_slot_to_the_next() {
    bounded(async {
        let srv = Server::builder()
            .handler(|_| Response::hello().delay(Duration::from_millis(250)))
            .start()
            .await
            .unwrap();
        let c = builder()
            .max_conns_per_host(Some(1))
            .keep_alive(false)
            .build()
            .unwrap();
        let url = srv.url("/");
        let (ra, rb, rc) = (Recorder::new(), Recorder::new(), Recorder::new());
        let (a, (), cres) = tokio::join!(
            get_body(&c, &url, &ra),
            async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                let r =
                    tokio::time::timeout(Duration::from_millis(80), get_body(&c, &url, &rb)).await;
                assert!(r.is_err(), "B should have been waiting");
            },
            async {
                tokio::time::sleep(Duration::from_millis(60)).await;
                guard(get_body(&c, &url, &rc)).await
            }
        );
        assert_eq!(&a[..], b"Hello, world!");
        assert_eq!(&cres[..], b"Hello, world!");
        assert_eq!(rc.count("pool_wait_start"), 1, "{}", rc.dump());
        assert_eq!(rc.count("pool_wait_done"), 1, "{}", rc.dump());
    })
    .await;
}
