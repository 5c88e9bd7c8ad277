//! The public resolver API (`httptrace::dns`), used the way an application would.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use httptrace::dns::{HostsResolver, Resolve, Resolving, StaticResolver, SystemResolver};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// A resolver written by a user: counts its calls, answers loopback for `*.test`.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Resolve for Counting {
    fn resolve(&self, host: &str) -> Resolving {
        self.0.fetch_add(1, Ordering::SeqCst);
        let ok = host.ends_with(".test");
        Box::pin(async move {
            if ok {
                Ok(vec![V6, V4])
            } else {
                Err(io::Error::new(io::ErrorKind::NotFound, "not a test name"))
            }
        })
    }
}

#[tokio::test]
async fn hosts_resolver_answers_from_contents_only() {
    let r = HostsResolver::from_contents(
        "# test hosts\n127.0.0.1 Localhost app.test\n::1 localhost # v6\n",
    );
    assert_eq!(r.resolve("localhost").await.unwrap(), vec![V4, V6]);
    assert_eq!(r.resolve("APP.test.").await.unwrap(), vec![V4]);
    let e = r.resolve("example.com").await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert_eq!(e.to_string(), "no such host (hosts-only resolver)");

    let parsed: HostsResolver = "10.0.0.1 x.test".parse().unwrap();
    assert!(parsed.resolve("x.test").await.is_ok());
}

#[tokio::test]
async fn etc_hosts_resolver_fails_unknown_names_at_once() {
    let r = HostsResolver::new();
    let t0 = std::time::Instant::now();
    let e = r
        .resolve("definitely-not-in-etc-hosts.invalid")
        .await
        .unwrap_err();
    assert!(t0.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
}

#[tokio::test]
async fn static_resolver_overrides_then_falls_back() {
    let fallback = Arc::new(Counting::default());
    let r = StaticResolver::new(fallback.clone()).add("pinned.test", [V4]);
    assert_eq!(r.resolve("PINNED.test").await.unwrap(), vec![V4]);
    assert_eq!(fallback.0.load(Ordering::SeqCst), 0);
    assert_eq!(r.resolve("other.test").await.unwrap(), vec![V6, V4]);
    assert_eq!(fallback.0.load(Ordering::SeqCst), 1);
    assert!(r.resolve("example.com").await.is_err());
}

#[tokio::test]
async fn resolvers_are_object_safe_and_shareable() {
    let all: Vec<Arc<dyn Resolve>> = vec![
        Arc::new(SystemResolver),
        Arc::new(HostsResolver::from_contents("127.0.0.1 localhost")),
        Arc::new(StaticResolver::new(SystemResolver).add("localhost", [V4])),
        Arc::new(Counting::default()),
    ];
    for r in &all[..3] {
        let addrs = r.resolve("localhost").await.unwrap();
        assert!(
            !addrs.is_empty() && addrs.iter().all(|a| a.is_loopback()),
            "{r:?}: {addrs:?}"
        );
    }
    // Resolving futures are Send: they can run on any task.
    let r = all[3].clone();
    let h = tokio::spawn(async move { r.resolve("a.test").await });
    assert_eq!(h.await.unwrap().unwrap(), vec![V6, V4]);
}
