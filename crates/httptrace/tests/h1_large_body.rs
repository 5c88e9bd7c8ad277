//! HTTP/1.1 bodies that arrive in several pieces with pauses in between: the body reader stalls
//! mid-body (and asks for a quick ACK on Linux) and still delivers every byte, in order, and
//! returns the connection to the pool.

mod support;

use std::time::Duration;

use bytes::Bytes;
use httptrace_peers::{Script, ScriptedPeer};
use support::{get_traced, Recorder};

const PAUSE: Duration = Duration::from_millis(30);

fn has(rec: &Recorder, event: &str) -> bool {
    rec.events().iter().any(|e| e == event)
}

/// A body with a pattern that catches reordered, lost or repeated bytes.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
        .collect()
}

#[tokio::test]
async fn content_length_body_in_pieces_with_pauses() {
    let body = pattern(64 * 1024);
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    // The head with a first slice, then the rest in uneven pieces, the last one short (the
    // shape nginx produces with sendfile + tcp_nopush).
    let cuts = [0usize, 1000, 40_000, 65_000, body.len()];
    let mut script = Script::new().read_head().write(head);
    for w in cuts.windows(2) {
        script = script
            .write(Bytes::copy_from_slice(&body[w[0]..w[1]]))
            .sleep(PAUSE);
    }
    let script = script
        .read_head()
        .write(support::ok_response("after"))
        .hold();
    let peer = ScriptedPeer::start(vec![script]).await.unwrap();
    let client = support::client();

    let rec = Recorder::new();
    let (status, got) = get_traced(&client, &peer.url("/big"), &rec).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(got.len(), body.len());
    assert!(got[..] == body[..], "body bytes differ");
    assert!(has(&rec, "put_idle_conn nil"), "{}", rec.dump());

    // The connection is reused: the stalled reads left it in step.
    let r2 = Recorder::new();
    let (_, next) = get_traced(&client, &peer.url("/next"), &r2).await.unwrap();
    assert_eq!(&next[..], b"after");
    assert!(
        has(&r2, "got_conn reused=true was_idle=true"),
        "{}",
        r2.dump()
    );
    assert_eq!(peer.connections_accepted(), 1);
}

#[tokio::test]
async fn chunked_body_split_mid_chunk_with_pauses() {
    let body = pattern(48 * 1024);
    let mut wire = Vec::new();
    for c in body.chunks(10_000) {
        wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        wire.extend_from_slice(c);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    // Cut inside chunk data, inside a size line, and inside the final CRLF.
    let size_line = 10_000 + 2 + 4 + 2 + 2; // one whole chunk plus the next size line's start
    let cuts = [0usize, 5_000, size_line, 30_001, wire.len() - 1, wire.len()];
    let mut script = Script::new()
        .read_head()
        .write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for w in cuts.windows(2) {
        script = script
            .write(Bytes::copy_from_slice(&wire[w[0]..w[1]]))
            .sleep(PAUSE);
    }
    let peer = ScriptedPeer::start(vec![script.hold()]).await.unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let (status, got) = get_traced(&client, &peer.url("/"), &rec).await.unwrap();
    assert_eq!(status, 200);
    assert!(got[..] == body[..], "body bytes differ");
    assert!(has(&rec, "put_idle_conn nil"), "{}", rec.dump());
}
