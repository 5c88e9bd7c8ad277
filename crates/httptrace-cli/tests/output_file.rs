//! `-o FILE` saves the body; the default output is for a person.

mod common;

use common::*;
use httptrace_peers::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_file_gets_the_body() {
    let srv = Server::hello().start().await.expect("server");
    let dir = std::env::temp_dir().join(format!("httptrace-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let file = dir.join("body.txt");
    let path = file.to_string_lossy().into_owned();
    let run = run([srv.url("/").as_str(), "-o", path.as_str()]).await;
    let body = std::fs::read_to_string(&file);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(body.expect("body file"), "Hello, world!");
    assert!(run.stdout.contains("HTTP/1.1 200 OK"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("Connected to 127.0.0.1:{}", srv.port())),
        "{}",
        run.stdout
    );
    for label in [
        "TCP connect",
        "Server processing",
        "Content transfer",
        "Total",
    ] {
        assert!(run.stdout.contains(label), "{label}: {}", run.stdout);
    }
    assert!(
        !run.stdout.contains('\x1b'),
        "no colour when not a terminal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_is_discarded_without_output() {
    let srv = Server::hello().start().await.expect("server");
    let run = run([srv.url("/").as_str()]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(!run.stdout.contains("Hello, world!"), "{}", run.stdout);
    assert!(run.stdout.contains("13 bytes"), "{}", run.stdout);
}
