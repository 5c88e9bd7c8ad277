//! 103 Early Hints: reported by got_1xx_response; `--abort-on-1xx` fails the request.

mod common;

use common::*;
use httptrace_peers::{Response, Server};
use serde_json::{json, Value};

async fn hints_server() -> httptrace_peers::ServerHandle {
    Server::builder()
        .handler(|_| {
            Response::hello()
                .early_hints(&["</style.css>; rel=preload; as=style"])
                .early_hints(&["</script.js>; rel=preload; as=script"])
        })
        .start()
        .await
        .expect("server")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_hints_are_reported() {
    let srv = hints_server().await;
    let run = run([
        &srv.url("/"),
        "--http1.1",
        "--dns",
        "hosts",
        "--events",
        "ndjson",
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let evs = events(&run);
    check_schema(&evs, false);
    let hints: Vec<_> = evs
        .iter()
        .filter(|e| name(e) == "got_1xx_response")
        .collect();
    assert_eq!(hints.len(), 2, "{evs:#?}");
    assert_eq!(hints[0]["code"], 103);
    assert_eq!(
        hints[0]["header"],
        json!({"Link": ["</style.css>; rel=preload; as=style"]})
    );
    assert_eq!(
        hints[1]["header"],
        json!({"Link": ["</script.js>; rel=preload; as=script"]})
    );
    // serde_json does not escape '<' or '>'.
    assert!(run.stdout.contains("</style.css>"));
    assert_eq!(result_of(&evs, 0)["status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_on_1xx_fails_the_request() {
    let srv = hints_server().await;
    let run = run([
        &srv.url("/"),
        "--http1.1",
        "--abort-on-1xx",
        "--dns",
        "hosts",
        "--events",
        "ndjson",
    ])
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let evs = events(&run);
    check_schema(&evs, false);
    let hints: Vec<_> = evs
        .iter()
        .filter(|e| name(e) == "got_1xx_response")
        .collect();
    assert_eq!(hints.len(), 1, "the first hook error aborts: {evs:#?}");
    let r = result_of(&evs, 0);
    assert_eq!(r["status"], Value::Null);
    assert!(r["err"].is_string(), "{r:?}");
    assert_eq!(r["body_bytes"], 0);
    assert!(evs.iter().all(|e| name(e) != "put_idle_conn"));
    assert!(run.stderr.contains("httptrace:"), "{run:?}");
}
