//! `--dns hosts`: names come from /etc/hosts only; others fail at once.

mod common;

use common::*;
use httptrace_peers::Server;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_name_fails_in_dns() {
    let run = run([
        "http://no-such-host.invalid/",
        "--http1.1",
        "--dns",
        "hosts",
        "--events",
        "ndjson",
    ])
    .await;
    assert_ne!(run.code, Some(0), "{run:?}");
    let evs = events(&run);
    check_schema(&evs, false);
    assert_eq!(
        canonical(&evs),
        ["get_conn", "dns_start", "dns_done", "result"],
        "{evs:#?}"
    );
    assert_eq!(
        first_named(&evs, "get_conn")["host_port"],
        "no-such-host.invalid:80"
    );
    assert_eq!(
        first_named(&evs, "dns_start")["host"],
        "no-such-host.invalid"
    );
    let done = first_named(&evs, "dns_done");
    assert!(done["err"].is_string(), "{done:?}");
    assert_eq!(done["addrs"], serde_json::json!([]));
    assert_eq!(done["coalesced"], Value::Bool(false));
    let r = result_of(&evs, 0);
    assert_eq!(r["status"], Value::Null);
    assert!(r["err"].is_string());
    assert_eq!(r["body_bytes"], 0);
    assert!(run.stderr.starts_with("httptrace: "), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localhost_fires_dns_hooks() {
    let srv = Server::hello()
        .dual_stack(true)
        .start()
        .await
        .expect("server");
    let run = run([
        &srv.url_localhost("/"),
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
    assert_eq!(first_named(&evs, "dns_start")["host"], "localhost");
    let done = first_named(&evs, "dns_done");
    assert_eq!(done["err"], Value::Null);
    assert!(
        !done["addrs"].as_array().is_some_and(Vec::is_empty),
        "{done:?}"
    );
    assert_eq!(result_of(&evs, 0)["body_bytes"], 13);
}
