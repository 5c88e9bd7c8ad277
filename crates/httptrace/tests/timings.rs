//! `Timings` (product.md §3): phases per hop, correct on reused connections (no phantom DNS from
//! a dial the request began and did not use) and across retries (the failed attempt has its error).

mod support;

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use httptrace::dns::{Resolve, Resolving};
use httptrace::Timings;
use httptrace_peers::http1::{Response as Reply, Server};
use httptrace_peers::{Script, ScriptedPeer};
use support::{guard, ok_response};
use tokio::sync::{oneshot, Notify};

/// Answers 127.0.0.1 at once, except the second lookup, which waits for the gate.
struct GatedResolver {
    calls: AtomicUsize,
    started: Arc<Notify>,
    gate: Mutex<Option<oneshot::Receiver<()>>>,
}

struct Shared(Arc<GatedResolver>);

impl Resolve for Shared {
    fn resolve(&self, _host: &str) -> Resolving {
        let answer = || -> io::Result<Vec<IpAddr>> { Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]) };
        let r = &self.0;
        if r.calls.fetch_add(1, Ordering::SeqCst) != 1 {
            return Box::pin(std::future::ready(answer()));
        }
        let gate = r.gate.lock().unwrap().take();
        r.started.notify_one();
        Box::pin(async move {
            if let Some(rx) = gate {
                let _ = rx.await;
            }
            answer()
        })
    }
}

/// A request whose own dial (held in DNS) is overtaken by a connection another request returns
/// gets `got_conn reused=true`; its dial goes on for nobody and its dns_done / connect hooks fire
/// later on its trace. Timings' doc (and product.md §3: "correct on reused connections (no
/// phantom DNS time)") says a hop on a reused connection has no DNS phase; Timings reports the
/// whole time from the abandoned lookup's start to its late end as the hop's DNS phase (only
/// connect_* are ignored after got_conn; dns_done, tls_* are not).
#[tokio::test]
async fn reused_hop_has_no_phantom_dns_from_an_overtaken_dial() {
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
    let timings = Timings::new();
    guard(async {
        // A: first lookup answers at once; A holds its connection until its body is read.
        let a = client.get(&url).send().await.unwrap();
        let started = resolver.started.notified();
        let (c, u, t) = (client.clone(), url.clone(), timings.trace());
        let b = tokio::spawn(async move { c.get(&u).trace(t).send().await });
        started.await;
        // B is held in its lookup; A returns its connection, which B takes.
        a.into_body().bytes().await.unwrap();
        let b = b.await.unwrap().unwrap();
        b.into_body().bytes().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Now B's abandoned lookup ends.
        open.send(()).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    })
    .await;
    let hop = timings.last().expect("one hop");
    assert_eq!(hop.reused, Some(true), "{hop:#?}");
    assert_eq!(hop.status.map(|s| s.as_u16()), Some(200));
    assert!(
        hop.dns.is_none() && hop.connect.is_none() && hop.tls.is_none(),
        "a reused hop must have no DNS/connect/TLS phase: {hop:#?}"
    );
}

/// A GET on a dead pooled connection is retried (attempt 1). The failed attempt 0 is its own hop
/// in `Timings::hops`; HopTimings documents `error` as "the error that ended the hop" and `total`
/// as "from the hop's start to its end (... or the error)". Timings reports attempt 0 with no
/// error and no total (the retry hook, which carries the error, is ignored).
#[tokio::test]
async fn failed_attempt_before_a_retry_has_its_error_and_total() {
    let s0 = Script::new()
        .read_request()
        .write(ok_response("first"))
        .read_head()
        .close();
    let s1 = Script::new()
        .read_request()
        .write(ok_response("retried"))
        .hold();
    let peer = ScriptedPeer::start(vec![s0, s1]).await.unwrap();
    let client = support::client();
    let timings = Timings::new();
    guard(async {
        let r = client.get(&peer.url("/")).send().await.unwrap();
        r.into_body().bytes().await.unwrap();
        let r = client
            .get(&peer.url("/"))
            .trace(timings.trace())
            .send()
            .await
            .expect("retried");
        r.into_body().bytes().await.unwrap();
    })
    .await;
    let hops = timings.hops();
    assert_eq!(hops.len(), 2, "{hops:#?}");
    assert_eq!(hops[0].attempt, 0);
    assert_eq!(hops[1].attempt, 1);
    assert_eq!(hops[0].reused, Some(true), "{hops:#?}");
    assert!(
        hops[0].error.is_some(),
        "attempt 0 ended in an error: {hops:#?}"
    );
    assert!(hops[0].total.is_some(), "attempt 0 has an end: {hops:#?}");
    assert_eq!(hops[1].status.map(|s| s.as_u16()), Some(200));
}
