//! The trace API itself: composition, the got_1xx error rule, empty traces, untraced requests.

mod support;

use std::error::Error as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use httptrace::{Body, ClientTrace, RequestTraceExt};
use httptrace_peers::{Response, Server};
use support::{guard, HookError, Recorder};

fn logger(log: &Arc<Mutex<Vec<String>>>, tag: &'static str) -> ClientTrace {
    let l1 = log.clone();
    let l2 = log.clone();
    let l3 = log.clone();
    let l4 = log.clone();
    ClientTrace::new()
        .on_get_conn(move |_| l1.lock().unwrap().push(format!("get_conn {tag}")))
        .on_got_conn(move |_| l2.lock().unwrap().push(format!("got_conn {tag}")))
        .on_wrote_headers(move || l3.lock().unwrap().push(format!("wrote_headers {tag}")))
        .on_put_idle_conn(move |_| l4.lock().unwrap().push(format!("put_idle_conn {tag}")))
}

#[tokio::test]
async fn composition_runs_both_newer_first() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::client();
    let log = Arc::new(Mutex::new(Vec::new()));

    let mut req = http::Request::get(srv.url("/"))
        .body(Body::empty())
        .unwrap();
    let l = log.clone();
    logger(&log, "old")
        .on_got_first_response_byte(move || {
            l.lock().unwrap().push("got_first_response_byte old".into())
        })
        .attach(&mut req);
    // The newer trace also has a hook the older lacks, and lacks none the older has.
    let l = log.clone();
    let newer = logger(&log, "new")
        .on_wrote_request(move |_| l.lock().unwrap().push("wrote_request new".into()));
    let req = req.with_trace(newer);

    let resp = guard(client.execute(req)).await.expect("request");
    assert_eq!(resp.status(), 200);
    let body = guard(resp.into_body().bytes()).await.unwrap();
    assert_eq!(&body[..], b"Hello, world!");

    let got = log.lock().unwrap().clone();
    assert_eq!(
        got,
        support::strs(&[
            "get_conn new",
            "get_conn old",
            "got_conn new",
            "got_conn old",
            "wrote_headers new",
            "wrote_headers old",
            "wrote_request new",
            "got_first_response_byte old",
            "put_idle_conn new",
            "put_idle_conn old",
        ]),
        "composed hooks must both run, newest first"
    );
}

#[tokio::test]
async fn composition_of_three_traces_keeps_lifo_order() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::client();
    let log = Arc::new(Mutex::new(Vec::new()));
    let req = http::Request::get(srv.url("/"))
        .body(Body::empty())
        .unwrap()
        .with_trace(logger(&log, "1"))
        .with_trace(logger(&log, "2"))
        .with_trace(logger(&log, "3"));
    let resp = guard(client.execute(req)).await.unwrap();
    guard(resp.into_body().bytes()).await.unwrap();
    let got = log.lock().unwrap().clone();
    let get_conns: Vec<_> = got
        .iter()
        .filter(|s| s.starts_with("get_conn"))
        .cloned()
        .collect();
    assert_eq!(
        get_conns,
        support::strs(&["get_conn 3", "get_conn 2", "get_conn 1"])
    );
}

/// A 1xx hook that counts its calls and returns `result`.
fn hook_1xx(calls: &Arc<Mutex<Vec<String>>>, tag: &'static str, fail: bool) -> ClientTrace {
    let c = calls.clone();
    ClientTrace::new().on_got_1xx_response(move |code, _h| {
        c.lock().unwrap().push(format!("{tag} {}", code.as_u16()));
        if fail {
            Err(Box::new(HookError(tag.to_string())) as httptrace::BoxError)
        } else {
            Ok(())
        }
    })
}

async fn early_hints_server() -> httptrace_peers::ServerHandle {
    Server::builder()
        .handler(|_| Response::hello().early_hints(&["</style.css>; rel=preload"]))
        .start()
        .await
        .unwrap()
}

async fn run_1xx(old_fails: bool, new_fails: bool) -> (Result<u16, httptrace::Error>, Vec<String>) {
    let srv = early_hints_server().await;
    let client = support::client();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let req = http::Request::get(srv.url("/"))
        .body(Body::empty())
        .unwrap()
        .with_trace(hook_1xx(&calls, "old", old_fails))
        .with_trace(hook_1xx(&calls, "new", new_fails));
    let res = guard(client.execute(req))
        .await
        .map(|r| r.status().as_u16());
    let c = calls.lock().unwrap().clone();
    (res, c)
}

fn hook_source(err: &httptrace::Error) -> Option<HookError> {
    err.source()
        .and_then(|s| s.downcast_ref::<HookError>())
        .cloned()
}

#[tokio::test]
async fn got_1xx_both_fail_newer_error_wins() {
    let (res, calls) = run_1xx(true, true).await;
    assert_eq!(
        calls,
        support::strs(&["new 103", "old 103"]),
        "both hooks must run, newer first"
    );
    let err = res.expect_err("a failing 1xx hook must abort the request");
    assert!(err.is_hook(), "is_hook() expected, got {err:?}");
    assert_eq!(
        hook_source(&err),
        Some(HookError("new".into())),
        "source() must be the newer hook's own error, got {err:?}"
    );
}

#[tokio::test]
async fn got_1xx_only_old_fails_aborts_with_old_error() {
    let (res, calls) = run_1xx(true, false).await;
    assert_eq!(calls, support::strs(&["new 103", "old 103"]));
    let err = res.expect_err("the older hook's error must abort the request");
    assert!(err.is_hook(), "{err:?}");
    assert_eq!(hook_source(&err), Some(HookError("old".into())), "{err:?}");
}

#[tokio::test]
async fn got_1xx_only_new_fails_aborts_with_new_error() {
    // Deliberate difference from Go (product.md §1): the newer hook's error is not dropped.
    let (res, calls) = run_1xx(false, true).await;
    assert_eq!(
        calls,
        support::strs(&["new 103", "old 103"]),
        "both run even when the newer fails"
    );
    let err = res.expect_err("the newer hook's error must abort the request");
    assert!(err.is_hook(), "{err:?}");
    assert_eq!(hook_source(&err), Some(HookError("new".into())), "{err:?}");
}

#[tokio::test]
async fn got_1xx_both_ok_request_proceeds() {
    let (res, calls) = run_1xx(false, false).await;
    assert_eq!(calls, support::strs(&["new 103", "old 103"]));
    assert_eq!(res.expect("no hook failed"), 200);
}

#[tokio::test]
async fn attaching_an_empty_trace_works() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::client();
    let empty = ClientTrace::new();
    assert!(empty.is_empty());
    let resp = guard(client.get(&srv.url("/")).trace(empty).send())
        .await
        .expect("request with an empty trace");
    assert_eq!(resp.status(), 200);
    let body = guard(resp.into_body().bytes()).await.unwrap();
    assert_eq!(&body[..], b"Hello, world!");
}

#[tokio::test]
async fn empty_trace_composed_over_a_full_one_keeps_its_hooks() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let req = http::Request::get(srv.url("/"))
        .body(Body::empty())
        .unwrap()
        .with_trace(rec.trace())
        .with_trace(ClientTrace::new());
    let resp = guard(client.execute(req)).await.unwrap();
    guard(resp.into_body().bytes()).await.unwrap();
    assert_eq!(rec.count("get_conn"), 1, "{}", rec.dump());
    assert_eq!(rec.count("put_idle_conn"), 1, "{}", rec.dump());
}

#[tokio::test]
async fn untraced_request_gives_the_identical_response() {
    let srv = Server::builder()
        .handler(|req| Response::text(format!("path={}", req.target)).header("X-Custom", "v1"))
        .start()
        .await
        .unwrap();
    let client = support::client();

    let plain = guard(client.get(&srv.url("/a?b=c")).send())
        .await
        .expect("untraced");
    let rec = Recorder::new();
    let traced = guard(client.get(&srv.url("/a?b=c")).trace(rec.trace()).send())
        .await
        .expect("traced");

    assert_eq!(plain.status(), traced.status());
    assert_eq!(plain.version(), traced.version());
    assert_eq!(plain.headers(), traced.headers());
    assert!(ClientTrace::from_request(&http::Request::new(())).is_none());
    let b1 = guard(plain.into_body().bytes()).await.unwrap();
    let b2 = guard(traced.into_body().bytes()).await.unwrap();
    assert_eq!(b1, b2);
    assert_eq!(&b1[..], b"path=/a?b=c");
    assert!(
        rec.count("got_conn") == 1,
        "the traced one was traced: {}",
        rec.dump()
    );
    assert_eq!(srv.requests_served(), 2);
}

#[test]
fn client_trace_is_clone_send_sync_static() {
    fn assert_bounds<T: Clone + Send + Sync + 'static>() {}
    assert_bounds::<ClientTrace>();

    // A clone shares the hooks (same closures, same captured state).
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let t = ClientTrace::new().on_get_conn(move |_| {
        n2.fetch_add(1, Ordering::SeqCst);
    });
    let t2 = t.clone();
    let handle = std::thread::spawn(move || {
        // Moved to another thread: Send + 'static.
        let dbg = format!("{t2:?}");
        assert!(dbg.contains("get_conn"), "{dbg}");
        t2
    });
    let t2 = handle.join().unwrap();
    assert!(!t.is_empty() && !t2.is_empty());
    let mut req = http::Request::new(());
    t2.attach(&mut req);
    assert!(ClientTrace::from_request(&req).is_some());
    assert_eq!(n.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn cloned_trace_records_into_the_same_state() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::client();
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let t = ClientTrace::new().on_get_conn(move |_| {
        n2.fetch_add(1, Ordering::SeqCst);
    });
    for _ in 0..2 {
        let resp = guard(client.get(&srv.url("/")).trace(t.clone()).send())
            .await
            .unwrap();
        guard(resp.into_body().bytes()).await.unwrap();
    }
    assert_eq!(n.load(Ordering::SeqCst), 2);
}
