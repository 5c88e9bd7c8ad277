//! Micro-benchmarks of the sans-IO HTTP/1.1 codec (`httptrace-proto`): the pieces of a keep-alive
//! request's user-space cost that `bench/instructions` attributes to parsing and encoding, each
//! measured alone.
//!
//! ```sh
//! cd bench && cargo bench --bench h1_codec            # all
//! cd bench && cargo bench --bench h1_codec -- parse   # one group
//! ```
//!
//! The response is nginx's, byte for byte as the benchmark's nginx sends it for `/13` (8
//! fields). What each case tells apart:
//! - `parse/remembered-layout`: a connection's parser that has seen two heads with these
//!   fields: the fixed-layout scanner and a copy of the remembered header map (the keep-alive
//!   case, every request after the second on a connection);
//! - `parse/new-parser`: a fresh parser each time (a new connection's first response):
//!   httparse, a name lookup and insertion per field;
//! - `parse/other-layout`: a remembering parser given, in turn, nginx's head and a shorter one
//!   with other fields (4): httparse every time, no name remembered at a position;
//! - `parse/remembered-names`: a parser given, in turn, nginx's head and the same with one
//!   more field: every name remembered by position, never a whole layout: httparse, then the
//!   map built by inserting each remembered name;
//! - `parse/httparse-only`: [`parse_response_head`] on a byte slice, the map built from
//!   copies (the public one-shot API);
//! - `encode/get-head`: a GET's head as the client writes it (request line, Host, User-Agent,
//!   two more fields);
//! - `decode/chunked-4x1k`: a chunked body of four 1 KiB chunks, zero-copy.
//!
//! Each parse's result is dropped inside the measurement, as a response's head is dropped once
//! a request. (Handing the heads back to criterion instead, which drops a batch of them after
//! timing, made the remembered-layout case look 2x slower and reordered the cases: a batch of
//! live header maps spread over memory is not what a client sees.)
//!
//! `cargo test --benches` (as `.ci/run` does) runs each case once, checking its asserts.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::Method;
use httptrace_proto::{
    parse_response_head, BodyKind, Decoded, Decoder, HeadWriter, Limits, ParseStatus,
    ResponseParser,
};

const NGINX_13: &[u8] = b"HTTP/1.1 200 OK\r\n\
Server: nginx/1.22.1\r\n\
Date: Thu, 03 Dec 2026 04:20:00 GMT\r\n\
Content-Type: application/octet-stream\r\n\
Content-Length: 13\r\n\
Last-Modified: Thu, 03 Dec 2026 03:15:00 GMT\r\n\
Connection: keep-alive\r\n\
ETag: \"692fa9c4-d\"\r\n\
Accept-Ranges: bytes\r\n\
\r\n";

/// The same response from another server: other fields, in another order.
const OTHER: &[u8] = b"HTTP/1.1 200 OK\r\n\
content-length: 13\r\n\
content-type: text/plain\r\n\
x-request-id: 4bf92f3577b34da6a3ce929d0e0e4736\r\n\
date: Thu, 03 Dec 2026 04:20:00 GMT\r\n\
\r\n";

/// nginx's head with one more field: the same names first, so a parser alternating between
/// the two remembers every name but never a whole layout.
const NGINX_13_PLUS: &[u8] = b"HTTP/1.1 200 OK\r\n\
Server: nginx/1.22.1\r\n\
Date: Thu, 03 Dec 2026 04:20:00 GMT\r\n\
Content-Type: application/octet-stream\r\n\
Content-Length: 13\r\n\
Last-Modified: Thu, 03 Dec 2026 03:15:00 GMT\r\n\
Connection: keep-alive\r\n\
ETag: \"692fa9c4-d\"\r\n\
Accept-Ranges: bytes\r\n\
X-Extra: 1\r\n\
\r\n";

/// `head` in a buffer with read-buffer-like spare capacity, as the driver reads it.
fn buffer(head: &[u8]) -> BytesMut {
    let mut b = BytesMut::with_capacity(16 * 1024);
    b.extend_from_slice(head);
    b
}

/// The parsed head, checked: at least `min` fields (the head is dropped with the result, inside
/// the measurement, as a response's head is dropped once per request).
fn fields(
    r: Result<Option<httptrace_proto::ParsedHead>, httptrace_proto::ProtoError>,
    min: usize,
) -> usize {
    match r {
        Ok(Some(p)) if p.head.headers.len() >= min => p.head.headers.len(),
        other => panic!("not parsed: {other:?}"),
    }
}

fn parse(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("parse");

    let mut warm = ResponseParser::new();
    for _ in 0..3 {
        let mut b = buffer(NGINX_13);
        let parsed = warm.parse(&mut b, &limits).ok().flatten();
        assert!(parsed.is_some_and(|p| p.head.headers.len() == 8));
    }
    assert!(warm.remembers_layout());
    g.bench_function("remembered-layout", |bch| {
        bch.iter_batched_ref(
            || buffer(NGINX_13),
            |b| black_box(fields(warm.parse(b, &limits), 8)),
            BatchSize::SmallInput,
        )
    });

    g.bench_function("new-parser", |bch| {
        bch.iter_batched_ref(
            || buffer(NGINX_13),
            |b| black_box(fields(ResponseParser::new().parse(b, &limits), 8)),
            BatchSize::SmallInput,
        )
    });

    // Alternate the two layouts so that every parse finds the other one remembered.
    let mut alternating = ResponseParser::new();
    let mut flip = false;
    g.bench_function("other-layout", |bch| {
        bch.iter_batched_ref(
            || {
                flip = !flip;
                buffer(if flip { OTHER } else { NGINX_13 })
            },
            |b| black_box(fields(alternating.parse(b, &limits), 4)),
            BatchSize::SmallInput,
        )
    });

    let mut names_only = ResponseParser::new();
    let mut flip = false;
    g.bench_function("remembered-names", |bch| {
        bch.iter_batched_ref(
            || {
                flip = !flip;
                buffer(if flip { NGINX_13_PLUS } else { NGINX_13 })
            },
            |b| black_box(fields(names_only.parse(b, &limits), 8)),
            BatchSize::SmallInput,
        )
    });

    g.bench_function("httparse-only", |bch| {
        bch.iter(|| {
            let r = parse_response_head(black_box(NGINX_13), &limits);
            assert!(matches!(r, Ok(ParseStatus::Complete { .. })));
            black_box(r)
        })
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut buf = Vec::with_capacity(1024);
    c.bench_function("encode/get-head", |bch| {
        bch.iter(|| {
            buf.clear();
            let mut w = HeadWriter::new(&mut buf, &Method::GET, black_box("/13"));
            w.field_prevalidated(b"host", b"127.0.0.1:8080");
            w.field_prevalidated(b"user-agent", b"httptrace/0.1");
            w.field_prevalidated(b"accept", b"*/*");
            w.field_prevalidated(b"accept-encoding", b"gzip");
            w.finish();
            black_box(buf.len())
        })
    });
}

fn decode(c: &mut Criterion) {
    let limits = Limits::default();
    let mut body = Vec::new();
    for _ in 0..4 {
        body.extend_from_slice(b"400\r\n");
        body.extend_from_slice(&[b'x'; 1024]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    c.bench_function("decode/chunked-4x1k", |bch| {
        bch.iter_batched_ref(
            || (Decoder::new(BodyKind::Chunked, &limits), buffer(&body)),
            |(d, b)| {
                let mut n = 0;
                loop {
                    match d.decode(b) {
                        Ok(Decoded::Data(data)) => n += data.len(),
                        Ok(Decoded::Done { .. }) => break,
                        other => panic!("{other:?}"),
                    }
                }
                assert_eq!(n, 4096);
                black_box(n)
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, parse, encode, decode);
criterion_main!(benches);
