//! Property tests: split invariance, no panics on arbitrary input, chunked
//! encode/decode roundtrip.

use bytes::BytesMut;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use httptrace_proto::{
    parse_response_head, response_body_kind, BodyKind, Decoded, Decoder, Encoder, Limits,
    ParseStatus, ProtoError, ResponseHead,
};
use proptest::prelude::*;

/// What a driver sees of one response.
#[derive(Debug, PartialEq)]
struct Outcome {
    head: ResponseHead,
    kind: BodyKind,
    body: Vec<u8>,
    trailers: Option<HeaderMap>,
    leftover: Vec<u8>,
}

/// A minimal driver: reads `stream` in the given pieces, parses the head,
/// decodes the body, and returns what followed it.
fn drive(stream: &[u8], cuts: &[usize], limits: &Limits) -> Result<Outcome, ProtoError> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    cuts.sort_unstable();
    for c in cuts {
        pieces.push(&stream[start..c.max(start)]);
        start = c.max(start);
    }
    pieces.push(&stream[start..]);
    let mut pieces = pieces.into_iter();

    let mut buf = BytesMut::new();
    let (head, consumed) = loop {
        match parse_response_head(&buf, limits)? {
            ParseStatus::Complete { head, consumed } => break (head, consumed),
            ParseStatus::Partial => match pieces.next() {
                Some(p) => buf.extend_from_slice(p),
                None => panic!("stream ended inside the head"),
            },
        }
    };
    let _ = buf.split_to(consumed);
    let kind = response_body_kind(&Method::GET, &head)?;
    let mut dec = Decoder::new(kind, limits);
    let mut body = Vec::new();
    let trailers = loop {
        match dec.decode(&mut buf)? {
            Decoded::Data(d) => body.extend_from_slice(&d),
            Decoded::Done { trailers } => break trailers,
            Decoded::NeedMore => match pieces.next() {
                Some(p) => buf.extend_from_slice(p),
                None => match dec.decode_eof()? {
                    Decoded::Done { trailers } => break trailers,
                    other => panic!("{other:?}"),
                },
            },
        }
    };
    let mut leftover = buf.to_vec();
    for p in pieces {
        leftover.extend_from_slice(p);
    }
    Ok(Outcome {
        head,
        kind,
        body,
        trailers,
        leftover,
    })
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+^_`|~.-]{1,12}"
}

fn field_value() -> impl Strategy<Value = Vec<u8>> {
    // Visible ASCII, obs-text and inner spaces/tabs; no leading/trailing
    // whitespace (the parser trims it).
    prop::collection::vec(
        prop_oneof![8 => 0x21u8..=0x7e, 1 => Just(b' '), 1 => Just(b'\t'), 1 => 0x80u8..=0xff],
        0..20,
    )
    .prop_map(|mut v| {
        while matches!(v.last(), Some(b' ' | b'\t')) {
            v.pop();
        }
        while matches!(v.first(), Some(b' ' | b'\t')) {
            v.remove(0);
        }
        v
    })
}

fn extra_headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    prop::collection::vec((token(), field_value()), 0..6).prop_map(|hs| {
        hs.into_iter()
            .filter(|(n, _)| {
                let n = n.to_ascii_lowercase();
                n != "content-length" && n != "transfer-encoding"
            })
            .collect()
    })
}

#[derive(Debug, Clone)]
enum Framing {
    Length,
    Chunked {
        sizes: Vec<usize>,
        ext: bool,
        trailers: Vec<(String, Vec<u8>)>,
    },
    Close,
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        Just(Framing::Length),
        (
            prop::collection::vec(1usize..40, 0..6),
            any::<bool>(),
            extra_headers()
        )
            .prop_map(|(sizes, ext, trailers)| Framing::Chunked {
                sizes,
                ext,
                trailers
            }),
        Just(Framing::Close),
    ]
}

/// Serializes a response; returns the stream and the expected body.
fn response(
    status: u16,
    reason: &str,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
    framing: &Framing,
    next: &[u8],
) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status} {reason}\r\n").into_bytes();
    for (n, v) in headers {
        s.extend_from_slice(n.as_bytes());
        s.extend_from_slice(b": ");
        s.extend_from_slice(v);
        s.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Length => {
            s.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            s.extend_from_slice(body);
            s.extend_from_slice(next);
        }
        Framing::Chunked {
            sizes,
            ext,
            trailers,
        } => {
            s.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let mut rest = body;
            let mut i = 0;
            while !rest.is_empty() {
                let n = sizes.get(i).copied().unwrap_or(rest.len()).min(rest.len());
                i += 1;
                if *ext {
                    s.extend_from_slice(format!("{n:X} ;ext={i}\r\n").as_bytes());
                } else {
                    s.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                }
                s.extend_from_slice(&rest[..n]);
                s.extend_from_slice(b"\r\n");
                rest = &rest[n..];
            }
            s.extend_from_slice(b"0\r\n");
            for (n, v) in trailers {
                s.extend_from_slice(n.as_bytes());
                s.extend_from_slice(b": ");
                s.extend_from_slice(v);
                s.extend_from_slice(b"\r\n");
            }
            s.extend_from_slice(b"\r\n");
            s.extend_from_slice(next);
        }
        Framing::Close => {
            s.extend_from_slice(b"\r\n");
            s.extend_from_slice(body);
        }
    }
    s
}

fn to_map(fields: &[(String, Vec<u8>)]) -> Option<HeaderMap> {
    if fields.is_empty() {
        return None;
    }
    let mut map = HeaderMap::new();
    for (n, v) in fields {
        map.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_bytes(v).unwrap(),
        );
    }
    Some(map)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any split of a valid response stream gives the same head, body,
    /// trailers and leftover as reading it in one piece.
    #[test]
    fn any_split_gives_the_same_response(
        status in prop::sample::select(vec![200u16, 201, 206, 400, 404, 500, 599]),
        reason in "[A-Za-z ]{0,10}",
        headers in extra_headers(),
        body in prop::collection::vec(any::<u8>(), 0..200),
        framing in framing(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let next = b"HTTP/1.1 204 No Content\r\n\r\n";
        let stream = response(status, &reason, &headers, &body, &framing, next);
        let limits = Limits::default();
        let whole = drive(&stream, &[], &limits).unwrap();
        let split = drive(&stream, &cuts, &limits).unwrap();
        prop_assert_eq!(&whole, &split);
        prop_assert_eq!(whole.head.status.as_u16(), status);
        prop_assert_eq!(&whole.head.reason, &reason);
        prop_assert_eq!(&whole.body, &body);
        for (n, v) in &headers {
            prop_assert!(whole.head.headers.get_all(n.as_str()).iter().any(|x| x.as_bytes() == &v[..]));
        }
        match &framing {
            Framing::Length => {
                prop_assert_eq!(whole.kind, BodyKind::Length(body.len() as u64));
                prop_assert_eq!(&whole.leftover[..], &next[..]);
            }
            Framing::Chunked { trailers, .. } => {
                prop_assert_eq!(whole.kind, BodyKind::Chunked);
                prop_assert_eq!(&whole.trailers, &to_map(trailers));
                prop_assert_eq!(&whole.leftover[..], &next[..]);
            }
            Framing::Close => {
                prop_assert_eq!(whole.kind, BodyKind::CloseDelimited);
                prop_assert!(whole.leftover.is_empty());
            }
        }
    }

    /// Arbitrary bytes never panic the head parser.
    #[test]
    fn head_parser_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        max_head in 0usize..600,
        max_headers in 0usize..200,
    ) {
        let limits = Limits { max_head_bytes: max_head, max_headers, ..Limits::default() };
        if let Ok(ParseStatus::Complete { head, consumed }) = parse_response_head(&bytes, &limits) {
            prop_assert!(consumed <= bytes.len() && consumed <= max_head);
            let _ = response_body_kind(&Method::GET, &head);
            let _ = httptrace_proto::response_keep_alive(&head);
        }
        let _ = parse_response_head(&bytes, &Limits::default());
    }

    /// Head-like inputs (a valid prefix, then noise) never panic either.
    #[test]
    fn head_parser_never_panics_on_near_valid_input(
        noise in prop::collection::vec(prop_oneof![
            Just(b'\r'), Just(b'\n'), Just(b':'), Just(b' '), Just(b'\t'), Just(0u8),
            b'0'..=b'9', b'a'..=b'z', any::<u8>()
        ], 0..256),
    ) {
        let mut bytes = b"HTTP/1.1 200 OK\r\nContent-Length: ".to_vec();
        bytes.extend_from_slice(&noise);
        if let Ok(ParseStatus::Complete { head, .. }) = parse_response_head(&bytes, &Limits::default()) {
            let _ = response_body_kind(&Method::GET, &head);
        }
    }

    /// Arbitrary bytes, in arbitrary pieces, never panic the decoder, and
    /// it never returns more than was fed.
    #[test]
    fn decoder_never_panics(
        bytes in prop::collection::vec(prop_oneof![
            Just(b'\r'), Just(b'\n'), Just(b';'), Just(b' '), Just(b'0'), Just(b':'),
            b'0'..=b'9', b'a'..=b'f', any::<u8>()
        ], 0..512),
        kind in prop_oneof![
            Just(BodyKind::Empty),
            any::<u64>().prop_map(BodyKind::Length),
            (0u64..64).prop_map(BodyKind::Length),
            Just(BodyKind::Chunked),
            Just(BodyKind::CloseDelimited),
        ],
        step in 1usize..64,
        small_limits in any::<bool>(),
    ) {
        let limits = if small_limits {
            Limits { max_head_bytes: 64, max_headers: 2, max_chunk_ext_bytes: 8, max_trailer_bytes: 16 }
        } else {
            Limits::default()
        };
        let mut dec = Decoder::new(kind, &limits);
        let mut buf = BytesMut::new();
        let mut pieces = bytes.chunks(step);
        let mut out = 0usize;
        loop {
            match dec.decode(&mut buf) {
                Ok(Decoded::Data(d)) => { prop_assert!(!d.is_empty()); out += d.len(); }
                Ok(Decoded::Done { .. }) => break,
                Ok(Decoded::NeedMore) => match pieces.next() {
                    Some(p) => buf.extend_from_slice(p),
                    None => { let _ = dec.decode_eof(); break; }
                },
                Err(_) => {
                    // Sticky.
                    prop_assert!(dec.decode(&mut buf).is_err());
                    break;
                }
            }
        }
        prop_assert!(out <= bytes.len());
        prop_assert_eq!(dec.bytes_received(), out as u64);
    }

    /// Chunked encode then decode gives back the data and the trailers, for
    /// any split of the encoded stream.
    #[test]
    fn chunked_roundtrip(
        pieces in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8),
        trailers in extra_headers(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut enc = Encoder::chunked();
        let mut wire = Vec::new();
        for p in &pieces {
            // Vectored style: header, data, trailer written separately.
            let mut head = Vec::new();
            enc.encode_chunk_header(p.len(), &mut head).unwrap();
            wire.extend_from_slice(&head);
            wire.extend_from_slice(p);
            enc.encode_chunk_trailer(&mut wire);
        }
        let trailer_map = to_map(&trailers);
        enc.finish_with_trailers(&trailer_map.clone().unwrap_or_default(), &mut wire).unwrap();

        let mut stream = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        stream.extend_from_slice(&wire);
        stream.extend_from_slice(b"tail");
        let out = drive(&stream, &cuts, &Limits::default()).unwrap();
        prop_assert_eq!(out.body, pieces.concat());
        prop_assert_eq!(out.trailers, trailer_map);
        prop_assert_eq!(out.leftover, b"tail".to_vec());
    }

    /// Content-Length encode then decode.
    #[test]
    fn length_roundtrip(
        pieces in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..6),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let data = pieces.concat();
        let mut enc = Encoder::length(data.len() as u64);
        let mut wire = Vec::new();
        for p in &pieces {
            enc.encode_data(p, &mut wire).unwrap();
        }
        enc.finish(&mut wire).unwrap();
        prop_assert_eq!(&wire, &data);
        let mut stream = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", data.len()).into_bytes();
        stream.extend_from_slice(&wire);
        let out = drive(&stream, &cuts, &Limits::default()).unwrap();
        prop_assert_eq!(out.body, data);
        prop_assert!(out.leftover.is_empty());
    }
}
