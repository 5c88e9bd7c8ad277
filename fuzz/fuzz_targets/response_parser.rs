//! Differential fuzzing of the per-connection response head parser.
//!
//! `ResponseParser` has three ways to a head: httparse plus a fresh header map, httparse plus a
//! copy of a remembered map, and (for a head laid out as the remembered one) a scanner that
//! does not run httparse at all. Whatever the way, the result must be exactly that of the
//! stateless `parse_response_head` on the same bytes and limits: the same head, error or
//! "partial", the same bytes left in the buffer, the same framing fields.
//!
//! Input: a mode byte, one byte of limits, then the bytes. The parser first reads a head three
//! times (so that it remembers its layout): with an even mode byte, a fixed nginx response head
//! (so that mutations of an nginx head, the corpus seeds, reach the layout scanner), with an
//! odd one, the input's bytes up to the first "\r\n\r\n" (whatever they are). Then the rest
//! of the input is checked.
#![no_main]

use bytes::BytesMut;
use httptrace_proto::{parse_response_head, FramingFields, Limits, ParseStatus, ResponseParser};
use libfuzzer_sys::fuzz_target;

/// The head of the response nginx sends for a static file.
const NGINX: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\
Date: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Type: application/octet-stream\r\n\
Content-Length: 13\r\nLast-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n\
Connection: keep-alive\r\nETag: \"659200c0-d\"\r\nAccept-Ranges: bytes\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let Some((&[mode, lim], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let (learn, check) = if mode & 1 == 0 {
        (NGINX, rest)
    } else {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(rest.len(), |i| i + 4);
        rest.split_at(end)
    };
    let limits = if lim & 1 == 0 {
        Limits::default()
    } else {
        Limits {
            max_headers: usize::from(lim >> 4),
            max_head_bytes: 16 + usize::from(lim) * 2,
            ..Limits::default()
        }
    };
    let mut parser = ResponseParser::new();
    for _ in 0..3 {
        let mut b = BytesMut::from(learn);
        let _ = parser.parse(&mut b, &Limits::default());
    }
    let want = parse_response_head(check, &limits);
    let mut buf = BytesMut::from(check);
    let got = parser.parse(&mut buf, &limits);
    match (want, got) {
        (Ok(ParseStatus::Complete { head, consumed }), Ok(Some(parsed))) => {
            assert_eq!(parsed.framing, FramingFields::from_headers(&head.headers));
            assert_eq!(parsed.head, head);
            assert_eq!(&buf[..], &check[consumed..], "bytes left after the head");
        }
        (Ok(ParseStatus::Partial), Ok(None)) => assert_eq!(&buf[..], check, "partial: untouched"),
        (Err(want), Err(got)) => {
            assert_eq!(got, want);
            assert_eq!(&buf[..], check, "error: untouched");
        }
        (want, got) => panic!("parser {got:?}, parse_response_head {want:?}"),
    }
});
