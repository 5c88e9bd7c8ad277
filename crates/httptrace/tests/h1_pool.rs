//! The HTTP/1.1 idle pool: idle timeout, per-host limit, LIFO, dead idle connections,
//! close_idle_connections.

mod support;

use std::time::Duration;

use httptrace_peers::{Response, Script, ScriptedPeer, Server};
use support::{get_traced, guard, ok_response, Recorder};

#[tokio::test]
async fn idle_timeout_expires_pooled_connection() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::builder()
        .idle_timeout(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    let r1 = Recorder::new();
    get_traced(&client, &srv.url("/"), &r1).await.unwrap();
    assert!(r1.has("put_idle_conn nil"), "{}", r1.dump());

    tokio::time::sleep(Duration::from_millis(500)).await;

    let r2 = Recorder::new();
    let (status, _) = get_traced(&client, &srv.url("/"), &r2).await.unwrap();
    assert_eq!(status, 200);
    assert!(
        r2.has("got_conn reused=false was_idle=false"),
        "{}",
        r2.dump()
    );
    assert_eq!(r2.count("connect_start"), 1, "{}", r2.dump());
    assert_ne!(r1.got_conns()[0].conn.id, r2.got_conns()[0].conn.id);
    assert!(srv.wait_connections(2, Duration::from_secs(5)).await);
    assert_eq!(srv.connections_accepted(), 2);
}

#[tokio::test]
async fn idle_connection_within_timeout_is_reused() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::builder()
        .idle_timeout(Some(Duration::from_secs(5)))
        .build()
        .unwrap();
    let r1 = Recorder::new();
    get_traced(&client, &srv.url("/"), &r1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r2 = Recorder::new();
    get_traced(&client, &srv.url("/"), &r2).await.unwrap();
    assert!(
        r2.has("got_conn reused=true was_idle=true"),
        "{}",
        r2.dump()
    );
    let idle = r2.got_conns()[0].idle_time;
    assert!(
        idle >= Duration::from_millis(50) && idle < Duration::from_secs(5),
        "{idle:?}"
    );
    assert_eq!(srv.connections_accepted(), 1);
}

/// A server whose responses are delayed so that concurrent requests each need a connection.
async fn slow_server() -> httptrace_peers::ServerHandle {
    Server::builder()
        .handler(|_| Response::hello().delay(Duration::from_millis(300)))
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn max_idle_per_host_one_refuses_the_second_connection() {
    let srv = slow_server().await;
    let client = support::builder().max_idle_per_host(1).build().unwrap();
    let (ra, rb) = (Recorder::new(), Recorder::new());
    let url = srv.url("/");
    let (a, b) = tokio::join!(
        get_traced(&client, &url, &ra),
        get_traced(&client, &url, &rb)
    );
    assert_eq!(a.unwrap().0, 200);
    assert_eq!(b.unwrap().0, 200);
    assert_eq!(
        srv.connections_accepted(),
        2,
        "two concurrent requests, two connections"
    );

    let mut outcomes: Vec<Option<httptrace::Error>> = ra.put_idle_errs();
    outcomes.extend(rb.put_idle_errs());
    assert_eq!(outcomes.len(), 2, "A: {}\nB: {}", ra.dump(), rb.dump());
    let oks = outcomes.iter().filter(|o| o.is_none()).count();
    let too_many: Vec<_> = outcomes.iter().flatten().collect();
    assert_eq!(oks, 1, "{outcomes:?}");
    assert_eq!(too_many.len(), 1, "{outcomes:?}");
    assert!(too_many[0].is_too_many_idle(), "{:?}", too_many[0]);

    // Only one connection stayed: the next two sequential requests use it, no dial.
    let r3 = Recorder::new();
    get_traced(&client, &url, &r3).await.unwrap();
    assert!(
        r3.has("got_conn reused=true was_idle=true"),
        "{}",
        r3.dump()
    );
    assert_eq!(srv.connections_accepted(), 2);
}

#[tokio::test]
async fn max_idle_per_host_zero_keeps_nothing() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::builder().max_idle_per_host(0).build().unwrap();
    let r1 = Recorder::new();
    get_traced(&client, &srv.url("/"), &r1).await.unwrap();
    // Pooling off: like Go's errKeepAlivesDisabled, put_idle_conn does not fire at all, and
    // the request does not ask the server to close.
    assert!(r1.put_idle_errs().is_empty(), "{}", r1.dump());
    assert!(
        !r1.events().iter().any(|e| e.contains("Connection")),
        "{}",
        r1.dump()
    );

    let r2 = Recorder::new();
    get_traced(&client, &srv.url("/"), &r2).await.unwrap();
    assert!(
        r2.has("got_conn reused=false was_idle=false"),
        "{}",
        r2.dump()
    );
    assert!(srv.wait_connections(2, Duration::from_secs(5)).await);
    assert_eq!(srv.connections_accepted(), 2);
}

/// `max_idle(0)` keeps no idle connection: the returned one is closed, and `put_idle_conn`
/// says so (it reported the connection pooled while the pool evicted it at once).
#[tokio::test]
async fn max_idle_zero_keeps_nothing_and_says_so() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::builder().max_idle(0).build().unwrap();
    for _ in 0..2 {
        let rec = Recorder::new();
        get_traced(&client, &srv.url("/"), &rec).await.unwrap();
        assert!(
            rec.has("got_conn reused=false was_idle=false"),
            "{}",
            rec.dump()
        );
        let errs = rec.put_idle_errs();
        assert_eq!(errs.len(), 1, "{}", rec.dump());
        assert!(
            errs[0].is_some(),
            "put_idle_conn reported it pooled\n  {}",
            rec.dump()
        );
    }
    assert!(srv.wait_connections(2, Duration::from_secs(5)).await);
    assert_eq!(srv.connections_accepted(), 2);
}

#[tokio::test]
async fn lifo_most_recently_returned_connection_is_used_first() {
    let srv = slow_server().await;
    let client = support::client();
    let url = srv.url("/");
    let (ra, rb) = (Recorder::new(), Recorder::new());
    // Two requests in flight at once: two connections.
    let (resp_a, resp_b) = guard(async {
        tokio::join!(
            client.get(&url).trace(ra.trace()).send(),
            client.get(&url).trace(rb.trace()).send()
        )
    })
    .await;
    let (resp_a, resp_b) = (resp_a.unwrap(), resp_b.unwrap());
    let conn_a = ra.got_conns()[0].conn.clone();
    let conn_b = rb.got_conns()[0].conn.clone();
    assert_ne!(conn_a.id, conn_b.id);
    assert_ne!(conn_a.local_addr, conn_b.local_addr);

    // Return A first, then B: B is the most recently returned.
    guard(resp_a.into_body().bytes()).await.unwrap();
    guard(resp_b.into_body().bytes()).await.unwrap();
    assert_eq!(ra.put_idle_errs().len(), 1);
    assert!(ra.put_idle_errs()[0].is_none() && rb.put_idle_errs()[0].is_none());

    let r3 = Recorder::new();
    get_traced(&client, &url, &r3).await.unwrap();
    let c3 = r3.got_conns()[0].clone();
    assert!(c3.reused && c3.was_idle, "{}", r3.dump());
    assert_eq!(
        c3.conn.id, conn_b.id,
        "LIFO: the last returned (B) must be used, got A?"
    );
    assert_eq!(c3.conn.local_addr, conn_b.local_addr);

    // Now B was returned again most recently; take both: B then A.
    let (r4, r5) = (Recorder::new(), Recorder::new());
    let (x, y) = guard(async {
        tokio::join!(
            client.get(&url).trace(r4.trace()).send(),
            client.get(&url).trace(r5.trace()).send()
        )
    })
    .await;
    guard(x.unwrap().into_body().bytes()).await.unwrap();
    guard(y.unwrap().into_body().bytes()).await.unwrap();
    let mut ids = vec![r4.got_conns()[0].conn.id, r5.got_conns()[0].conn.id];
    ids.sort();
    let mut want = vec![conn_a.id, conn_b.id];
    want.sort();
    assert_eq!(ids, want, "both idle connections reused, no new dial");
    assert_eq!(srv.connections_accepted(), 2);
}

#[tokio::test]
async fn idle_connection_with_unsolicited_bytes_is_discarded() {
    let peer = ScriptedPeer::start(vec![
        Script::new()
            .read_head()
            .write(ok_response("hi"))
            .sleep(Duration::from_millis(100))
            .write("garbage that no request asked for")
            .hold(),
        Script::new().read_head().write(ok_response("fresh")).hold(),
    ])
    .await
    .unwrap();
    let client = support::client();
    let r1 = Recorder::new();
    let (_, body) = get_traced(&client, &peer.url("/"), &r1).await.unwrap();
    assert_eq!(&body[..], b"hi");
    assert!(r1.has("put_idle_conn nil"), "{}", r1.dump());

    // Generous: the garbage is written 100 ms after the response.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let r2 = Recorder::new();
    let (status, body) = get_traced(&client, &peer.url("/"), &r2)
        .await
        .expect("second request");
    assert_eq!(status, 200);
    assert_eq!(
        &body[..],
        b"fresh",
        "the poisoned connection must never be used"
    );
    assert!(
        r2.has("got_conn reused=false was_idle=false"),
        "{}",
        r2.dump()
    );
    assert_eq!(r2.count("connect_start"), 1);
    assert_eq!(
        r2.count("retry"),
        0,
        "discarded at checkout, not retried: {}",
        r2.dump()
    );
    assert_eq!(peer.connections_accepted(), 2);
    assert_eq!(
        peer.heads(0).len(),
        1,
        "no second request on the poisoned connection"
    );
    assert!(
        r2.events()
            .iter()
            .any(|e| e.starts_with("new_conn reason=IdleConnsUnusable(1)")),
        "{}",
        r2.dump()
    );
}

#[tokio::test]
async fn idle_connection_closed_by_server_is_replaced_without_error() {
    let peer = ScriptedPeer::start(vec![
        Script::new().read_head().write(ok_response("one")).close(),
        Script::new().read_head().write(ok_response("two")).hold(),
    ])
    .await
    .unwrap();
    let client = support::client();
    let r1 = Recorder::new();
    let (_, body) = get_traced(&client, &peer.url("/"), &r1).await.unwrap();
    assert_eq!(&body[..], b"one");
    assert!(peer.wait_finished(0, Duration::from_secs(5)).await);
    // Generous: let the FIN reach the client's socket.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let r2 = Recorder::new();
    let (status, body) = get_traced(&client, &peer.url("/"), &r2)
        .await
        .expect("no error");
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"two");
    assert!(
        r2.has("got_conn reused=false was_idle=false"),
        "{}",
        r2.dump()
    );
    assert_eq!(r2.count("got_conn"), 1, "{}", r2.dump());
    assert_eq!(r2.count("retry"), 0, "{}", r2.dump());
    assert_eq!(peer.connections_accepted(), 2);
}

#[tokio::test]
async fn close_idle_connections_closes_pooled_connection() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::client();
    let r1 = Recorder::new();
    get_traced(&client, &srv.url("/"), &r1).await.unwrap();
    assert!(r1.has("put_idle_conn nil"));
    client.close_idle_connections();
    let r2 = Recorder::new();
    get_traced(&client, &srv.url("/"), &r2).await.unwrap();
    assert!(
        r2.has("got_conn reused=false was_idle=false"),
        "{}",
        r2.dump()
    );
    assert_eq!(r2.count("connect_start"), 1);
    assert!(srv.wait_connections(2, Duration::from_secs(5)).await);
    assert_eq!(srv.connections_accepted(), 2);
}

#[tokio::test]
async fn close_idle_connections_refuses_in_flight_connection() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::client();
    let r1 = Recorder::new();
    let resp = guard(client.get(&srv.url("/")).trace(r1.trace()).send())
        .await
        .unwrap();
    // In flight (body not read yet) when the pool is closed.
    client.close_idle_connections();
    let body = guard(resp.into_body().bytes()).await.unwrap();
    assert_eq!(&body[..], b"Hello, world!");
    let errs = r1.put_idle_errs();
    assert_eq!(errs.len(), 1, "{}", r1.dump());
    let e = errs[0]
        .as_ref()
        .expect("put_idle_conn must report the closed pool");
    assert!(e.is_pool_closed(), "{e:?}");

    let r2 = Recorder::new();
    get_traced(&client, &srv.url("/"), &r2).await.unwrap();
    assert!(
        r2.has("got_conn reused=false was_idle=false"),
        "{}",
        r2.dump()
    );
    assert!(
        r2.has("put_idle_conn nil"),
        "closeIdle cleared by the next checkout: {}",
        r2.dump()
    );
    assert!(srv.wait_connections(2, Duration::from_secs(5)).await);
    assert_eq!(srv.connections_accepted(), 2);
}
