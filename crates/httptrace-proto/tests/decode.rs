//! Response body decoding: Content-Length, chunked (hyper's edge cases),
//! close-delimited, trailers, EOF handling.

use bytes::BytesMut;
use http::HeaderMap;
use httptrace_proto::{BodyKind, Decoded, Decoder, Limits, ProtoError};

/// Body, trailers, and the bytes left after the body.
type Run = Result<(Vec<u8>, Option<HeaderMap>, Vec<u8>), ProtoError>;

/// Feeds `input` to a fresh decoder in pieces of `step` bytes, then signals
/// EOF when `eof` is set. Returns the body, the trailers and the bytes left
/// in the buffer.
fn run(kind: BodyKind, limits: &Limits, input: &[u8], step: usize, eof: bool) -> Run {
    let mut dec = Decoder::new(kind, limits);
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut pieces = input.chunks(step.max(1));
    loop {
        match dec.decode(&mut buf)? {
            Decoded::Data(d) => {
                assert!(!d.is_empty());
                body.extend_from_slice(&d);
            }
            Decoded::Done { trailers } => {
                assert!(dec.is_done());
                assert_eq!(dec.bytes_received(), body.len() as u64);
                let mut rest = buf.to_vec();
                for p in pieces {
                    rest.extend_from_slice(p);
                }
                return Ok((body, trailers, rest));
            }
            Decoded::NeedMore => match pieces.next() {
                Some(p) => buf.extend_from_slice(p),
                None if eof => {
                    return match dec.decode_eof()? {
                        Decoded::Done { trailers } => Ok((body, trailers, buf.to_vec())),
                        other => panic!("decode_eof returned {other:?}"),
                    }
                }
                None => panic!("decoder wants more after all input: {input:?}"),
            },
        }
    }
}

fn chunked(input: &[u8]) -> Run {
    let whole = run(
        BodyKind::Chunked,
        &Limits::default(),
        input,
        input.len(),
        true,
    );
    let bytewise = run(BodyKind::Chunked, &Limits::default(), input, 1, true);
    assert_eq!(whole, bytewise, "input {input:?}");
    whole
}

/// hyper's `test_read_chunk_size`, ported: a chunk-size line followed by that
/// many bytes of data must decode to exactly that many bytes.
#[test]
fn chunk_size_lines() {
    for (line, size) in [
        (&b"1\r\n"[..], 1usize),
        (b"01\r\n", 1),
        (b"0\r\n", 0),
        (b"00\r\n", 0),
        (b"A\r\n", 10),
        (b"a\r\n", 10),
        (b"Ff\r\n", 255),
        (b"Ff   \r\n", 255),
        (b"Ff \t \r\n", 255),
        (b"0000000000000001\r\n", 1),
        // Extensions do not influence the size.
        (b"1;extension\r\n", 1),
        (b"a;ext name=value\r\n", 10),
        (b"1;extension;extension2\r\n", 1),
        (b"1;;;  ;\r\n", 1),
        (b"2; extension...\r\n", 2),
        (b"3   ; extension=123\r\n", 3),
        (b"3   ;\r\n", 3),
        (b"3   ;   \r\n", 3),
        (b"1 ; extension\r\n", 1),
        (b"1;ext=\"quoted; value\"\r\n", 1),
    ] {
        let mut input = line.to_vec();
        if size > 0 {
            input.extend_from_slice(&vec![b'x'; size]);
            input.extend_from_slice(b"\r\n0\r\n");
        }
        input.extend_from_slice(b"\r\n");
        let (body, trailers, rest) = chunked(&input).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(body.len(), size, "{line:?}");
        assert_eq!(trailers, None);
        assert!(rest.is_empty());
    }
}

#[test]
fn invalid_chunk_size_lines() {
    for line in [
        &b"\r\n"[..],
        b" 1\r\n",
        b";ext\r\n",
        b"X\r\n",
        b"1X\r\n",
        b"-\r\n",
        b"-1\r\n",
        b"+1\r\n",
        b"0x1\r\n",
        b"F\rF",
        b"1 invalid extension\r\n",
        b"1 A\r\n",
        b"1;reject\nnewlines\r\n",
        b"1\n",
        b"1 \n",
        b"1;ext\n",
    ] {
        assert_eq!(chunked(line), Err(ProtoError::InvalidChunkSize), "{line:?}");
    }
}

#[test]
fn chunk_size_overflow() {
    for line in [
        &b"f0000000000000003\r\n"[..],
        b"Ffffffffffffffffff\r\n",
        b"00000000000000001\r\n",
        b"10000000000000000\r\n",
    ] {
        assert_eq!(
            chunked(line),
            Err(ProtoError::ChunkSizeOverflow),
            "{line:?}"
        );
    }
}

#[test]
fn largest_chunk_size_is_accepted() {
    let mut dec = Decoder::new(BodyKind::Chunked, &Limits::default());
    let mut buf = BytesMut::from(&b"ffffffffffffffff\r\nabc"[..]);
    assert_eq!(dec.decode(&mut buf), Ok(Decoded::Data("abc".into())));
    assert_eq!(dec.decode(&mut buf), Ok(Decoded::NeedMore));
    assert_eq!(
        dec.decode_eof(),
        Err(ProtoError::IncompleteBody {
            expected: None,
            received: 3
        })
    );
}

#[test]
fn missing_crlf_is_incomplete() {
    assert_eq!(
        chunked(b"1;no CRLF"),
        Err(ProtoError::IncompleteBody {
            expected: None,
            received: 0
        })
    );
    assert_eq!(
        chunked(b"F"),
        Err(ProtoError::IncompleteBody {
            expected: None,
            received: 0
        })
    );
}

#[test]
fn chunk_data_must_end_in_crlf() {
    for input in [
        &b"1\r\nab"[..],
        b"1\r\na\n0\r\n\r\n",
        b"1\r\na\rX",
        b"3\r\nabcd\r\n",
        b"1\r\na\r\r\n",
    ] {
        assert_eq!(
            chunked(input),
            Err(ProtoError::InvalidChunkSize),
            "{input:?}"
        );
    }
}

#[test]
fn multiple_chunks_and_leftover() {
    let input = b"5\r\nhello\r\n1;a=b\r\n \r\n6\r\nworld!\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n";
    let (body, trailers, rest) = chunked(input).unwrap();
    assert_eq!(body, b"hello world!");
    assert_eq!(trailers, None);
    assert_eq!(rest, b"HTTP/1.1 200 OK\r\n");
}

#[test]
fn last_chunk_needs_final_crlf() {
    assert_eq!(chunked(b"0\r\n\n"), Err(ProtoError::InvalidChunkSize));
    assert_eq!(chunked(b"0\r\n\rX"), Err(ProtoError::InvalidChunkSize));
    assert_eq!(
        chunked(b"0\r\n"),
        Err(ProtoError::IncompleteBody {
            expected: None,
            received: 0
        })
    );
}

#[test]
fn trailers() {
    let (body, trailers, rest) = chunked(
        b"3\r\nabc\r\n0\r\nX-Checksum: 123\r\nX-B:  two words \r\nx-checksum: 456\r\n\r\nnext",
    )
    .unwrap();
    assert_eq!(body, b"abc");
    let trailers = trailers.expect("trailers");
    let sums: Vec<_> = trailers.get_all("x-checksum").iter().collect();
    assert_eq!(sums, ["123", "456"]);
    assert_eq!(trailers["x-b"], "two words");
    assert_eq!(rest, b"next");
}

#[test]
fn invalid_trailers() {
    for input in [
        &b"0\r\nNo colon\r\n\r\n"[..],
        b"0\r\nX: a\nY: b\r\n\r\n",
        b"0\r\nX: a\r\rY: b\r\n\r\n",
        b"0\r\nX: a\r\n\n",
        b"0\r\nX: a\r\n\rY",
        b"0\r\nX: \x00\r\n\r\n",
        b"0\r\n folded: x\r\n\r\n",
        b"0\r\nX: a\r\n folded\r\n\r\n",
    ] {
        assert_eq!(chunked(input), Err(ProtoError::InvalidTrailer), "{input:?}");
    }
}

#[test]
fn trailer_limits() {
    let limits = Limits {
        max_trailer_bytes: 16,
        max_headers: 2,
        ..Limits::default()
    };
    // Exactly 16 bytes of trailer section.
    let ok = b"0\r\nA: 01234567890\r\n\r\n";
    assert!(run(BodyKind::Chunked, &limits, ok, 1, false).is_ok());
    let big = b"0\r\nA: 012345678901\r\n\r\n";
    for step in [1, 3, big.len()] {
        assert_eq!(
            run(BodyKind::Chunked, &limits, big, step, false),
            Err(ProtoError::TrailersTooLarge { limit: 16 })
        );
    }
    let many = b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    let limits = Limits {
        max_headers: 2,
        ..Limits::default()
    };
    assert_eq!(
        run(BodyKind::Chunked, &limits, many, 4, false),
        Err(ProtoError::TooManyHeaders { limit: 2 })
    );
    // An endless trailer line is bounded too.
    let mut endless = b"0\r\nX: ".to_vec();
    endless.resize(100_000, b'a');
    assert_eq!(
        run(BodyKind::Chunked, &Limits::default(), &endless, 4096, true),
        Err(ProtoError::TrailersTooLarge { limit: 64 * 1024 })
    );
}

#[test]
fn chunk_extension_limit_is_per_body() {
    let limits = Limits {
        max_chunk_ext_bytes: 10,
        ..Limits::default()
    };
    // 5 + 5 extension bytes (after the ';'): at the limit.
    let ok = b"1;abcde\r\nx\r\n1;fghij\r\ny\r\n0\r\n\r\n";
    assert_eq!(
        run(BodyKind::Chunked, &limits, ok, 1, false).unwrap().0,
        b"xy"
    );
    let over = b"1;abcde\r\nx\r\n1;fghijk\r\ny\r\n0\r\n\r\n";
    assert_eq!(
        run(BodyKind::Chunked, &limits, over, 1, false),
        Err(ProtoError::ChunkExtensionTooLong { limit: 10 })
    );
    // Whitespace before the ';' counts too: endless spaces are bounded.
    let spaces = b"1           \r\nx\r\n0\r\n\r\n";
    assert_eq!(
        run(BodyKind::Chunked, &limits, spaces, 64, false),
        Err(ProtoError::ChunkExtensionTooLong { limit: 10 })
    );
    let mut endless = b"1;".to_vec();
    endless.resize(100_000, b'e');
    assert_eq!(
        run(BodyKind::Chunked, &Limits::default(), &endless, 1000, true),
        Err(ProtoError::ChunkExtensionTooLong { limit: 4096 })
    );
}

#[test]
fn incomplete_chunked_body() {
    assert_eq!(
        chunked(b"5\r\nhel"),
        Err(ProtoError::IncompleteBody {
            expected: None,
            received: 3
        })
    );
    assert_eq!(
        chunked(b"5\r\nhello\r\n"),
        Err(ProtoError::IncompleteBody {
            expected: None,
            received: 5
        })
    );
    assert_eq!(
        chunked(b""),
        Err(ProtoError::IncompleteBody {
            expected: None,
            received: 0
        })
    );
}

#[test]
fn length_reads_exactly_n_and_leaves_the_rest() {
    for step in 1..=12 {
        let (body, trailers, rest) = run(
            BodyKind::Length(5),
            &Limits::default(),
            b"helloHTTP/1.1",
            step,
            false,
        )
        .unwrap();
        assert_eq!(body, b"hello");
        assert_eq!(trailers, None);
        assert_eq!(rest, b"HTTP/1.1");
    }
}

#[test]
fn length_never_returns_more_than_remaining() {
    let mut dec = Decoder::new(BodyKind::Length(4), &Limits::default());
    let mut buf = BytesMut::from(&b"ab"[..]);
    assert_eq!(dec.decode(&mut buf), Ok(Decoded::Data("ab".into())));
    assert!(!dec.is_done());
    assert_eq!(dec.decode(&mut buf), Ok(Decoded::NeedMore));
    buf.extend_from_slice(b"cdef");
    assert_eq!(dec.decode(&mut buf), Ok(Decoded::Data("cd".into())));
    assert!(dec.is_done());
    assert_eq!(dec.bytes_received(), 4);
    assert_eq!(dec.decode(&mut buf), Ok(Decoded::Done { trailers: None }));
    assert_eq!(dec.decode_eof(), Ok(Decoded::Done { trailers: None }));
    assert_eq!(&buf[..], b"ef");
}

#[test]
fn length_zero_and_empty_touch_nothing() {
    for kind in [BodyKind::Length(0), BodyKind::Empty] {
        let mut dec = Decoder::new(kind, &Limits::default());
        assert!(dec.is_done());
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\n"[..]);
        assert_eq!(dec.decode(&mut buf), Ok(Decoded::Done { trailers: None }));
        assert_eq!(buf.len(), 17);
        assert_eq!(dec.kind(), &kind);
    }
}

#[test]
fn incomplete_length_body() {
    assert_eq!(
        run(BodyKind::Length(10), &Limits::default(), b"abcd", 2, true),
        Err(ProtoError::IncompleteBody {
            expected: Some(10),
            received: 4
        })
    );
    assert_eq!(
        run(BodyKind::Length(1), &Limits::default(), b"", 1, true),
        Err(ProtoError::IncompleteBody {
            expected: Some(1),
            received: 0
        })
    );
}

#[test]
fn close_delimited() {
    let (body, trailers, rest) = run(
        BodyKind::CloseDelimited,
        &Limits::default(),
        b"anything\r\n0\r\n\r\ngoes",
        3,
        true,
    )
    .unwrap();
    assert_eq!(body, b"anything\r\n0\r\n\r\ngoes");
    assert_eq!(trailers, None);
    assert!(rest.is_empty());
    let mut dec = Decoder::new(BodyKind::CloseDelimited, &Limits::default());
    assert!(!dec.is_done());
    assert_eq!(dec.decode(&mut BytesMut::new()), Ok(Decoded::NeedMore));
    assert_eq!(dec.decode_eof(), Ok(Decoded::Done { trailers: None }));
    assert!(dec.is_done());
}

#[test]
fn data_is_zero_copy() {
    let mut dec = Decoder::new(BodyKind::Chunked, &Limits::default());
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(b"4\r\nwxyz\r\n0\r\n\r\n");
    let base = buf.as_ptr() as usize;
    match dec.decode(&mut buf) {
        Ok(Decoded::Data(d)) => {
            assert_eq!(&d[..], b"wxyz");
            assert_eq!(d.as_ptr() as usize, base + 3);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(dec.decode(&mut buf), Ok(Decoded::Done { trailers: None }));
    assert!(buf.is_empty());
}

#[test]
fn errors_are_sticky() {
    let mut dec = Decoder::new(BodyKind::Chunked, &Limits::default());
    let mut buf = BytesMut::from(&b"zz"[..]);
    assert_eq!(dec.decode(&mut buf), Err(ProtoError::InvalidChunkSize));
    let mut good = BytesMut::from(&b"0\r\n\r\n"[..]);
    assert_eq!(dec.decode(&mut good), Err(ProtoError::InvalidChunkSize));
    assert_eq!(dec.decode_eof(), Err(ProtoError::InvalidChunkSize));
    assert!(!dec.is_done());
}

#[test]
fn trailers_reported_once() {
    let mut dec = Decoder::new(BodyKind::Chunked, &Limits::default());
    let mut buf = BytesMut::from(&b"0\r\nA: b\r\n\r\n"[..]);
    assert!(matches!(
        dec.decode(&mut buf),
        Ok(Decoded::Done { trailers: Some(_) })
    ));
    assert_eq!(dec.decode(&mut buf), Ok(Decoded::Done { trailers: None }));
}
