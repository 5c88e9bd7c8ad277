//! Response body framing (RFC 9112 §6.3) and connection reuse.

use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};
use httptrace_proto::{
    connection_has_token, response_body_kind, response_keep_alive, BodyKind, ProtoError,
    ResponseHead,
};

fn head(version: Version, status: u16, headers: &[(&str, &[u8])]) -> ResponseHead {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    ResponseHead {
        version,
        status: StatusCode::from_u16(status).unwrap(),
        reason: std::borrow::Cow::Borrowed(""),
        headers: map,
    }
}

fn kind(status: u16, headers: &[(&str, &[u8])]) -> Result<BodyKind, ProtoError> {
    response_body_kind(&Method::GET, &head(Version::HTTP_11, status, headers))
}

#[test]
fn no_body_responses() {
    let cl: &[(&str, &[u8])] = &[("content-length", b"10")];
    let te: &[(&str, &[u8])] = &[("transfer-encoding", b"chunked")];
    for h in [cl, te, &[]] {
        let r = head(Version::HTTP_11, 200, h);
        assert_eq!(response_body_kind(&Method::HEAD, &r), Ok(BodyKind::Empty));
        for status in [100, 101, 103, 199, 204, 304] {
            assert_eq!(kind(status, h), Ok(BodyKind::Empty), "{status}");
        }
    }
}

#[test]
fn connect() {
    let cl: &[(&str, &[u8])] = &[("content-length", b"10")];
    for status in [200, 204, 299] {
        let r = head(Version::HTTP_11, status, cl);
        assert_eq!(
            response_body_kind(&Method::CONNECT, &r),
            Ok(BodyKind::Empty)
        );
    }
    let r = head(Version::HTTP_11, 407, cl);
    assert_eq!(
        response_body_kind(&Method::CONNECT, &r),
        Ok(BodyKind::Length(10))
    );
}

#[test]
fn chunked() {
    for te in [
        &b"chunked"[..],
        b"Chunked",
        b"CHUNKED",
        b"gzip, chunked",
        b" gzip ,chunked ",
    ] {
        assert_eq!(
            kind(200, &[("transfer-encoding", te)]),
            Ok(BodyKind::Chunked),
            "{te:?}"
        );
    }
    // Split across fields.
    assert_eq!(
        kind(
            200,
            &[
                ("transfer-encoding", b"gzip"),
                ("transfer-encoding", b"chunked")
            ]
        ),
        Ok(BodyKind::Chunked)
    );
    // Empty list elements are ignored.
    assert_eq!(
        kind(200, &[("transfer-encoding", b",chunked,")]),
        Ok(BodyKind::Chunked)
    );
}

#[test]
fn te_without_final_chunked_reads_until_close() {
    for te in [&b"gzip"[..], b"chunked, gzip", b"identity", b"x-custom;p=1"] {
        assert_eq!(
            kind(200, &[("transfer-encoding", te)]),
            Ok(BodyKind::CloseDelimited),
            "{te:?}"
        );
    }
    assert_eq!(
        kind(
            200,
            &[
                ("transfer-encoding", b"chunked"),
                ("transfer-encoding", b"gzip")
            ]
        ),
        Ok(BodyKind::CloseDelimited)
    );
}

#[test]
fn unsupported_transfer_encoding() {
    for te in [
        &b""[..],
        b" , ",
        b"chunked, chunked",
        b"chunked;foo=bar",
        b"gzip, chunked\xff",
    ] {
        assert_eq!(
            kind(200, &[("transfer-encoding", te)]),
            Err(ProtoError::UnsupportedTransferEncoding),
            "{te:?}"
        );
    }
    assert_eq!(
        kind(
            200,
            &[
                ("transfer-encoding", b"chunked"),
                ("transfer-encoding", b"chunked")
            ]
        ),
        Err(ProtoError::UnsupportedTransferEncoding)
    );
    // HTTP/1.0 responses must not use Transfer-Encoding at all.
    let r = head(Version::HTTP_10, 200, &[("transfer-encoding", b"chunked")]);
    assert_eq!(
        response_body_kind(&Method::GET, &r),
        Err(ProtoError::UnsupportedTransferEncoding)
    );
}

#[test]
fn te_with_content_length_is_rejected() {
    for cl in [&b"5"[..], b"nonsense"] {
        assert_eq!(
            kind(
                200,
                &[("transfer-encoding", b"chunked"), ("content-length", cl)]
            ),
            Err(ProtoError::ConflictingFraming)
        );
        assert_eq!(
            kind(
                200,
                &[("content-length", cl), ("transfer-encoding", b"gzip")]
            ),
            Err(ProtoError::ConflictingFraming)
        );
    }
}

#[test]
fn content_length() {
    for (cl, n) in [
        (&b"0"[..], 0u64),
        (b"5", 5),
        (b"005", 5),
        (b" 7\t", 7),
        (b"5, 5", 5),
        (b"5,5,5", 5),
        (b"18446744073709551615", u64::MAX),
    ] {
        assert_eq!(
            kind(200, &[("content-length", cl)]),
            Ok(BodyKind::Length(n)),
            "{cl:?}"
        );
    }
    assert_eq!(
        kind(200, &[("content-length", b"5"), ("content-length", b"5")]),
        Ok(BodyKind::Length(5))
    );
    assert_eq!(
        kind(
            200,
            &[("content-length", b"5"), ("content-length", b"5, 5")]
        ),
        Ok(BodyKind::Length(5))
    );
}

#[test]
fn invalid_content_length() {
    for cl in [
        &b""[..],
        b" ",
        b"-1",
        b"+5",
        b"5 5",
        b"1,2",
        b"5,",
        b",5",
        b"5,,5",
        b"0x10",
        b"1e3",
        b"abc",
        b"5.0",
        b"\xd9\xa5",
        b"18446744073709551616",
        b"99999999999999999999999",
    ] {
        assert_eq!(
            kind(200, &[("content-length", cl)]),
            Err(ProtoError::InvalidContentLength),
            "{cl:?}"
        );
    }
    assert_eq!(
        kind(200, &[("content-length", b"5"), ("content-length", b"-1")]),
        Err(ProtoError::InvalidContentLength)
    );
}

#[test]
fn conflicting_content_length() {
    assert_eq!(
        kind(200, &[("content-length", b"5"), ("content-length", b"6")]),
        Err(ProtoError::ConflictingContentLength)
    );
    assert_eq!(
        kind(
            200,
            &[("content-length", b"5, 5"), ("content-length", b"6")]
        ),
        Err(ProtoError::ConflictingContentLength)
    );
}

#[test]
fn close_delimited_by_default() {
    assert_eq!(kind(200, &[]), Ok(BodyKind::CloseDelimited));
    let r = head(Version::HTTP_10, 200, &[]);
    assert_eq!(
        response_body_kind(&Method::POST, &r),
        Ok(BodyKind::CloseDelimited)
    );
}

#[test]
fn keep_alive() {
    type Fields = &'static [(&'static str, &'static [u8])];
    let cases: &[(Version, Fields, bool)] = &[
        (Version::HTTP_11, &[], true),
        (Version::HTTP_11, &[("connection", b"close")], false),
        (
            Version::HTTP_11,
            &[("connection", b"keep-alive, Close")],
            false,
        ),
        (
            Version::HTTP_11,
            &[("connection", b"upgrade"), ("connection", b" CLOSE ")],
            false,
        ),
        (Version::HTTP_11, &[("connection", b"closed")], true),
        (Version::HTTP_10, &[], false),
        (Version::HTTP_10, &[("connection", b"Keep-Alive")], true),
        (
            Version::HTTP_10,
            &[("connection", b"keep-alive, close")],
            false,
        ),
        (Version::HTTP_2, &[], false),
        // The exact values the framing code takes without splitting tokens.
        (Version::HTTP_10, &[("connection", b"keep-alive")], true),
        (
            Version::HTTP_11,
            &[("connection", b"keep-alive"), ("connection", b"close")],
            false,
        ),
        (
            Version::HTTP_10,
            &[("connection", b"close"), ("connection", b"keep-alive")],
            false,
        ),
    ];
    for &(version, fields, want) in cases {
        assert_eq!(
            response_keep_alive(&head(version, 200, fields)),
            want,
            "{version:?} {fields:?}"
        );
    }
}

#[test]
fn connection_tokens() {
    let h = head(
        Version::HTTP_11,
        200,
        &[
            ("connection", b"keep-alive,\tUpgrade"),
            ("connection", b"x-foo"),
        ],
    );
    assert!(connection_has_token(&h.headers, "upgrade"));
    assert!(connection_has_token(&h.headers, "KEEP-ALIVE"));
    assert!(connection_has_token(&h.headers, "x-foo"));
    assert!(!connection_has_token(&h.headers, "close"));
    assert!(!connection_has_token(&h.headers, "keep"));
    assert!(!connection_has_token(&HeaderMap::new(), "close"));
}
