//! `max_conns_per_host`: requests beyond the limit wait (pool_wait_start / pool_wait_done) for
//! a returned connection or a freed slot, as Go's `MaxConnsPerHost` makes them wait.

mod support;

use std::time::Duration;

use httptrace_peers::http1::{Response, Server};
use support::{guard, Recorder};

async fn slow_server() -> httptrace_peers::http1::ServerHandle {
    Server::builder()
        .handler(|_req| Response::hello().delay(Duration::from_millis(200)))
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn second_request_waits_and_takes_the_returned_connection() {
    let srv = slow_server().await;
    let client = support::builder()
        .max_conns_per_host(Some(1))
        .build()
        .unwrap();
    let url = srv.url("/");
    let (ra, rb) = (Recorder::new(), Recorder::new());
    let (a, b) = guard(async {
        let fa = async {
            let r = client.get(&url).trace(ra.trace()).send().await.unwrap();
            r.into_body().bytes().await.unwrap()
        };
        let fb = async {
            // Start second, so the first one holds the only slot.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let r = client.get(&url).trace(rb.trace()).send().await.unwrap();
            r.into_body().bytes().await.unwrap()
        };
        tokio::join!(fa, fb)
    })
    .await;
    assert_eq!(&a[..], b"Hello, world!");
    assert_eq!(&b[..], b"Hello, world!");
    assert_eq!(ra.count("pool_wait_start"), 0, "{}", ra.dump());
    assert_eq!(rb.count("pool_wait_start"), 1, "{}", rb.dump());
    assert_eq!(rb.count("pool_wait_done"), 1, "{}", rb.dump());
    let ev = rb.events();
    let wait = ev
        .iter()
        .position(|e| e.starts_with("pool_wait_done"))
        .unwrap();
    let got = ev.iter().position(|e| e.starts_with("got_conn")).unwrap();
    assert!(wait < got, "{}", rb.dump());
    // Handed over by the first request: reused, not idle, no dial.
    assert!(
        ev.contains(&"got_conn reused=true was_idle=false".to_string()),
        "{}",
        rb.dump()
    );
    assert_eq!(rb.count("connect_start"), 0, "{}", rb.dump());
    assert_eq!(srv.connections_accepted(), 1);
}

#[tokio::test]
async fn without_keep_alive_the_waiter_dials_once_the_slot_frees() {
    let srv = slow_server().await;
    let client = support::builder()
        .max_conns_per_host(Some(1))
        .keep_alive(false)
        .build()
        .unwrap();
    let url = srv.url("/");
    let (ra, rb) = (Recorder::new(), Recorder::new());
    guard(async {
        let fa = async {
            let r = client.get(&url).trace(ra.trace()).send().await.unwrap();
            r.into_body().bytes().await.unwrap();
        };
        let fb = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let r = client.get(&url).trace(rb.trace()).send().await.unwrap();
            r.into_body().bytes().await.unwrap();
        };
        tokio::join!(fa, fb)
    })
    .await;
    assert_eq!(rb.count("pool_wait_start"), 1, "{}", rb.dump());
    assert_eq!(rb.count("connect_start"), 1, "{}", rb.dump());
    let ev = rb.events();
    let wait = ev
        .iter()
        .position(|e| e.starts_with("pool_wait_done"))
        .unwrap();
    let connect = ev
        .iter()
        .position(|e| e.starts_with("connect_start"))
        .unwrap();
    assert!(wait < connect, "{}", rb.dump());
    assert!(srv.wait_connections(2, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn a_failed_dial_frees_its_slot() {
    // A closed port: the first dial fails, and the slot must not leak (the second request
    // dials instead of waiting forever).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = support::builder()
        .max_conns_per_host(Some(1))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    for _ in 0..2 {
        let r = Recorder::new();
        let e = guard(client.get(&url).trace(r.trace()).send())
            .await
            .unwrap_err();
        assert!(e.is_connect(), "{e:?}");
        assert_eq!(r.count("pool_wait_start"), 0, "{}", r.dump());
    }
}

#[tokio::test]
async fn a_request_dropped_while_waiting_still_ends_its_wait() {
    let srv = slow_server().await;
    let client = support::builder()
        .max_conns_per_host(Some(1))
        .build()
        .unwrap();
    let url = srv.url("/");
    let rb = Recorder::new();
    guard(async {
        let first = client.get(&url).send();
        let second = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            // Gives up long before the first request returns its connection.
            let r = tokio::time::timeout(
                Duration::from_millis(50),
                client.get(&url).trace(rb.trace()).send(),
            )
            .await;
            assert!(r.is_err(), "the second request should still be waiting");
        };
        let (a, ()) = tokio::join!(first, second);
        a.unwrap().into_body().bytes().await.unwrap();
    })
    .await;
    assert_eq!(rb.count("pool_wait_start"), 1, "{}", rb.dump());
    assert_eq!(rb.count("pool_wait_done"), 1, "{}", rb.dump());
    assert_eq!(rb.count("got_conn"), 0, "{}", rb.dump());
}
