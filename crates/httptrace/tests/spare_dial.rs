//! Spare dials: when a dialing request takes a connection another request returned, its dial
//! goes on for nobody. A request that then finds no idle connection waits for that dial
//! (`pool_wait_start reason=spare_dial`) instead of dialing one more; if the spare dial fails,
//! it dials after all.
//!
//! The second lookup of the test resolver blocks until the test opens its gate, which makes
//! the second request's dial slow enough for the first request's connection to come back first.

mod support;

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Response;
use httptrace::dns::{Resolve, Resolving};
use httptrace::{Client, Incoming};
use httptrace_peers::http1::{Response as Reply, Server, ServerHandle};
use support::{guard, Recorder};
use tokio::sync::{oneshot, Notify};

/// Answers 127.0.0.1 at once, except the second lookup: that one waits for the gate, then
/// answers or fails.
struct GatedResolver {
    calls: AtomicUsize,
    started: Arc<Notify>,
    gate: Mutex<Option<oneshot::Receiver<bool>>>,
}

/// The client's handle on the shared [`GatedResolver`].
struct Shared(Arc<GatedResolver>);

impl Resolve for Shared {
    fn resolve(&self, _host: &str) -> Resolving {
        let answer = || Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        let r = &self.0;
        if r.calls.fetch_add(1, Ordering::SeqCst) != 1 {
            return Box::pin(std::future::ready(answer()));
        }
        let gate = r.gate.lock().unwrap().take();
        r.started.notify_one();
        Box::pin(async move {
            let open = match gate {
                Some(rx) => rx.await.unwrap_or(false),
                None => true,
            };
            if open {
                answer()
            } else {
                Err(io::Error::other("gated lookup failed"))
            }
        })
    }
}

struct Setup {
    srv: ServerHandle,
    client: Client,
    url: String,
    resolver: Arc<GatedResolver>,
    gate: Mutex<Option<oneshot::Sender<bool>>>,
}

impl Setup {
    /// Let the gated lookup answer (`true`) or fail.
    fn open_gate(&self, answer: bool) {
        let tx = self.gate.lock().unwrap().take().unwrap();
        tx.send(answer).unwrap();
    }
}

async fn setup() -> Setup {
    let srv = Server::builder()
        .handler(|_req| Reply::hello())
        .start()
        .await
        .unwrap();
    let (open, rx) = oneshot::channel();
    let resolver = Arc::new(GatedResolver {
        calls: AtomicUsize::new(0),
        started: Arc::new(Notify::new()),
        gate: Mutex::new(Some(rx)),
    });
    let client = support::builder()
        .resolver(Shared(resolver.clone()))
        .build()
        .unwrap();
    let url = format!("http://spare.test:{}/", srv.port());
    Setup {
        srv,
        client,
        url,
        resolver,
        gate: Mutex::new(Some(open)),
    }
}

/// Request A on a first connection; request B dials (held at the gate) and takes A's connection
/// when A's body is read, which leaves B's dial spare; then request C starts and is waiting on
/// it. Returns B's response and C's task.
async fn spare_dial_with_a_waiter(
    s: &Setup,
    rb: &Recorder,
    rc: &Recorder,
) -> (
    Response<Incoming>,
    tokio::task::JoinHandle<Result<Response<Incoming>, httptrace::Error>>,
) {
    let a = s.client.get(&s.url).send().await.unwrap();
    let started = s.resolver.started.notified();
    let (c, url, t) = (s.client.clone(), s.url.clone(), rb.trace());
    let b = tokio::spawn(async move { c.get(&url).trace(t).send().await });
    started.await;
    hello(a).await;
    let b = b.await.unwrap().unwrap();
    assert!(
        rb.has("got_conn reused=true was_idle=false"),
        "B took A's connection: {}",
        rb.dump()
    );
    let (c, url, t) = (s.client.clone(), s.url.clone(), rc.trace());
    let task = tokio::spawn(async move { c.get(&url).trace(t).send().await });
    while rc.count("pool_wait_start") == 0 {
        assert!(
            !task.is_finished(),
            "C ended without waiting: {}",
            rc.dump()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    (b, task)
}

/// The body is the test server's.
async fn hello(resp: Response<Incoming>) {
    assert_eq!(
        &resp.into_body().bytes().await.unwrap()[..],
        b"Hello, world!"
    );
}

/// B's dial spare and C waiting on it (`spare_dial_with_a_waiter`), then B's lookup answers
/// (`answer`) or fails; both requests complete.
async fn spare_dial_then_gate(s: &Setup, rb: &Recorder, rc: &Recorder, answer: bool) {
    guard(async {
        let (b, c) = spare_dial_with_a_waiter(s, rb, rc).await;
        assert!(rc.has("pool_wait_start reason=spare_dial"), "{}", rc.dump());
        s.open_gate(answer);
        hello(c.await.unwrap().unwrap()).await;
        hello(b).await;
    })
    .await;
}

#[tokio::test]
async fn a_request_waits_for_a_spare_dial_instead_of_dialing() {
    let s = setup().await;
    let (rb, rc) = (Recorder::new(), Recorder::new());
    spare_dial_then_gate(&s, &rb, &rc, true).await;
    // C got the spare dial's connection: no dial of its own.
    let ev = rc.events();
    let wait = ev.iter().position(|e| e == "pool_wait_done").unwrap();
    let got = ev.iter().position(|e| e.starts_with("got_conn")).unwrap();
    assert!(wait < got, "{}", rc.dump());
    assert!(
        rc.has("got_conn reused=true was_idle=false"),
        "{}",
        rc.dump()
    );
    for hook in ["new_conn", "dns_start", "connect_start"] {
        assert_eq!(rc.count(hook), 0, "{hook}: {}", rc.dump());
    }
    // B's dial ran on B's trace, after B had its response.
    assert_eq!(rb.count("dns_start"), 1, "{}", rb.dump());
    assert_eq!(s.srv.connections_accepted(), 2);
}

#[tokio::test]
async fn a_failed_spare_dial_sends_its_waiter_to_dial() {
    let s = setup().await;
    let (rb, rc) = (Recorder::new(), Recorder::new());
    spare_dial_then_gate(&s, &rb, &rc, false).await;
    let ev = rc.events();
    let pos = |p: &str| {
        ev.iter()
            .position(|e| e.starts_with(p))
            .unwrap_or_else(|| panic!("no {p}: {}", rc.dump()))
    };
    assert!(pos("pool_wait_start reason=spare_dial") < pos("pool_wait_done"));
    assert!(pos("pool_wait_done") < pos("new_conn"));
    assert!(pos("new_conn") < pos("dns_start"));
    assert!(pos("connect_done") < pos("got_conn"));
    assert!(
        rc.has("got_conn reused=false was_idle=false"),
        "{}",
        rc.dump()
    );
    assert!(
        rb.events()
            .iter()
            .any(|e| e.starts_with("dns_done") && e.contains("err=err")),
        "{}",
        rb.dump()
    );
    assert_eq!(s.srv.connections_accepted(), 2);
}

/// A request whose dial ends after a returned connection was handed to it, but before it ran
/// again, takes the handed-over connection, and its dialed connection goes to the pool (not
/// away with the channel): two later concurrent requests find both idle, and no third
/// connection is opened.
#[tokio::test]
async fn a_dial_that_ends_after_a_handover_keeps_its_connection() {
    let s = setup().await;
    let rr = Recorder::new();
    guard(async {
        let a = s.client.get(&s.url).send().await.unwrap();
        let started = s.resolver.started.notified();
        let mut r = std::pin::pin!(s.client.get(&s.url).trace(rr.trace()).send());
        let once = std::future::poll_fn(|cx| std::task::Poll::Ready(r.as_mut().poll(cx)));
        assert!(once.await.is_pending(), "R is dialing");
        started.await;
        // The gate opens and A returns its connection (to R, still dialing) before the dial
        // task runs again; then the dial ends and sends its connection, R still not polled.
        s.open_gate(true);
        hello(a).await;
        while rr.count("connect_done") == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let resp = r.await.unwrap();
        assert!(
            rr.has("got_conn reused=true was_idle=false"),
            "R takes the handed-over connection: {}",
            rr.dump()
        );
        hello(resp).await;
        let (d1, d2) = tokio::join!(s.client.get(&s.url).send(), s.client.get(&s.url).send());
        for d in [d1.unwrap(), d2.unwrap()] {
            hello(d).await;
        }
    })
    .await;
    assert_eq!(s.srv.connections_accepted(), 2);
}
