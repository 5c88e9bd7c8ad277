//! Request validation, head serialization and body framing.

use bytes::BytesMut;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use httptrace_proto::{
    validate_field_bytes, validate_header, validate_method, validate_request_target, BodyKind,
    Decoded, Decoder, Encoder, HeadWriter, InvalidRequest, Limits, ProtoError,
};

fn invalid(e: InvalidRequest) -> Result<(), ProtoError> {
    Err(ProtoError::InvalidRequest(e))
}

#[test]
fn methods() {
    for m in ["GET", "POST", "PURGE", "M-SEARCH", "X_Y.Z~!#$%&'*+^`|"] {
        let method = Method::from_bytes(m.as_bytes()).unwrap();
        assert_eq!(validate_method(&method), Ok(()), "{m}");
    }
}

#[test]
fn request_targets() {
    for t in [
        "/",
        "*",
        "/a/b?c=d&e#f",
        "example.com:443",
        "http://h/p?q=%20",
        "/~!$&'()*+,;=:@",
    ] {
        assert_eq!(validate_request_target(t), Ok(()), "{t}");
    }
    for t in [
        "",
        "/a b",
        "/a\r\nHost: evil",
        "/a\nb",
        "/a\rb",
        "/\0",
        "/\t",
        "/\x7f",
        "/\u{e9}",
    ] {
        assert_eq!(
            validate_request_target(t),
            invalid(InvalidRequest::Target),
            "{t:?}"
        );
    }
}

#[test]
fn header_fields() {
    let name = HeaderName::from_static("x-ok");
    for v in [
        &b""[..],
        b"plain",
        b"tab\there",
        b"obs \xff text",
        b" padded ",
    ] {
        assert_eq!(
            validate_header(&name, &HeaderValue::from_bytes(v).unwrap()),
            Ok(())
        );
    }
    for v in [
        &b"a\r\nInjected: 1"[..],
        b"a\nb",
        b"a\rb",
        b"a\0b",
        b"\x01",
        b"\x7f",
    ] {
        assert_eq!(
            validate_field_bytes(b"X-Bad", v),
            invalid(InvalidRequest::HeaderValue("X-Bad".into())),
            "{v:?}"
        );
    }
    for n in [&b""[..], b"a b", b"a:b", b"a\r\n", b"\xff", b"(x)"] {
        assert_eq!(
            validate_field_bytes(n, b"v"),
            invalid(InvalidRequest::HeaderName(
                String::from_utf8_lossy(n).into_owned()
            )),
            "{n:?}"
        );
    }
}

#[test]
fn head_writer() {
    let mut buf = Vec::new();
    let mut w = HeadWriter::new(&mut buf, &Method::POST, "/upload?x=1");
    w.field("Host", ["example.com"]).unwrap();
    w.field("Accept", ["text/html", "application/json"])
        .unwrap();
    w.field("X-Empty", [""]).unwrap();
    w.field("X-None", Vec::<&[u8]>::new()).unwrap();
    w.field_value(b"Content-Length", b"3").unwrap();
    w.finish();
    assert_eq!(
        String::from_utf8(buf).unwrap(),
        "POST /upload?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: text/html\r\n\
         Accept: application/json\r\nX-Empty: \r\nContent-Length: 3\r\n\r\n"
    );
}

#[test]
fn head_writer_with_header_values() {
    let mut headers = HeaderMap::new();
    headers.append("x-a", HeaderValue::from_static("1"));
    headers.append("x-a", HeaderValue::from_static("2"));
    let mut buf = Vec::new();
    let mut w = HeadWriter::try_new(&mut buf, &Method::GET, "/").unwrap();
    for name in headers.keys() {
        w.field(name.as_str(), headers.get_all(name)).unwrap();
    }
    w.finish();
    assert_eq!(buf, b"GET / HTTP/1.1\r\nx-a: 1\r\nx-a: 2\r\n\r\n");
}

#[test]
fn head_writer_rejects_without_writing() {
    let mut buf = b"prefix".to_vec();
    assert_eq!(
        HeadWriter::try_new(&mut buf, &Method::GET, "/a b").map(|_| ()),
        invalid(InvalidRequest::Target)
    );
    assert_eq!(buf, b"prefix");

    let mut buf = Vec::new();
    let mut w = HeadWriter::try_new(&mut buf, &Method::GET, "/").unwrap();
    assert_eq!(
        w.field("X", [&b"good"[..], b"bad\r\nEvil: 1"]),
        invalid(InvalidRequest::HeaderValue("X".into()))
    );
    assert_eq!(
        w.field("Bad Name", ["v"]),
        invalid(InvalidRequest::HeaderName("Bad Name".into()))
    );
    assert_eq!(
        w.field_value(b"X", b"\0"),
        invalid(InvalidRequest::HeaderValue("X".into()))
    );
    w.finish();
    assert_eq!(buf, b"GET / HTTP/1.1\r\n\r\n");
}

#[test]
fn length_encoder() {
    let mut enc = Encoder::length(5);
    let mut out = Vec::new();
    assert!(!enc.is_chunked());
    enc.encode_chunk_header(3, &mut out).unwrap();
    enc.encode_chunk_trailer(&mut out);
    assert!(out.is_empty());
    assert_eq!(enc.remaining(), Some(2));
    assert_eq!(
        enc.encode_chunk_header(3, &mut out),
        invalid(InvalidRequest::ContentLengthMismatch {
            declared: 5,
            actual: 6
        })
    );
    assert_eq!(
        enc.finish(&mut out),
        invalid(InvalidRequest::ContentLengthMismatch {
            declared: 5,
            actual: 3
        })
    );
    enc.encode_data(b"ab", &mut out).unwrap();
    assert_eq!(out, b"ab");
    enc.finish(&mut out).unwrap();
    assert!(enc.is_finished());
    assert_eq!(out, b"ab");
    assert_eq!(
        enc.encode_chunk_header(0, &mut out),
        invalid(InvalidRequest::BodyAfterFinish)
    );
    assert_eq!(
        enc.finish(&mut out),
        invalid(InvalidRequest::BodyAfterFinish)
    );
}

#[test]
fn empty_encoder() {
    let mut enc = Encoder::empty();
    let mut out = Vec::new();
    enc.encode_chunk_header(0, &mut out).unwrap();
    assert_eq!(
        enc.encode_chunk_header(1, &mut out),
        invalid(InvalidRequest::ContentLengthMismatch {
            declared: 0,
            actual: 1
        })
    );
    assert_eq!(enc.remaining(), Some(0));
    let mut trailers = HeaderMap::new();
    trailers.insert("x", HeaderValue::from_static("y"));
    assert_eq!(
        enc.finish_with_trailers(&trailers, &mut out),
        invalid(InvalidRequest::TrailersNotChunked)
    );
    enc.finish(&mut out).unwrap();
    assert!(out.is_empty());
}

#[test]
fn chunked_encoder() {
    let mut enc = Encoder::chunked();
    assert!(enc.is_chunked());
    assert_eq!(enc.remaining(), None);
    let mut out = Vec::new();
    enc.encode_data(b"hello", &mut out).unwrap();
    // Empty pieces must not produce a last-chunk.
    enc.encode_data(b"", &mut out).unwrap();
    enc.encode_data(&[b'x'; 0x1a], &mut out).unwrap();
    enc.finish(&mut out).unwrap();
    let mut expected = b"5\r\nhello\r\n1a\r\n".to_vec();
    expected.extend_from_slice(&[b'x'; 0x1a]);
    expected.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_eq!(out, expected);
}

#[test]
fn chunked_encoder_closes_open_chunks() {
    let mut enc = Encoder::chunked();
    let mut out = Vec::new();
    enc.encode_chunk_header(1, &mut out).unwrap();
    out.push(b'a');
    // Trailer forgotten: the next header closes the chunk.
    enc.encode_chunk_header(1, &mut out).unwrap();
    out.push(b'b');
    enc.finish(&mut out).unwrap();
    assert_eq!(out, b"1\r\na\r\n1\r\nb\r\n0\r\n\r\n");
}

#[test]
fn chunked_encoder_vectored_use() {
    // The data never goes through the encoder's buffer.
    let data = vec![7u8; 70_000];
    let mut enc = Encoder::chunked();
    let mut prefix = Vec::new();
    enc.encode_chunk_header(data.len(), &mut prefix).unwrap();
    assert_eq!(prefix, b"11170\r\n");
    let mut suffix = Vec::new();
    enc.encode_chunk_trailer(&mut suffix);
    enc.finish(&mut suffix).unwrap();
    assert_eq!(suffix, b"\r\n0\r\n\r\n");
}

#[test]
fn chunked_trailers() {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc"));
    let mut enc = Encoder::chunked();
    let mut out = Vec::new();
    enc.encode_data(b"hi", &mut out).unwrap();
    enc.finish_with_trailers(&trailers, &mut out).unwrap();
    assert_eq!(out, b"2\r\nhi\r\n0\r\nx-checksum: abc\r\n\r\n");

    let mut dec = Decoder::new(BodyKind::Chunked, &Limits::default());
    let mut buf = BytesMut::from(&out[..]);
    assert_eq!(dec.decode(&mut buf), Ok(Decoded::Data("hi".into())));
    assert_eq!(
        dec.decode(&mut buf),
        Ok(Decoded::Done {
            trailers: Some(trailers)
        })
    );
}

#[test]
fn errors_display() {
    let e = ProtoError::from(InvalidRequest::ContentLengthMismatch {
        declared: 5,
        actual: 6,
    });
    assert_eq!(
        e.to_string(),
        "invalid request: body length 6 does not match Content-Length 5"
    );
}
