//! `ResponseParser`: the per-connection head parser gives exactly what the
//! stateless parsers give, head after head, and its framing decisions are
//! those of `response_body_kind` / `response_keep_alive`.

use bytes::BytesMut;
use http::{HeaderValue, Method};
use httptrace_proto::{
    parse_response_head, parse_response_head_bytes, response_body_kind, response_keep_alive,
    FramingFields, Limits, ParseStatus, ParsedHead, ProtoError, ResponseHead, ResponseParser,
    MAX_CACHED_NAME_LEN, NAME_CACHE_SLOTS,
};
use proptest::prelude::*;

/// The reference: the copying parser, on the same bytes.
fn reference(bytes: &[u8], limits: &Limits) -> Result<Option<(ResponseHead, usize)>, ProtoError> {
    match parse_response_head(bytes, limits)? {
        ParseStatus::Partial => Ok(None),
        ParseStatus::Complete { head, consumed } => Ok(Some((head, consumed))),
    }
}

/// `parser.parse` (and the one-shot `parse_response_head_bytes`) on copies
/// of `bytes` against the copying `parse_response_head`: same result, and the
/// head (only) split off the buffer.
fn same_as_bytes_parser(
    parser: &mut ResponseParser,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Option<ParsedHead>, ProtoError> {
    let want = reference(bytes, limits);
    let mut buf = BytesMut::from(bytes);
    let got = parser.parse(&mut buf, limits);
    assert_eq!(
        got.clone().map(|o| o.map(|p| p.head)),
        want.clone().map(|o| o.map(|(head, _)| head)),
        "parser and parse_response_head differ on {:?}",
        String::from_utf8_lossy(bytes)
    );
    let left = match want {
        Ok(Some((_, consumed))) => &bytes[consumed..],
        _ => bytes,
    };
    assert_eq!(&buf[..], left, "buffer after parsing");
    // The one-shot wrapper agrees too.
    let mut once = BytesMut::from(bytes);
    assert_eq!(
        parse_response_head_bytes(&mut once, limits),
        want.map(|o| o.map(|(head, _)| head))
    );
    assert_eq!(&once[..], left, "buffer after parse_response_head_bytes");
    got
}

/// Everything a driver takes from a head, checked against the stateless
/// functions. Returns how many bytes the head took, when complete.
fn check_head(
    parser: &mut ResponseParser,
    bytes: &[u8],
    method: &Method,
    limits: &Limits,
) -> Option<usize> {
    let mut with_next = bytes.to_vec();
    with_next.extend_from_slice(b"NEXT");
    let expected = reference(&with_next, limits);
    let got = same_as_bytes_parser(parser, &with_next, limits);
    match (got, expected) {
        (Ok(Some(parsed)), Ok(Some((head, consumed)))) => {
            assert_eq!(parsed.head, head);
            assert_eq!(parsed.body_kind(method), response_body_kind(method, &head));
            assert_eq!(parsed.keep_alive(), response_keep_alive(&head));
            assert_eq!(parsed.framing, FramingFields::from_headers(&head.headers));
            Some(consumed)
        }
        (got, expected) => {
            assert_eq!(
                got.map(|o| o.map(|p| p.head)),
                expected.map(|o| o.map(|(h, _)| h))
            );
            None
        }
    }
}

// ---- value bytes: httparse's rule is HeaderValue's rule ----

/// The value httparse reports for field `X` of a head whose value is
/// `value`, or `None` when it rejects the head.
fn httparse_value(value: &[u8]) -> Option<Vec<u8>> {
    let mut head = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n\r\n");
    let mut headers = [httparse::EMPTY_HEADER; 4];
    let mut response = httparse::Response::new(&mut headers);
    let mut config = httparse::ParserConfig::default();
    config.allow_spaces_after_header_name_in_responses(true);
    match config.parse_response(&mut response, &head) {
        Ok(httparse::Status::Complete(_)) => match response.headers {
            [h] => Some(h.value.to_vec()),
            _ => None,
        },
        _ => None,
    }
}

/// For every byte: httparse keeps it in a field value exactly when
/// `HeaderValue::from_bytes` accepts it. This is what lets `ResponseParser`
/// build values without checking them again. The byte is placed inside the
/// value (so whitespace is not trimmed), in a short value and at several
/// offsets of long values (httparse scans those 8, 16 or 32 bytes at a
/// time).
#[test]
fn value_bytes_httparse_matches_header_value() {
    for b in 0..=255u8 {
        let header_value_ok = HeaderValue::from_bytes(&[b]).is_ok();
        for (before, after) in [(1, 1), (7, 9), (15, 17), (31, 33), (40, 40), (63, 2)] {
            let mut value = vec![b'a'; before];
            value.push(b);
            value.extend(std::iter::repeat_n(b'z', after));
            let kept = httparse_value(&value).as_deref() == Some(&value[..]);
            assert_eq!(
                kept, header_value_ok,
                "byte {b:#04x} at offset {before}: httparse keeps it: {kept}, \
                 HeaderValue accepts it: {header_value_ok}"
            );
            if !kept {
                // Rejected, never silently cut short.
                assert_eq!(httparse_value(&value), None, "byte {b:#04x}");
            }

            // And the parser stores exactly those bytes.
            let mut head = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
            head.extend_from_slice(&value);
            head.extend_from_slice(b"\r\n\r\n");
            let mut parser = ResponseParser::new();
            let got = same_as_bytes_parser(&mut parser, &head, &Limits::default());
            match got {
                Ok(Some(p)) => {
                    assert!(kept);
                    assert_eq!(p.head.headers["x"].as_bytes(), &value[..]);
                    assert_eq!(
                        p.head.headers["x"],
                        HeaderValue::from_bytes(&value).unwrap()
                    );
                }
                other => {
                    assert!(!kept, "{other:?}");
                    assert_eq!(other, Err(ProtoError::InvalidHeader), "byte {b:#04x}");
                }
            }
        }
    }
}

// ---- errors and limits: identical to parse_response_head ----

const NGINX: &[u8] =
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\
Content-Type: application/octet-stream\r\nContent-Length: 13\r\n\
Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\nConnection: keep-alive\r\n\
ETag: \"659200c0-d\"\r\nAccept-Ranges: bytes\r\n\r\n";

fn many_fields(n: usize) -> Vec<u8> {
    let mut h = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..n {
        h.extend_from_slice(format!("X-Field-{i}: v{i}\r\n").as_bytes());
    }
    h.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    h
}

fn error_cases() -> Vec<(Vec<u8>, Limits)> {
    let d = Limits::default();
    let small = |max_head_bytes, max_headers| Limits {
        max_head_bytes,
        max_headers,
        ..Limits::default()
    };
    let mut cases: Vec<(Vec<u8>, Limits)> = vec![
        // Bad status lines and versions.
        (b"HTTP/2.0 200 OK\r\n\r\n".to_vec(), d.clone()),
        (b"HTTP/1.2 200 OK\r\n\r\n".to_vec(), d.clone()),
        (b"HTTP/1.1 20 OK\r\n\r\n".to_vec(), d.clone()),
        (b"HTTP/1.1 099 OK\r\n\r\n".to_vec(), d.clone()),
        (b"HTTP/1.1  200 OK\r\n\r\n".to_vec(), d.clone()),
        (b"HTTP/1.1 200 O\x00K\r\n\r\n".to_vec(), d.clone()),
        (b"HTTP/1.1 200 Ok\xff\r\n\r\n".to_vec(), d.clone()),
        (b"HTTP/1.1 200\r\n\r\n".to_vec(), d.clone()),
        (b"\r\n\nHTTP/1.1 200 OK\n\n".to_vec(), d.clone()),
        (b"ICY 200 OK\r\n\r\n".to_vec(), d.clone()),
        (b"garbage".to_vec(), d.clone()),
        // Bad fields.
        (b"HTTP/1.1 200 OK\r\nA: b\x00c\r\n\r\n".to_vec(), d.clone()),
        (b"HTTP/1.1 200 OK\r\nA: b\x7fc\r\n\r\n".to_vec(), d.clone()),
        (b"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n".to_vec(), d.clone()),
        (
            b"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n".to_vec(),
            d.clone(),
        ),
        (b"HTTP/1.1 200 OK\r\nA b: c\r\n\r\n".to_vec(), d.clone()),
        (b"HTTP/1.1 200 OK\r\nA : c\r\n\r\n".to_vec(), d.clone()),
        (b"HTTP/1.1 200 OK\r\nA\t: c\r\n\r\n".to_vec(), d.clone()),
        (b"HTTP/1.1 200 OK\r\n: c\r\n\r\n".to_vec(), d.clone()),
        (b"HTTP/1.1 200 OK\r\nA(: c\r\n\r\n".to_vec(), d.clone()),
        (b"HTTP/1.1 200 OK\r\nA: c\r\r\n\r\n".to_vec(), d.clone()),
        (
            b"HTTP/1.1 200 OK\r\nA:\r\nB: \t \r\n\r\n".to_vec(),
            d.clone(),
        ),
        (
            b"HTTP/1.1 200 OK\r\n\xc3\xa9: c\r\n\r\n".to_vec(),
            d.clone(),
        ),
        // Limits.
        (NGINX.to_vec(), small(NGINX.len() - 1, 128)),
        (NGINX.to_vec(), small(NGINX.len(), 128)),
        (NGINX.to_vec(), small(20, 128)),
        (NGINX.to_vec(), small(1024, 8)),
        (NGINX.to_vec(), small(1024, 9)),
        (NGINX.to_vec(), small(1024, 0)),
        (many_fields(63), d.clone()),
        (many_fields(64), d.clone()),
        (many_fields(100), d.clone()),
        (many_fields(100), small(1 << 20, 100)),
        (many_fields(100), small(1 << 20, 101)),
        (many_fields(100), small(1 << 20, 1000)),
        (many_fields(300), small(1 << 20, 1000)),
        (many_fields(100), small(200, 1000)),
        (many_fields(100), small(2000, 1000)),
        (
            b"HTTP/1.1 200 OK\r\nA: b\r\nC: d\r\n\r\n".to_vec(),
            small(1024, 1),
        ),
    ];
    // A bad byte after more fields than the stack holds.
    let mut late_bad = many_fields(80);
    let at = late_bad.len() - 6;
    late_bad.insert(at, 0);
    cases.push((late_bad, d.clone()));
    // Every prefix of a complete head: partial (or an error the prefix
    // already shows).
    for n in 0..NGINX.len() {
        cases.push((NGINX[..n].to_vec(), d.clone()));
        cases.push((NGINX[..n].to_vec(), small(n.saturating_sub(1), 128)));
    }
    cases
}

#[test]
fn errors_partials_and_limits_match_parse_response_head() {
    let mut warm = ResponseParser::new();
    for (bytes, limits) in error_cases() {
        // A fresh parser, and one that remembers the names of other heads.
        same_as_bytes_parser(&mut ResponseParser::new(), &bytes, &limits).ok();
        same_as_bytes_parser(&mut warm, &bytes, &limits).ok();
        same_as_bytes_parser(&mut warm, NGINX, &Limits::default()).ok();
        check_head(&mut warm, &bytes, &Method::GET, &limits);
    }
}

#[test]
fn partial_head_leaves_the_buffer_untouched() {
    let mut parser = ResponseParser::new();
    let mut buf = BytesMut::new();
    for (i, &b) in NGINX.iter().enumerate() {
        buf.extend_from_slice(&[b]);
        let got = parser.parse(&mut buf, &Limits::default()).unwrap();
        if i + 1 < NGINX.len() {
            assert!(got.is_none());
            assert_eq!(&buf[..], &NGINX[..=i]);
        } else {
            let parsed = got.expect("complete");
            assert!(buf.is_empty());
            assert_eq!(
                parsed.body_kind(&Method::GET),
                Ok(httptrace_proto::BodyKind::Length(13))
            );
            assert!(parsed.keep_alive());
        }
    }
}

// ---- the name cache ----

#[test]
fn name_cache_is_bounded() {
    let limits = Limits {
        max_headers: 1000,
        ..Limits::default()
    };
    let mut parser = ResponseParser::new();
    let head = many_fields(300);
    for _ in 0..3 {
        check_head(&mut parser, &head, &Method::GET, &limits);
        assert!(parser.cached_names() <= NAME_CACHE_SLOTS);
    }
    assert_eq!(parser.cached_names(), NAME_CACHE_SLOTS);

    // Names too long to remember are still parsed, each time.
    let long = "X".repeat(MAX_CACHED_NAME_LEN + 1);
    let head = format!("HTTP/1.1 200 OK\r\n{long}: 1\r\nContent-Length: 0\r\n\r\n");
    for _ in 0..3 {
        check_head(&mut parser, head.as_bytes(), &Method::GET, &limits);
    }
    let head = format!("HTTP/1.1 200 OK\r\n{}: 2\r\n\r\n", long.to_lowercase());
    check_head(&mut parser, head.as_bytes(), &Method::GET, &limits);
    assert!(parser.cached_names() <= NAME_CACHE_SLOTS);
}

#[test]
fn cached_names_follow_the_bytes() {
    let mut parser = ResponseParser::new();
    let heads: [&[u8]; 5] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-A: a\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\nX-A: a\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nx-a: a\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-B: a\r\nConnection: close\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length : 1\r\nX-B: a\r\n\r\n",
    ];
    for _ in 0..2 {
        for h in heads {
            check_head(&mut parser, h, &Method::GET, &Limits::default());
        }
    }
}

#[test]
fn a_repeated_layout_is_copied_with_this_heads_values() {
    let mut parser = ResponseParser::new();
    let limits = Limits::default();
    let layout = |len: &str, conn: &str, tag: &str| {
        format!(
            "HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: {len}\r\nConnection: {conn}\r\n\
             X-Tag: {tag}\r\nETag: \"{tag}\"\r\n\r\n"
        )
    };
    check_head(
        &mut parser,
        layout("1", "keep-alive", "a").as_bytes(),
        &Method::GET,
        &limits,
    );
    assert!(!parser.remembers_layout(), "one head is no layout yet");
    check_head(
        &mut parser,
        layout("2", "keep-alive", "b").as_bytes(),
        &Method::GET,
        &limits,
    );
    assert!(parser.remembers_layout());
    // Copies: values (framing ones included) are this head's.
    for (len, conn, tag) in [
        ("3", "close", "c"),
        ("", "keep-alive", ""),
        ("40", "x, close", "d"),
    ] {
        check_head(
            &mut parser,
            layout(len, conn, tag).as_bytes(),
            &Method::GET,
            &limits,
        );
        assert!(parser.remembers_layout());
    }
    // One name spelled otherwise, one more field, one fewer: built, layout forgotten.
    let other = layout("5", "close", "e").replace("X-Tag", "x-tag");
    check_head(&mut parser, other.as_bytes(), &Method::GET, &limits);
    assert!(!parser.remembers_layout());
    check_head(&mut parser, other.as_bytes(), &Method::GET, &limits);
    assert!(parser.remembers_layout(), "the new spelling repeated");
    let more = other.replace("\r\n\r\n", "\r\nVary: *\r\n\r\n");
    check_head(&mut parser, more.as_bytes(), &Method::GET, &limits);
    assert!(!parser.remembers_layout());
    check_head(&mut parser, other.as_bytes(), &Method::GET, &limits);
    assert!(!parser.remembers_layout());
    // A name twice never makes a layout (values would not follow field order).
    let twice = "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nServer: t\r\nSet-Cookie: b=2\r\n\
                 Content-Length: 0\r\n\r\n";
    for _ in 0..3 {
        check_head(&mut parser, twice.as_bytes(), &Method::GET, &limits);
        assert!(!parser.remembers_layout());
    }
    // A head with no field at all repeats too.
    for _ in 0..3 {
        check_head(
            &mut parser,
            b"HTTP/1.1 204 No Content\r\n\r\n",
            &Method::GET,
            &limits,
        );
    }
}

// ---- property: one parser over a sequence of random heads ----

/// Field names: standard and custom, in several spellings, so that names
/// repeat, differ and change case from one head to the next.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "Content-Type", "content-type", "CONTENT-TYPE", "Server", "Date", "ETag",
            "Last-Modified", "Accept-Ranges", "Cache-Control", "Vary", "Set-Cookie",
            "X-Request-Id", "x-request-id", "X-Custom", "X-CUSTOM", "Alt-Svc",
            "Content-Length", "content-length", "Transfer-Encoding", "transfer-encoding",
            "Connection", "connection", "CONNECTION", "Keep-Alive", "Upgrade",
        ])
        .prop_map(str::to_owned),
        1 => "[A-Za-z0-9!#$%&'*+^_`|~.-]{1,12}",
        1 => Just("X-".to_owned() + &"n".repeat(MAX_CACHED_NAME_LEN)),
    ]
}

/// Values, weighted towards what the framing fields hold.
fn field_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "0", "13", "13, 13", "13,14", " 7 ", "1 3", "+5", "", "abc",
            "18446744073709551616", "chunked", "Chunked", "gzip, chunked", "chunked, gzip",
            "chunked;q=1", "chunked, chunked", ",", "gzip", " , chunked", "close",
            "keep-alive", "Keep-Alive, Upgrade", "upgrade", "CLOSE , x", "x-close",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::collection::vec(
            prop_oneof![8 => 0x21u8..=0x7e, 1 => Just(b' '), 1 => Just(b'\t'), 1 => 0x80u8..=0xff],
            0..20,
        ),
    ]
}

#[derive(Debug, Clone)]
struct Head {
    bytes: Vec<u8>,
    method: Method,
}

fn head() -> impl Strategy<Value = Head> {
    (
        prop::sample::select(vec!["HTTP/1.1", "HTTP/1.0"]),
        prop::sample::select(vec![100u16, 101, 103, 200, 204, 206, 301, 304, 404, 500]),
        prop::sample::select(vec![" OK", "", " ", " Whatever it is", " Ok\u{e9}"]),
        prop::collection::vec((field_name(), field_value(), any::<bool>()), 0..12),
        prop::sample::select(vec![
            Method::GET,
            Method::HEAD,
            Method::CONNECT,
            Method::POST,
        ]),
    )
        .prop_map(|(version, status, reason, fields, method)| {
            let mut bytes = format!("{version} {status}{reason}\r\n").into_bytes();
            for (name, value, space) in fields {
                bytes.extend_from_slice(name.as_bytes());
                bytes.extend_from_slice(if space { b": " } else { b":" });
                bytes.extend_from_slice(&value);
                bytes.extend_from_slice(b"\r\n");
            }
            bytes.extend_from_slice(b"\r\n");
            Head { bytes, method }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// One parser reused over a sequence of heads gives, for each, the head
    /// of the copying parser and the framing decisions of
    /// `response_body_kind` / `response_keep_alive`.
    #[test]
    fn reused_parser_matches_stateless_parsers(
        heads in prop::collection::vec(head(), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let limits = Limits::default();
        let mut parser = ResponseParser::new();
        for h in &heads {
            // A prefix first (partial, or the error the prefix shows)...
            let n = cut.index(h.bytes.len());
            same_as_bytes_parser(&mut parser, &h.bytes[..n], &limits).ok();
            // ...then the whole head.
            let consumed = check_head(&mut parser, &h.bytes, &h.method, &limits);
            prop_assert!(consumed.is_none() || consumed == Some(h.bytes.len()));
            prop_assert!(parser.cached_names() <= NAME_CACHE_SLOTS);
        }
    }

    /// Heads of one layout with random values, then another head: every
    /// head, copied from the remembered layout or built, is the copying
    /// parser's.
    #[test]
    fn repeated_layouts_match_stateless_parsers(
        h in head(),
        values in prop::collection::vec(
            prop::collection::vec(prop::sample::select(b"0123456789abc ,;-\t".to_vec()), 0..6),
            1..5,
        ),
        then in head(),
    ) {
        let limits = Limits::default();
        let mut parser = ResponseParser::new();
        let text = String::from_utf8_lossy(&h.bytes).into_owned();
        for v in &values {
            // The same names with this value in every field.
            let v = String::from_utf8_lossy(v).trim().to_string();
            let mut out = String::new();
            for (i, line) in text.split("\r\n").enumerate() {
                if i > 0 {
                    out.push_str("\r\n");
                }
                match line.split_once(':') {
                    Some((name, _)) if i > 0 => {
                        out.push_str(name);
                        out.push_str(": ");
                        out.push_str(&v);
                    }
                    _ => out.push_str(line),
                }
            }
            check_head(&mut parser, out.as_bytes(), &h.method, &limits);
            check_head(&mut parser, &h.bytes, &h.method, &limits);
        }
        check_head(&mut parser, &then.bytes, &then.method, &limits);
        check_head(&mut parser, &h.bytes, &h.method, &limits);
    }

    /// A head of the remembered layout (nginx's) with bytes replaced,
    /// inserted or removed, cut short, under tight limits: the parser reads
    /// such heads without httparse only when they are laid out exactly as
    /// before, and must then give what the copying parser gives; everything
    /// else goes through httparse. Either way: the same head or error.
    #[test]
    fn edits_of_a_remembered_layout_match(
        edits in prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                0u8..3,
                prop_oneof![
                    4 => prop::sample::select(b" \t\r\n:a0,\"".to_vec()),
                    1 => prop::sample::select(vec![0u8, 0x1f, 0x7e, 0x7f, 0x80, 0xc3, 0xff]),
                ],
            ),
            1..4,
        ),
        cut in prop::option::of(any::<prop::sample::Index>()),
        max_head_bytes in prop::option::of(200usize..400),
        max_headers in prop::option::of(6usize..10),
    ) {
        let mut bytes = NGINX.to_vec();
        for (at, op, byte) in edits {
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => {
                    bytes.remove(i);
                }
            }
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        let limits = Limits {
            max_head_bytes: max_head_bytes.unwrap_or(Limits::default().max_head_bytes),
            max_headers: max_headers.unwrap_or(Limits::default().max_headers),
            ..Limits::default()
        };
        let mut parser = ResponseParser::new();
        for _ in 0..2 {
            check_head(&mut parser, NGINX, &Method::GET, &Limits::default());
        }
        prop_assert!(parser.remembers_layout());
        check_head(&mut parser, &bytes, &Method::GET, &limits);
        check_head(&mut parser, NGINX, &Method::GET, &limits);
        check_head(&mut parser, &bytes, &Method::GET, &limits);
    }

    /// Arbitrary near-valid bytes: same result and same buffer as
    /// `parse_response_head`, from a parser that has seen other heads.
    #[test]
    fn arbitrary_bytes_match(
        prefix in prop::sample::select(vec![
            "HTTP/1.1 200 OK\r\n", "HTTP/1.0 204 \r\n", "\r\nHTTP/1.1 100\r\n", "HTTP/1.1 ",
        ]),
        tail in prop::collection::vec(
            prop_oneof![
                6 => prop::sample::select(b"Aa:- \t\r\n0,;".to_vec()),
                1 => any::<u8>(),
            ],
            0..64,
        ),
        max_headers in 0usize..6,
    ) {
        let limits = Limits { max_headers, ..Limits::default() };
        let mut bytes = prefix.as_bytes().to_vec();
        bytes.extend_from_slice(&tail);
        let mut parser = ResponseParser::new();
        same_as_bytes_parser(&mut parser, NGINX, &Limits::default()).ok();
        same_as_bytes_parser(&mut parser, &bytes, &limits).ok();
        check_head(&mut parser, &bytes, &Method::GET, &limits);
    }
}
