//! Response head parsing: status line, header fields, limits.

use http::{StatusCode, Version};
use httptrace_proto::{parse_response_head, Limits, ParseStatus, ProtoError, ResponseHead};

fn parse(buf: &[u8]) -> Result<ParseStatus, ProtoError> {
    parse_response_head(buf, &Limits::default())
}

fn complete(buf: &[u8]) -> (ResponseHead, usize) {
    match parse(buf) {
        Ok(ParseStatus::Complete { head, consumed }) => (head, consumed),
        other => panic!("expected a complete head for {buf:?}, got {other:?}"),
    }
}

fn err(buf: &[u8]) -> ProtoError {
    match parse(buf) {
        Err(e) => e,
        other => panic!("expected an error for {buf:?}, got {other:?}"),
    }
}

#[test]
fn simple_response() {
    let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello";
    let (head, consumed) = complete(buf);
    assert_eq!(consumed, buf.len() - 5);
    assert_eq!(head.version, Version::HTTP_11);
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.reason, "OK");
    assert_eq!(head.headers.len(), 2);
    assert_eq!(head.headers["content-length"], "5");
    assert_eq!(head.headers["x-a"], "1");
}

#[test]
fn http_10() {
    let (head, _) = complete(b"HTTP/1.0 404 Not Found\r\n\r\n");
    assert_eq!(head.version, Version::HTTP_10);
    assert_eq!(head.status, StatusCode::NOT_FOUND);
    assert_eq!(head.reason, "Not Found");
}

#[test]
fn empty_reason_with_and_without_space() {
    let (head, consumed) = complete(b"HTTP/1.1 200 \r\n\r\n");
    assert_eq!(
        (head.status.as_u16(), head.reason.as_ref(), consumed),
        (200, "", 17)
    );
    let (head, consumed) = complete(b"HTTP/1.1 200\r\n\r\n");
    assert_eq!(
        (head.status.as_u16(), head.reason.as_ref(), consumed),
        (200, "", 16)
    );
}

#[test]
fn reason_with_spaces_and_obs_text() {
    let (head, _) = complete(b"HTTP/1.1 500 Internal  Server\tError\r\n\r\n");
    assert_eq!(head.reason, "Internal  Server\tError");
    let (head, _) = complete("HTTP/1.1 200 Tr\u{e8}s bien\r\n\r\n".as_bytes());
    assert_eq!(head.reason, "Tr\u{e8}s bien");
    let (head, _) = complete(b"HTTP/1.1 200 O\xffK\r\n\r\n");
    assert_eq!(head.reason, "O\u{fffd}K");
}

#[test]
fn unusual_status_codes() {
    for code in [100u16, 101, 103, 199, 299, 599, 600, 999] {
        let line = format!("HTTP/1.1 {code} X\r\n\r\n");
        let (head, _) = complete(line.as_bytes());
        assert_eq!(head.status.as_u16(), code);
    }
}

#[test]
fn bad_status_codes() {
    for line in [
        &b"HTTP/1.1 99 X\r\n\r\n"[..],
        b"HTTP/1.1 099 X\r\n\r\n",
        b"HTTP/1.1 000\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 -200 OK\r\n\r\n",
        b"HTTP/1.1 OK\r\n\r\n",
        b"HTTP/1.1  200 OK\r\n\r\n",
        b"HTTP/1.1\t200 OK\r\n\r\n",
        b"HTTP/1.1 200 O\x00K\r\n\r\n",
        b"HTTP/1.1 200 OK\rX\r\n\r\n",
    ] {
        assert_eq!(err(line), ProtoError::InvalidStatusLine, "{line:?}");
    }
}

#[test]
fn versions() {
    for line in [
        &b"HTTP/2.0 200 OK\r\n\r\n"[..],
        b"HTTP/1.2 200 OK\r\n\r\n",
        b"HTTP/0.9 200 OK\r\n\r\n",
        b"HTTP/3 200 OK\r\n\r\n",
    ] {
        assert_eq!(err(line), ProtoError::UnsupportedVersion, "{line:?}");
    }
    for line in [
        &b"ICY 200 OK\r\n\r\n"[..],
        b"http/1.1 200 OK\r\n\r\n",
        b"HTTP/x.1 200 OK\r\n\r\n",
        b"<html>",
        b"\x00\x01\x02",
    ] {
        assert_eq!(err(line), ProtoError::InvalidStatusLine, "{line:?}");
    }
}

#[test]
fn every_prefix_is_partial() {
    let buf = b"HTTP/1.1 200 OK\r\nA: b\r\nC: d\r\n\r\n";
    for n in 0..buf.len() {
        assert_eq!(parse(&buf[..n]), Ok(ParseStatus::Partial), "prefix {n}");
    }
    assert!(matches!(parse(buf), Ok(ParseStatus::Complete { .. })));
}

#[test]
fn bare_lf_and_leading_empty_lines() {
    let (head, consumed) = complete(b"HTTP/1.1 200 OK\nA: b\n\nbody");
    assert_eq!(consumed, 22);
    assert_eq!(head.headers["a"], "b");
    let (head, consumed) = complete(b"\r\n\nHTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(head.status, StatusCode::NO_CONTENT);
    assert_eq!(consumed, 30);
}

#[test]
fn repeated_fields_keep_order() {
    let (head, _) =
        complete(b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX: y\r\nset-cookie: b=2\r\n\r\n");
    let cookies: Vec<_> = head.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
}

#[test]
fn value_whitespace_is_trimmed_and_empty_values_kept() {
    let (head, _) = complete(b"HTTP/1.1 200 OK\r\nA:   spaced out \t\r\nB:\r\nC : x\r\n\r\n");
    assert_eq!(head.headers["a"], "spaced out");
    assert_eq!(head.headers["b"], "");
    assert_eq!(head.headers["c"], "x");
}

#[test]
fn obs_text_in_values_is_kept() {
    let (head, _) = complete(b"HTTP/1.1 200 OK\r\nX: caf\xc3\xa9 \xff\r\n\r\n");
    assert_eq!(head.headers["x"].as_bytes(), b"caf\xc3\xa9 \xff");
}

#[test]
fn invalid_fields() {
    for buf in [
        &b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\x7fb\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad\"Name: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n: novalue\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n Leading: space\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: b\r\n\tfolded\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: b\r\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: b\r\n\rX",
    ] {
        assert_eq!(err(buf), ProtoError::InvalidHeader, "{buf:?}");
    }
}

#[test]
fn endless_header_is_bounded() {
    let limits = Limits {
        max_head_bytes: 1024,
        ..Limits::default()
    };
    let mut buf = b"HTTP/1.1 200 OK\r\nX-Endless: ".to_vec();
    while buf.len() <= 1024 {
        assert_eq!(parse_response_head(&buf, &limits), Ok(ParseStatus::Partial));
        buf.extend_from_slice(b"aaaaaaaa");
    }
    assert_eq!(
        parse_response_head(&buf, &limits),
        Err(ProtoError::HeadTooLarge { limit: 1024 })
    );
}

#[test]
fn endless_status_line_and_empty_lines_are_bounded() {
    let limits = Limits {
        max_head_bytes: 100,
        ..Limits::default()
    };
    let mut line = b"HTTP/1.1 200 ".to_vec();
    line.resize(101, b'a');
    assert_eq!(
        parse_response_head(&line, &limits),
        Err(ProtoError::HeadTooLarge { limit: 100 })
    );
    let crlfs = b"\r\n".repeat(51);
    assert_eq!(
        parse_response_head(&crlfs, &limits),
        Err(ProtoError::HeadTooLarge { limit: 100 })
    );
    // Many headers, no blank line.
    let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
    while many.len() <= 100 {
        many.extend_from_slice(b"A: b\r\n");
    }
    assert_eq!(
        parse_response_head(&many, &limits),
        Err(ProtoError::HeadTooLarge { limit: 100 })
    );
}

#[test]
fn head_exactly_at_limit() {
    let buf = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody bytes beyond the limit";
    let head_len = 25;
    let at = Limits {
        max_head_bytes: head_len,
        ..Limits::default()
    };
    assert!(matches!(
        parse_response_head(buf, &at),
        Ok(ParseStatus::Complete { consumed: 25, .. })
    ));
    let below = Limits {
        max_head_bytes: head_len - 1,
        ..Limits::default()
    };
    assert_eq!(
        parse_response_head(buf, &below),
        Err(ProtoError::HeadTooLarge {
            limit: head_len - 1
        })
    );
    let zero = Limits {
        max_head_bytes: 0,
        ..Limits::default()
    };
    assert_eq!(parse_response_head(b"", &zero), Ok(ParseStatus::Partial));
    assert_eq!(
        parse_response_head(b"H", &zero),
        Err(ProtoError::HeadTooLarge { limit: 0 })
    );
}

fn with_headers(n: usize) -> Vec<u8> {
    let mut buf = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..n {
        buf.extend_from_slice(format!("X-H{i}: {i}\r\n").as_bytes());
    }
    buf.extend_from_slice(b"\r\n");
    buf
}

#[test]
fn too_many_headers() {
    let limits = Limits {
        max_headers: 3,
        ..Limits::default()
    };
    assert!(matches!(
        parse_response_head(&with_headers(3), &limits),
        Ok(ParseStatus::Complete { .. })
    ));
    assert_eq!(
        parse_response_head(&with_headers(4), &limits),
        Err(ProtoError::TooManyHeaders { limit: 3 })
    );
    // Default limit (stack slots).
    assert!(matches!(
        parse(&with_headers(128)),
        Ok(ParseStatus::Complete { .. })
    ));
    assert_eq!(
        parse(&with_headers(129)),
        Err(ProtoError::TooManyHeaders { limit: 128 })
    );
    // Heap slots.
    let big = Limits {
        max_headers: 300,
        ..Limits::default()
    };
    match parse_response_head(&with_headers(300), &big) {
        Ok(ParseStatus::Complete { head, .. }) => assert_eq!(head.headers.len(), 300),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        parse_response_head(&with_headers(301), &big),
        Err(ProtoError::TooManyHeaders { limit: 300 })
    );
    // No headers allowed at all.
    let none = Limits {
        max_headers: 0,
        ..Limits::default()
    };
    assert!(matches!(
        parse_response_head(&with_headers(0), &none),
        Ok(ParseStatus::Complete { .. })
    ));
    assert_eq!(
        parse_response_head(&with_headers(1), &none),
        Err(ProtoError::TooManyHeaders { limit: 0 })
    );
}

#[test]
fn huge_limits_do_not_allocate_or_panic() {
    let limits = Limits {
        max_head_bytes: usize::MAX,
        max_headers: usize::MAX,
        ..Limits::default()
    };
    assert_eq!(
        parse_response_head(b"HTTP/1.1 200 OK\r\nA", &limits),
        Ok(ParseStatus::Partial)
    );
    match parse_response_head(&with_headers(40_000), &limits) {
        // More fields than http::HeaderMap can hold.
        Err(ProtoError::TooManyHeaders { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn informational_heads_then_final_head() {
    let buf = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let mut rest = &buf[..];
    let mut codes = Vec::new();
    loop {
        let (head, consumed) = complete(rest);
        rest = &rest[consumed..];
        codes.push(head.status.as_u16());
        if !head.status.is_informational() {
            break;
        }
    }
    assert_eq!(codes, [100, 103, 200]);
    assert!(rest.is_empty());
}

#[test]
fn errors_display() {
    assert_eq!(
        ProtoError::HeadTooLarge { limit: 7 }.to_string(),
        "response head exceeds the limit of 7 bytes"
    );
    let e: Box<dyn std::error::Error> = Box::new(ProtoError::InvalidHeader);
    assert_eq!(e.to_string(), "malformed header field");
}

/// The zero-copy parser agrees with the copying one, splits exactly the head off the buffer,
/// and leaves the buffer alone while the head is incomplete.
#[test]
fn shared_parser_agrees_with_copying_parser() {
    use bytes::BytesMut;
    use httptrace_proto::h1::parse_response_head_bytes;
    let mut many = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..100 {
        many.push_str(&format!("X-H{i}: v{i}\r\n"));
    }
    many.push_str("\r\n");
    let samples: Vec<String> = vec![
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: t\r\n\r\nhi".into(),
        "HTTP/1.1 404 Nope\r\nA: 1\r\nA: 2\r\n\r\n".into(),
        "HTTP/1.0 204\r\n\r\n".into(),
        "\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n\r\n".into(),
        many,
    ];
    let limits = Limits::default();
    for s in samples {
        let copied = match parse_response_head(s.as_bytes(), &limits).unwrap() {
            ParseStatus::Complete { head, consumed } => (head, consumed),
            ParseStatus::Partial => panic!("partial: {s:?}"),
        };
        let mut buf = BytesMut::from(s.as_bytes());
        let shared = parse_response_head_bytes(&mut buf, &limits)
            .unwrap()
            .unwrap();
        assert_eq!(shared, copied.0, "{s:?}");
        assert_eq!(&buf[..], &s.as_bytes()[copied.1..], "{s:?}");
        // Incomplete: nothing consumed.
        let cut = copied.1 - 1;
        let mut part = BytesMut::from(&s.as_bytes()[..cut]);
        assert!(parse_response_head_bytes(&mut part, &limits)
            .unwrap()
            .is_none());
        assert_eq!(part.len(), cut);
    }
    // Errors match too.
    let mut bad = BytesMut::from(&b"HTTP/1.1 2OO OK\r\n\r\n"[..]);
    assert_eq!(
        parse_response_head_bytes(&mut bad, &limits).unwrap_err(),
        parse_response_head(b"HTTP/1.1 2OO OK\r\n\r\n", &limits).unwrap_err()
    );
}
