//! Differential and split-invariance tests of the HTTP/1.1 codec: the per-connection
//! `ResponseParser` (remembered-layout fast path included) against `parse_response_head` over
//! split points and sequences of heads; the chunked decoder fed in every split; and two bugs a
//! review found (framing fields refused as trailers; a parser error leaves the buffer as it
//! was).
use bytes::BytesMut;
use http::Method;
use httptrace_proto::*;

fn reference(bytes: &[u8], limits: &Limits) -> Result<Option<(ResponseHead, usize)>, ProtoError> {
    match parse_response_head(bytes, limits)? {
        ParseStatus::Partial => Ok(None),
        ParseStatus::Complete { head, consumed } => Ok(Some((head, consumed))),
    }
}

/// Feed `stream` into a persistent parser in pieces ending at `cuts`, parsing
/// after every piece; compare every call with parse_response_head on the buffer.
fn drive(
    parser: &mut ResponseParser,
    buf: &mut BytesMut,
    stream: &[u8],
    step: usize,
    limits: &Limits,
    ctx: &str,
) {
    let mut pos = 0;
    while pos < stream.len() {
        let end = (pos + step).min(stream.len());
        buf.extend_from_slice(&stream[pos..end]);
        pos = end;
        loop {
            let before = buf.to_vec();
            let want = reference(&before, limits);
            let got = parser.parse(buf, limits);
            let g = got.clone().map(|o| o.map(|p| p.head));
            let w = want.clone().map(|o| o.map(|(h, _)| h));
            assert_eq!(
                g,
                w,
                "{ctx}: differ on {:?}",
                String::from_utf8_lossy(&before)
            );
            match (got, want) {
                (Ok(Some(p)), Ok(Some((h, consumed)))) => {
                    assert_eq!(&buf[..], &before[consumed..], "{ctx}: buffer");
                    for m in [Method::GET, Method::HEAD] {
                        assert_eq!(p.body_kind(&m), response_body_kind(&m, &h), "{ctx}");
                    }
                    assert_eq!(p.keep_alive(), response_keep_alive(&h), "{ctx}");
                    continue;
                }
                (Ok(None), _) => {
                    assert_eq!(&buf[..], &before[..], "{ctx}: partial buffer");
                    break;
                }
                _ => {
                    // error: reset
                    buf.clear();
                    return;
                }
            }
        }
    }
}

fn variants() -> Vec<Vec<u8>> {
    let base: &[&str] = &[
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\nConnection: keep-alive\r\nX: y\r\n\r\n",
        "HTTP/1.0 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length:  5 \r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length:\t5\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\nConnection: keep-alive\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\n",
        "HTTP/1.1 200 OK\r\nServer : nginx\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\ncontent-length: 5\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\nConnection: keep-alive\r\n \r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nServer: nginx\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 200 \r\nServer: nginx\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 200\r\nServer: nginx\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: \r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
    ];
    base.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn differential_sequences_and_splits() {
    let limits = Limits::default();
    let vs = variants();
    for step in [1usize, 2, 3, 7, 1000] {
        // the whole sequence, in order, as one stream with "body" bytes dropped
        let mut parser = ResponseParser::new();
        let mut buf = BytesMut::new();
        for (i, v) in vs.iter().enumerate() {
            drive(
                &mut parser,
                &mut buf,
                v,
                step,
                &limits,
                &format!("seq step {step} head {i}"),
            );
        }
        // every pair (a, a, b) and (a, a, b, a)
        for a in &vs {
            for b in &vs {
                let mut parser = ResponseParser::new();
                let mut buf = BytesMut::new();
                for v in [a, a, b, a, b] {
                    drive(
                        &mut parser,
                        &mut buf,
                        v,
                        step,
                        &limits,
                        &format!(
                            "pair step {step} {:?} {:?}",
                            String::from_utf8_lossy(a),
                            String::from_utf8_lossy(b)
                        ),
                    );
                }
                // pipelined: a then b in one buffer
                let mut both = a.clone();
                both.extend_from_slice(b);
                drive(&mut parser, &mut buf, &both, step, &limits, "pipelined");
            }
        }
    }
}

// ---------------- decoder: split-invariance ----------------

#[derive(Debug, PartialEq)]
enum Out {
    Ok {
        data: Vec<u8>,
        trailers: Option<http::HeaderMap>,
        left: Vec<u8>,
    },
    Err(ProtoError),
}

fn run_cuts(kind: BodyKind, limits: &Limits, input: &[u8], cuts: &[usize]) -> Out {
    let mut d = Decoder::new(kind, limits);
    let mut buf = BytesMut::new();
    let mut data = Vec::new();
    let mut bounds: Vec<usize> = cuts
        .iter()
        .copied()
        .filter(|&c| c > 0 && c < input.len())
        .collect();
    bounds.push(input.len());
    let mut pos = 0;
    let mut next = 0;
    loop {
        match d.decode(&mut buf) {
            Ok(Decoded::Data(b)) => {
                assert!(!b.is_empty(), "empty Data");
                data.extend_from_slice(&b)
            }
            Ok(Decoded::Done { trailers }) => {
                assert!(d.is_done());
                // rest of input stays
                buf.extend_from_slice(&input[pos..]);
                return Out::Ok {
                    data,
                    trailers,
                    left: buf.to_vec(),
                };
            }
            Ok(Decoded::NeedMore) => {
                if next >= bounds.len() {
                    return match d.decode_eof() {
                        Ok(Decoded::Done { trailers }) => Out::Ok {
                            data,
                            trailers,
                            left: buf.to_vec(),
                        },
                        Ok(o) => panic!("eof gave {o:?}"),
                        Err(e) => Out::Err(e),
                    };
                }
                let end = bounds[next];
                next += 1;
                buf.extend_from_slice(&input[pos..end]);
                pos = end;
            }
            Err(e) => return Out::Err(e),
        }
    }
}

fn chunked_cases() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        &b"5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"[..],
        b"0\r\n\r\nNEXT",
        b"000\r\n\r\nNEXT",
        b"0;ext=\"a;b\"\r\n\r\nNEXT",
        b"0 \t ;x\r\n\r\nNEXT",
        b"0\r\nA: b\r\nC: d\r\n\r\nNEXT",
        b"0\r\nA:b\r\n\r\nNEXT",
        b"0\r\nA: \r\n\r\nNEXT",
        b"1\r\nx\r\n2\r\nyz\r\n0\r\nT: v\r\n\r\n",
        b"Ff\r\n",
        b"0\r\n\n",
        b"0\r\nA: b\n\n",
        b"0\r\nA: b\r\n\n",
        b"0\r\n\r\r\n",
        b"0\r\nA\r\n\r\n",
        b"0\r\n A: b\r\n\r\n",
        b"5\r\nhello\r\r\n0\r\n\r\n",
        b"5\r\nhello",
        b"5\r\nhello\r",
        b"5\r\nhello\r\n",
        b"5\r\nhello\r\n0",
        b"5\r\nhello\r\n0\r\n",
        b"5\r\nhello\r\n0\r\n\r",
        b"5\r\nhello\r\n0\r\nX: y",
        b"5\r\nhello\r\n0\r\nX: y\r",
        b"5\r\nhello\r\n0\r\nX: y\r\n",
        b"5\r\nhello\r\n0\r\nX: y\r\n\r",
        b"0\r\nA: b\r\nA: c\r\n\r\nX",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    let mut big = b"10\r\n0123456789abcdef\r\n".repeat(3);
    big.extend_from_slice(b"0\r\n\r\n");
    v.push(big);
    v
}

#[test]
fn chunked_any_split_same_result() {
    let limits = Limits::default();
    for input in chunked_cases() {
        let whole = run_cuts(BodyKind::Chunked, &limits, &input, &[]);
        let bytewise: Vec<usize> = (1..input.len()).collect();
        let one = run_cuts(BodyKind::Chunked, &limits, &input, &bytewise);
        let norm = |o: &Out| match o {
            Out::Ok {
                data,
                trailers,
                left,
            } => format!("ok {data:?} {trailers:?} {left:?}"),
            Out::Err(e) => format!("err {:?}", std::mem::discriminant(e)),
        };
        assert_eq!(
            norm(&one),
            norm(&whole),
            "bytewise {:?}",
            String::from_utf8_lossy(&input)
        );
        for a in 0..=input.len() {
            for b in a..=input.len() {
                let got = run_cuts(BodyKind::Chunked, &limits, &input, &[a, b]);
                assert_eq!(
                    norm(&got),
                    norm(&whole),
                    "cuts {a},{b} {:?}",
                    String::from_utf8_lossy(&input)
                );
            }
        }
        println!("{:?} => {:?}", String::from_utf8_lossy(&input), whole);
    }
}

// ---------------- parser: random edits, incremental, persistent ----------------
use proptest::prelude::*;

const LAYOUT: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Mon\r\nContent-Length: 5\r\nConnection: keep-alive\r\nX-A: b\r\n\r\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn edited_sequences_incremental(
        heads in prop::collection::vec(
            prop::collection::vec((any::<prop::sample::Index>(), 0u8..3,
                prop::sample::select(b" \t\r\n:a0,;\x00\x80\x7fHTP/1.".to_vec())), 0..3),
            1..6),
        step in 1usize..9,
        max_head_bytes in prop::option::of(60usize..120),
        max_headers in prop::option::of(3usize..8),
    ) {
        let limits = Limits {
            max_head_bytes: max_head_bytes.unwrap_or(1 << 20),
            max_headers: max_headers.unwrap_or(128),
            ..Limits::default()
        };
        let mut parser = ResponseParser::new();
        let mut buf = BytesMut::new();
        for _ in 0..2 {
            drive(&mut parser, &mut buf, LAYOUT, 1000, &Limits::default(), "warm");
        }
        for edits in heads {
            let mut bytes = LAYOUT.to_vec();
            for (at, op, byte) in edits {
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ => { bytes.remove(i); }
                }
            }
            drive(&mut parser, &mut buf, &bytes, step, &limits, "edited");
            buf.clear();
            drive(&mut parser, &mut buf, LAYOUT, step, &limits, "layout");
            buf.clear();
        }
    }
}

fn gen_head() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![
            "HTTP/1.1 200 OK",
            "HTTP/1.0 200 OK",
            "HTTP/1.1 100 Continue",
            "HTTP/1.1 204 ",
            "HTTP/1.1 304",
        ]),
        prop::collection::vec(
            (
                prop_oneof![
                    Just("A".to_string()),
                    Just("a".to_string()),
                    Just("Content-Length".to_string()),
                    Just("Transfer-Encoding".to_string()),
                    Just("Connection".to_string()),
                    Just("X".repeat(64)),
                    Just("X".repeat(65)),
                    "[A-Za-z]{1,4}",
                ],
                prop_oneof![
                    Just("1".to_string()),
                    Just("chunked".to_string()),
                    Just("close".to_string()),
                    Just("".to_string()),
                    Just(" v ".to_string()),
                    "[ -~]{0,5}"
                ],
                prop::sample::select(vec![": ", ":", " : ", ":\t"]),
                prop::sample::select(vec!["\r\n", "\r\n", "\r\n", "\n"]),
            ),
            0..80,
        ),
        prop::sample::select(vec!["\r\n", "\n"]),
    )
        .prop_map(|(line, fields, end)| {
            let mut b = format!("{line}\r\n").into_bytes();
            for (n, v, sep, eol) in fields {
                b.extend_from_slice(n.as_bytes());
                b.extend_from_slice(sep.as_bytes());
                b.extend_from_slice(v.as_bytes());
                b.extend_from_slice(eol.as_bytes());
            }
            b.extend_from_slice(end.as_bytes());
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]
    #[test]
    fn generated_sequences_incremental(
        heads in prop::collection::vec((gen_head(), 1usize..4), 1..5),
        step in prop_oneof![Just(1usize), 2usize..50, Just(10000)],
        max_head_bytes in prop::option::of(20usize..2000),
        max_headers in prop::option::of(0usize..100),
    ) {
        let limits = Limits {
            max_head_bytes: max_head_bytes.unwrap_or(1 << 20),
            max_headers: max_headers.unwrap_or(128),
            ..Limits::default()
        };
        let mut parser = ResponseParser::new();
        let mut buf = BytesMut::new();
        for (h, reps) in heads {
            for _ in 0..reps {
                drive(&mut parser, &mut buf, &h, step, &limits, "gen");
                buf.clear();
            }
        }
    }
}

// ======================= Bugs found by a review (each failed before its fix) =======================
/// Encoder::finish_with_trailers writes framing fields (Content-Length,
/// Transfer-Encoding, Trailer) into the trailer section. Go refuses such a
/// request (net/http transfer.go, transferWriter.writeHeader: "invalid Trailer
/// key"), hyper drops them (proto/h1/encode.rs is_valid_trailer_field), and
/// RFC 9110 §6.5.1 / §6.5.2 forbid framing fields in trailers. The codec should
/// refuse them before writing anything, as it does for malformed trailer fields.
#[test]
fn encoder_refuses_framing_fields_as_trailers() {
    for name in ["content-length", "transfer-encoding", "trailer"] {
        let mut trailers = http::HeaderMap::new();
        trailers.insert(
            http::HeaderName::from_static(name),
            http::HeaderValue::from_static("5"),
        );
        let mut enc = Encoder::chunked();
        let mut out = Vec::new();
        enc.encode_data(b"hi", &mut out).unwrap();
        let before = out.clone();
        let r = enc.finish_with_trailers(&trailers, &mut out);
        assert!(
            r.is_err(),
            "{name} sent as a trailer: {:?}",
            String::from_utf8_lossy(&out)
        );
        assert_eq!(out, before, "{name}: nothing may be written on error");
    }
}

/// ResponseParser::parse splits the head off the buffer before building the
/// header map, so an error raised while building it (a field name longer than
/// http's 65535-byte limit, which httparse accepts) consumes the head bytes,
/// while parse_response_head reports the same error without consuming anything
/// ("exactly those of parse_response_head"; tests/parser.rs same_as_bytes_parser
/// requires the buffer untouched on error).
#[test]
fn parser_error_after_httparse_leaves_buffer_untouched() {
    let mut h = b"HTTP/1.1 200 OK\r\n".to_vec();
    h.extend(std::iter::repeat(b'a').take(70_000));
    h.extend_from_slice(b": v\r\n\r\nBODY");
    let limits = Limits::default();
    assert_eq!(
        parse_response_head(&h, &limits).map(|_| ()),
        Err(ProtoError::InvalidHeader)
    );
    let mut buf = BytesMut::from(&h[..]);
    let r = ResponseParser::new().parse(&mut buf, &limits);
    assert_eq!(r.map(|_| ()), Err(ProtoError::InvalidHeader));
    assert_eq!(
        buf.len(),
        h.len(),
        "the failed head was split off the buffer"
    );
}
