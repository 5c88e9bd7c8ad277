#![allow(dead_code)]

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

pub const T: Duration = Duration::from_secs(5);

/// Reads until `buf` ends with/contains `pat`; returns everything read.
pub async fn read_until<S: AsyncRead + Unpin>(s: &mut S, pat: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut b = [0u8; 4096];
    tokio::time::timeout(T, async {
        while !out.windows(pat.len()).any(|w| w == pat) {
            let n = s.read(&mut b).await.unwrap();
            assert!(
                n > 0,
                "EOF before {:?}; got {:?}",
                String::from_utf8_lossy(pat),
                String::from_utf8_lossy(&out)
            );
            out.extend_from_slice(&b[..n]);
        }
    })
    .await
    .expect("timed out");
    out
}

/// Reads exactly n bytes.
pub async fn read_n<S: AsyncRead + Unpin>(s: &mut S, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    tokio::time::timeout(T, s.read_exact(&mut v))
        .await
        .expect("timed out")
        .unwrap();
    v
}

/// Reads until EOF.
pub async fn read_to_end<S: AsyncRead + Unpin>(s: &mut S) -> Vec<u8> {
    let mut v = Vec::new();
    tokio::time::timeout(T, s.read_to_end(&mut v))
        .await
        .expect("timed out")
        .unwrap();
    v
}

/// Reads one HTTP/1 response with a Content-Length body; returns (head, body).
pub async fn read_response<S: AsyncRead + Unpin>(s: &mut S) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    tokio::time::timeout(T, async {
        while !head.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut b).await.unwrap();
            assert!(n > 0, "EOF in head: {:?}", String::from_utf8_lossy(&head));
            head.push(b[0]);
        }
    })
    .await
    .expect("timed out");
    let head = String::from_utf8(head).unwrap();
    let len = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let body = read_n(s, len).await;
    (head, body)
}
