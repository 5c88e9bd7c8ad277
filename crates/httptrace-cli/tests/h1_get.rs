//! `--events ndjson` for one plain HTTP/1.1 GET: the schema of every line and Go's sequence.

mod common;

use common::*;
use httptrace_peers::Server;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h1_get_schema_and_sequence() {
    let srv = Server::hello().start().await.expect("server");
    let url = srv.url("/");
    let run = run([
        url.as_str(),
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
    assert!(evs.iter().all(|e| req(e) == 0));
    assert_eq!(
        canonical(&evs),
        [
            "get_conn",
            "connect_start",
            "connect_done",
            "got_conn",
            "headers",
            "wrote_headers",
            "wrote_request",
            "got_first_response_byte",
            "put_idle_conn",
            "result"
        ],
        "{evs:#?}"
    );
    let hp = format!("127.0.0.1:{}", srv.port());
    assert_eq!(first_named(&evs, "get_conn")["host_port"], hp.as_str());
    let cs = first_named(&evs, "connect_start");
    assert_eq!(cs["network"], "tcp");
    assert_eq!(cs["addr"], hp.as_str());
    assert_eq!(first_named(&evs, "connect_done")["err"], Value::Null);
    let gc = first_named(&evs, "got_conn");
    assert_eq!(
        (&gc["reused"], &gc["was_idle"]),
        (&Value::Bool(false), &Value::Bool(false))
    );
    let host = first_named(&evs, "wrote_header_field");
    assert_eq!(
        host["key"], "Host",
        "Host is the first header field reported"
    );
    assert_eq!(host["values"], serde_json::json!([hp]));
    assert_eq!(first_named(&evs, "put_idle_conn")["err"], Value::Null);
    let r = result_of(&evs, 0);
    assert_eq!(r["status"], 200);
    assert_eq!(r["err"], Value::Null);
    assert_eq!(r["body_bytes"], 13);
    // No header field after wrote_headers.
    let wh = evs
        .iter()
        .position(|e| name(e) == "wrote_headers")
        .expect("wrote_headers");
    assert!(evs[wh..].iter().all(|e| name(e) != "wrote_header_field"));
}
