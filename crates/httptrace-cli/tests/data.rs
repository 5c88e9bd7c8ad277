//! `-d` and `--data-binary`: bodies, implied POST, curl's Content-Type rule.

mod common;

use common::*;
use httptrace_peers::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_is_form_encoded_post() {
    let srv = Server::hello().start().await.expect("server");
    let run = run([srv.url("/").as_str(), "-d", "a=1", "-d", "b=2"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, http::Method::POST);
    assert_eq!(&reqs[0].body[..], b"a=1&b=2");
    assert_eq!(
        reqs[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_binary_file_is_sent_byte_for_byte() {
    let srv = Server::hello().start().await.expect("server");
    let file = std::env::temp_dir().join(format!("httptrace-cli-data-{}.bin", std::process::id()));
    std::fs::write(&file, b"line 1\r\nline 2\n\x00end").expect("write");
    let arg = format!("@{}", file.display());
    let run = run([
        srv.url("/").as_str(),
        "-X",
        "PUT",
        "-H",
        "X-Test: yes",
        "--data-binary",
        arg.as_str(),
    ])
    .await;
    let _ = std::fs::remove_file(&file);
    assert_eq!(run.code, Some(0), "{run:?}");
    let reqs = srv.requests();
    assert_eq!(reqs[0].method, http::Method::PUT);
    assert_eq!(&reqs[0].body[..], b"line 1\r\nline 2\n\x00end");
    assert_eq!(reqs[0].header("x-test"), Some("yes"));
    assert_eq!(reqs[0].header("content-type"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2() {
    let bad_header = run(["http://127.0.0.1:1/", "-H", "no colon"]).await;
    assert_eq!(bad_header.code, Some(2), "{bad_header:?}");
    let mixed = run(["http://127.0.0.1:1/", "--events", "ndjson", "-o", "-"]).await;
    assert_eq!(mixed.code, Some(2), "{mixed:?}");
    let unknown = run(["http://127.0.0.1:1/", "--no-such-flag"]).await;
    assert_eq!(unknown.code, Some(2), "{unknown:?}");
}
