//! Name resolution: hosts-file resolver, failures (Go's scenario (i)), IP literals, coalescing,
//! pluggable resolvers. No name but `localhost` ever reaches the system resolver here: every
//! test injects its own resolver.

mod support;

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use httptrace::dns::{HostsResolver, Resolve, Resolving, StaticResolver};
use httptrace_peers::Server;
use support::{get_traced, guard, seq, strs, Recorder, EXCHANGE, PUT_IDLE};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A resolver that answers 127.0.0.1 after a delay and counts its calls.
#[derive(Clone)]
struct Counting {
    calls: Arc<AtomicUsize>,
    names: Arc<Mutex<Vec<String>>>,
    delay: Duration,
}

impl Counting {
    fn new(delay: Duration) -> Counting {
        Counting {
            calls: Arc::new(AtomicUsize::new(0)),
            names: Arc::new(Mutex::new(Vec::new())),
            delay,
        }
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Resolve for Counting {
    fn resolve(&self, host: &str) -> Resolving {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.names.lock().unwrap().push(host.to_string());
        let delay = self.delay;
        let host = host.to_string();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            if host.ends_with(".test") {
                Ok(vec![LOOPBACK])
            } else {
                Err(io::Error::new(io::ErrorKind::NotFound, "no such host"))
            }
        })
    }
}

#[tokio::test]
async fn hosts_resolver_resolves_name_with_dns_events() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::builder()
        .resolver(HostsResolver::from_contents("127.0.0.1 myhost.test\n"))
        .build()
        .unwrap();
    let rec = Recorder::new();
    let url = format!("http://myhost.test:{}/", srv.port());
    let (status, body) = get_traced(&client, &url, &rec)
        .await
        .expect("resolved via hosts");
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"Hello, world!");

    assert_eq!(
        rec.go_names(),
        seq(&[
            &[
                "get_conn",
                "dns_start",
                "dns_done",
                "connect_start",
                "connect_done"
            ],
            EXCHANGE,
            PUT_IDLE,
        ]),
        "events:\n  {}",
        rec.dump()
    );
    let ev = rec.events();
    assert!(
        ev.contains(&format!("get_conn myhost.test:{}", srv.port())),
        "{}",
        rec.dump()
    );
    assert!(
        ev.contains(&"dns_start host=myhost.test".to_string()),
        "{}",
        rec.dump()
    );
    let done = &rec.dns_done()[0];
    assert!(!done.coalesced);
    assert!(done.err.is_none());
    assert_eq!(done.addrs, vec![LOOPBACK]);
    assert!(ev.contains(&format!("connect_start tcp 127.0.0.1:{}", srv.port())));
    assert_eq!(
        srv.requests()[0].header("host").map(str::to_string),
        Some(format!("myhost.test:{}", srv.port()))
    );

    // A reuse does not resolve again.
    let r2 = Recorder::new();
    get_traced(&client, &url, &r2).await.unwrap();
    assert_eq!(r2.count("dns_start"), 0, "{}", r2.dump());
}

#[tokio::test]
async fn unknown_name_fails_with_dns_error_and_no_connect() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::builder()
        .resolver(HostsResolver::from_contents("127.0.0.1 myhost.test\n"))
        .build()
        .unwrap();
    let rec = Recorder::new();
    let url = format!("http://nonexistent.test:{}/", srv.port());
    let err = get_traced(&client, &url, &rec)
        .await
        .expect_err("not in the hosts table");
    assert!(err.is_dns(), "{err:?}");
    assert!(
        err.is_connect(),
        "a DNS failure is a connect failure too: {err:?}"
    );
    assert_eq!(
        rec.go_names(),
        strs(&["get_conn", "dns_start", "dns_done"]),
        "Go (i): nothing after dns_done:\n  {}",
        rec.dump()
    );
    let done = &rec.dns_done()[0];
    assert!(
        done.err.as_ref().is_some_and(|e| e.is_dns()),
        "{:?}",
        done.err
    );
    assert!(done.addrs.is_empty());
    assert!(!done.coalesced);
    assert!(rec
        .events()
        .contains(&"dns_start host=nonexistent.test".to_string()));
    assert_eq!(srv.connections_accepted(), 0);
}

#[tokio::test]
async fn ip_literal_skips_dns_and_the_resolver() {
    let srv = Server::hello().start().await.unwrap();
    let resolver = Counting::new(Duration::ZERO);
    let client = support::builder()
        .resolver(resolver.clone())
        .build()
        .unwrap();
    let rec = Recorder::new();
    get_traced(&client, &srv.url("/"), &rec).await.unwrap();
    assert_eq!(rec.count("dns_start"), 0, "{}", rec.dump());
    assert_eq!(rec.count("dns_done"), 0);
    assert_eq!(
        resolver.calls(),
        0,
        "an IP literal must never reach the resolver"
    );
}

#[tokio::test]
async fn concurrent_lookups_of_one_name_are_coalesced() {
    let srv = Server::builder()
        .handler(|_| httptrace_peers::Response::hello().delay(Duration::from_millis(100)))
        .start()
        .await
        .unwrap();
    let resolver = Counting::new(Duration::from_millis(200));
    let client = support::builder()
        .resolver(resolver.clone())
        .build()
        .unwrap();
    let url = format!("http://coalesce.test:{}/", srv.port());
    let (ra, rb) = (Recorder::new(), Recorder::new());
    let (a, b) = tokio::join!(
        get_traced(&client, &url, &ra),
        get_traced(&client, &url, &rb)
    );
    assert_eq!(a.expect("A").0, 200);
    assert_eq!(b.expect("B").0, 200);
    assert_eq!(
        resolver.calls(),
        1,
        "one lookup for two concurrent requests"
    );
    for (tag, rec) in [("A", &ra), ("B", &rb)] {
        let done = rec.dns_done();
        assert_eq!(done.len(), 1, "{tag}: {}", rec.dump());
        assert!(
            done[0].coalesced,
            "{tag}: coalesced must be true for every sharer (Go's Shared): {}",
            rec.dump()
        );
        assert_eq!(done[0].addrs, vec![LOOPBACK]);
        assert_eq!(rec.count("dns_start"), 1);
    }
}

#[tokio::test]
async fn sequential_lookups_are_not_coalesced() {
    let srv = Server::hello().start().await.unwrap();
    let resolver = Counting::new(Duration::from_millis(10));
    // No keep-alive: each request dials, so each resolves.
    let client = support::builder()
        .keep_alive(false)
        .resolver(resolver.clone())
        .build()
        .unwrap();
    let url = format!("http://seq.test:{}/", srv.port());
    for _ in 0..2 {
        let rec = Recorder::new();
        get_traced(&client, &url, &rec).await.unwrap();
        assert!(!rec.dns_done()[0].coalesced, "{}", rec.dump());
    }
    assert_eq!(resolver.calls(), 2);
}

#[tokio::test]
async fn pluggable_resolver_is_used() {
    let srv = Server::hello().start().await.unwrap();
    let resolver = Counting::new(Duration::ZERO);
    let client = support::builder()
        .resolver(resolver.clone())
        .build()
        .unwrap();
    let rec = Recorder::new();
    let url = format!("http://Plugged.TEST:{}/", srv.port());
    let (status, _) = get_traced(&client, &url, &rec)
        .await
        .expect("custom resolver");
    assert_eq!(status, 200);
    assert_eq!(resolver.calls(), 1);
    let names = resolver.names.lock().unwrap().clone();
    assert_eq!(
        names,
        strs(&["plugged.test"]),
        "bare lower-case host, no port"
    );
    assert!(rec.has("dns_start host=plugged.test"), "{}", rec.dump());
}

#[tokio::test]
async fn static_resolver_with_hosts_fallback() {
    let srv = Server::hello().start().await.unwrap();
    let resolver =
        StaticResolver::new(HostsResolver::from_contents("")).add("static.test", [LOOPBACK]);
    let client = support::builder().resolver(resolver).build().unwrap();
    let rec = Recorder::new();
    let (status, _) = get_traced(
        &client,
        &format!("http://static.test:{}/", srv.port()),
        &rec,
    )
    .await
    .expect("static entry");
    assert_eq!(status, 200);
    let rec2 = Recorder::new();
    let err = get_traced(
        &client,
        &format!("http://other.test:{}/", srv.port()),
        &rec2,
    )
    .await
    .expect_err("falls back to an empty hosts table");
    assert!(err.is_dns(), "{err:?}");
    assert_eq!(rec2.count("connect_start"), 0);
}

#[tokio::test]
async fn resolver_error_is_reported_to_dns_done() {
    let resolver = Counting::new(Duration::ZERO);
    let client = support::builder().resolver(resolver).build().unwrap();
    let rec = Recorder::new();
    let err = guard(
        client
            .get("http://not-a-test-name.invalid:9/")
            .trace(rec.trace())
            .send(),
    )
    .await
    .expect_err("the resolver fails it");
    assert!(err.is_dns(), "{err:?}");
    assert_eq!(rec.count("dns_done"), 1);
    assert_eq!(rec.count("connect_start"), 0);
    assert_eq!(rec.count("got_conn"), 0);
}
