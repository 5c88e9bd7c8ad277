//! curl-like flags (product.md §4): `-H 'Name:'` removes a field, `-m 0` and
//! `--connect-timeout 0` mean no limit, `-L --max-redirs 0` refuses a redirect, credentials in
//! the URL go out as Basic auth, and `-o FILE` failing is not reported as saved.

mod common;

use common::*;
use httptrace_peers::{Response, Server, ServerHandle};

async fn redirecting_server() -> ServerHandle {
    Server::builder()
        .handler(|req| match req.path() {
            "/old" => Response::new(302).header("Location", "/new"),
            _ => Response::hello(),
        })
        .start()
        .await
        .expect("server")
}

/// curl: `-H "X-Name:"` (nothing after the colon) removes the header (internal ones included:
/// `-H "Content-Type:"` drops -d's default); `-H "X-Name;"` sends it empty. httptrace sends
/// `X-Name: ` with an empty value in both cases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_with_nothing_after_the_colon_is_not_sent() {
    let srv = Server::hello().start().await.expect("server");
    let run = run([
        srv.url("/").as_str(),
        "-H",
        "X-Empty:",
        "-H",
        "Content-Type:",
        "-d",
        "a=1",
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].header("x-empty"), None, "{:?}", reqs[0].headers);
    assert_eq!(
        reqs[0].header("content-type"),
        None,
        "{:?}",
        reqs[0].headers
    );
}

/// curl: `-m 0` means no time limit (libcurl's CURLOPT_TIMEOUT 0 = never). httptrace fails at
/// once with "request timeout".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_time_zero_means_no_limit() {
    let srv = Server::hello().start().await.expect("server");
    let run = run([srv.url("/").as_str(), "-m", "0", "--events", "ndjson"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let evs = events(&run);
    assert_eq!(result_of(&evs, 0)["status"], 200, "{run:?}");
}

/// curl: `--connect-timeout 0` means the default connect limit (libcurl's CURLOPT_CONNECTTIMEOUT
/// 0). httptrace fails every connection at once with "connect timeout".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeout_zero_means_no_limit() {
    let srv = Server::hello().start().await.expect("server");
    let run = run([
        srv.url("/").as_str(),
        "--connect-timeout",
        "0",
        "--events",
        "ndjson",
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let evs = events(&run);
    assert_eq!(result_of(&evs, 0)["status"], 200, "{run:?}");
}

/// curl: `-L --max-redirs 0` refuses the first redirect ("Maximum (0) redirects followed",
/// exit 47), as `-L --max-redirs 3` fails on the fourth. httptrace returns the 302 as a
/// success (exit 0), exactly as without -L.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn location_with_max_redirs_zero_fails_on_a_redirect() {
    let srv = redirecting_server().await;
    let run = run([
        srv.url("/old").as_str(),
        "-L",
        "--max-redirs",
        "0",
        "--events",
        "ndjson",
    ])
    .await;
    assert_ne!(run.code, Some(0), "{run:?}");
    let evs = events(&run);
    assert!(result_of(&evs, 0)["err"].is_string(), "{run:?}");
}

/// curl and Go's client both send `Authorization: Basic base64(user:pass)` for credentials in
/// the URL. httptrace drops them silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_credentials_are_sent_as_basic_auth() {
    let srv = Server::hello().start().await.expect("server");
    let url = format!("http://user:pass@127.0.0.1:{}/", srv.port());
    let run = run([url.as_str()]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1);
    // base64("user:pass")
    assert_eq!(
        reqs[0].header("authorization"),
        Some("Basic dXNlcjpwYXNz"),
        "{:?}",
        reqs[0].headers
    );
}

/// When `-o FILE` cannot be created, the body is not read and nothing is saved, yet the human
/// output claims `Body 0 bytes (saved to FILE)` before printing the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_file_that_cannot_be_created_is_not_reported_as_saved() {
    let srv = Server::hello().start().await.expect("server");
    let missing_dir = std::env::temp_dir().join(format!(
        "httptrace-cli-review-missing-{}",
        std::process::id()
    ));
    let file = missing_dir.join("body.txt");
    let path = file.to_string_lossy().into_owned();
    let run = run([srv.url("/").as_str(), "-o", path.as_str()]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        !run.stdout.contains("saved to"),
        "nothing was saved: {}",
        run.stdout
    );
}

/// curl: `--max-redirs -1` means no limit; below -1 is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_redirs_minus_one_means_no_limit() {
    let srv = redirecting_server().await;
    let run1 = run([
        srv.url("/old").as_str(),
        "-L",
        "--max-redirs",
        "-1",
        "--events",
        "ndjson",
    ])
    .await;
    assert_eq!(run1.code, Some(0), "{run1:?}");
    let evs = events(&run1);
    assert_eq!(result_of(&evs, 0)["status"], 200, "{run1:?}");
    let run2 = run([srv.url("/old").as_str(), "-L", "--max-redirs", "-2"]).await;
    assert_eq!(run2.code, Some(2), "{run2:?}");
}
