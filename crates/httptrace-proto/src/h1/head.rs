//! Response head parsing and body framing (RFC 9112 §4, §5, §6.3, §9.3).

use std::borrow::Cow;
use std::mem::MaybeUninit;

use bytes::BytesMut;

use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};

use super::error::ProtoError;

/// Number of header slots kept on the stack; larger limits use the heap.
const STACK_HEADERS: usize = 128;

/// Resource limits applied to everything the peer sends.
///
/// Every limit bounds memory (and CPU) that a hostile or broken server can
/// make the client spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest response head accepted, in bytes: status line, header fields
    /// and the blank line that ends them, plus any empty lines before the
    /// status line. Default: 1 MiB.
    pub max_head_bytes: usize,
    /// Largest number of header fields in a response head, and of fields in
    /// a trailer section. Default: 128.
    pub max_headers: usize,
    /// Largest number of bytes of chunk extensions (everything after the
    /// hex digits of a chunk-size line, whitespace included) accepted over a
    /// whole chunked body. Default: 4 KiB.
    pub max_chunk_ext_bytes: usize,
    /// Largest trailer section accepted, in bytes, excluding the final empty
    /// line. Default: 64 KiB.
    pub max_trailer_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 1024 * 1024,
            max_headers: 128,
            max_chunk_ext_bytes: 4 * 1024,
            max_trailer_bytes: 64 * 1024,
        }
    }
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: Version,
    /// The status code, always in `100..=999`.
    pub status: StatusCode,
    /// The reason phrase exactly as sent (may be empty). Bytes that are not
    /// UTF-8 (obsolete `obs-text`) are replaced with U+FFFD. Borrowed (no
    /// allocation) when it is the status code's canonical phrase.
    pub reason: Cow<'static, str>,
    /// The header fields, in the order received. Names are lowercased, as
    /// `http::HeaderName` always is.
    pub headers: HeaderMap,
}

/// The outcome of [`parse_response_head`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseStatus {
    /// The buffer holds only the beginning of a head; read more bytes and
    /// call again with the whole buffer.
    Partial,
    /// A head was parsed.
    Complete {
        /// The parsed head.
        head: ResponseHead,
        /// How many bytes of the buffer the head took; the bytes after it
        /// belong to the body (or to the next response).
        consumed: usize,
    },
}

/// Parses one response head (status line, header fields, blank line) from
/// the start of `buf`.
///
/// The parser is stateless: on [`ParseStatus::Partial`] call it again with
/// the same bytes plus whatever arrived since. A head split at any byte
/// boundary parses identically.
///
/// Leniencies, matching what Go's `net/http` and hyper accept from servers:
///
/// * empty lines (`CRLF` or `LF`) before the status line are skipped (they
///   count towards [`Limits::max_head_bytes`]);
/// * lines may end in a bare `LF` instead of `CRLF`;
/// * the reason phrase may be empty, and its separating space may be
///   missing (`HTTP/1.1 200\r\n`);
/// * whitespace between a field name and the colon is ignored.
///
/// Strictness:
///
/// * only `HTTP/1.0` and `HTTP/1.1` are accepted
///   ([`ProtoError::UnsupportedVersion`] for any other `HTTP/x`);
/// * the status code must be exactly three digits and at least 100;
/// * obsolete line folding (a field line starting with whitespace) is
///   rejected with [`ProtoError::InvalidHeader`]: joining folded lines is a
///   classic request-smuggling vector and `http::HeaderValue` cannot hold
///   a CR or LF;
/// * field values may hold visible ASCII, space, tab and `obs-text` bytes
///   (0x80-0xFF) only; NUL and other control bytes are an error.
///
/// Responses with a `1xx` status are returned like any other head; the
/// caller handles them (fires the hook) and parses the next head from the
/// bytes after `consumed`. The exception is `101 Switching Protocols`: it
/// ends HTTP/1.1 on the connection, and the bytes after `consumed` belong to
/// the new protocol. This function keeps no count of `1xx` heads; a driver
/// should bound how many it accepts for one request.
///
/// # Errors
///
/// [`ProtoError::HeadTooLarge`] when the buffer is longer than
/// [`Limits::max_head_bytes`] without holding a complete head, or when the
/// complete head is longer than that; [`ProtoError::TooManyHeaders`];
/// [`ProtoError::InvalidStatusLine`]; [`ProtoError::UnsupportedVersion`];
/// [`ProtoError::InvalidHeader`].
pub fn parse_response_head(buf: &[u8], limits: &Limits) -> Result<ParseStatus, ProtoError> {
    // Never look past the limit: a head that does not end within it is too
    // large whatever follows, and this bounds the work per call.
    let window = buf.get(..limits.max_head_bytes).unwrap_or(buf);

    // A header line takes at least three bytes ("a:\n"), so a window cannot
    // hold more than `len / 3` fields: never allocate more slots than
    // `len / 2 + 1`, even when the configured limit is huge.
    let slots = limits.max_headers.min(window.len() / 2 + 1);
    let mut stack = [MaybeUninit::<httparse::Header<'_>>::uninit(); STACK_HEADERS];
    let mut heap;
    let headers: &mut [MaybeUninit<httparse::Header<'_>>] = if slots <= STACK_HEADERS {
        stack.get_mut(..slots).unwrap_or(&mut [])
    } else {
        heap = vec![MaybeUninit::uninit(); slots];
        &mut heap
    };

    let Httparsed::Complete {
        response,
        consumed,
        version,
        status,
        reason,
    } = httparse_head(window, buf.len(), headers, limits, false)?
    else {
        return Ok(ParseStatus::Partial);
    };

    let mut map = HeaderMap::try_with_capacity(response.headers.len()).map_err(|_| {
        ProtoError::TooManyHeaders {
            limit: limits.max_headers,
        }
    })?;
    for h in response.headers.iter() {
        let name =
            HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| ProtoError::InvalidHeader)?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| ProtoError::InvalidHeader)?;
        map.try_append(name, value)
            .map_err(|_| ProtoError::TooManyHeaders {
                limit: limits.max_headers,
            })?;
    }

    Ok(ParseStatus::Complete {
        head: ResponseHead {
            version,
            status,
            reason,
            headers: map,
        },
        consumed,
    })
}

/// What one httparse pass over a head's window gave.
pub(super) enum Httparsed<'h, 'b> {
    /// More bytes are needed.
    Partial,
    /// More fields than header slots (only when the caller said it has more slots).
    NeedMoreSlots,
    /// A whole head: its fields in `response.headers`, `consumed` bytes long.
    Complete {
        response: httparse::Response<'h, 'b>,
        consumed: usize,
        version: Version,
        status: StatusCode,
        reason: Cow<'static, str>,
    },
}

/// One httparse pass over `window` (the buffer's first `max_head_bytes`, the buffer being
/// `buf_len` long) with both parsers' leniencies, limits and error mapping. With
/// `more_slots`, running out of `headers` is [`Httparsed::NeedMoreSlots`] instead of
/// [`ProtoError::TooManyHeaders`].
pub(super) fn httparse_head<'h, 'b>(
    window: &'b [u8],
    buf_len: usize,
    headers: &'h mut [MaybeUninit<httparse::Header<'b>>],
    limits: &Limits,
    more_slots: bool,
) -> Result<Httparsed<'h, 'b>, ProtoError> {
    let mut response = httparse::Response::new(&mut []);
    let mut config = httparse::ParserConfig::default();
    config.allow_spaces_after_header_name_in_responses(true);
    let consumed = match config.parse_response_with_uninit_headers(&mut response, window, headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf_len > limits.max_head_bytes => {
            return Err(ProtoError::HeadTooLarge {
                limit: limits.max_head_bytes,
            })
        }
        Ok(httparse::Status::Partial) => return Ok(Httparsed::Partial),
        Err(httparse::Error::TooManyHeaders) if more_slots => return Ok(Httparsed::NeedMoreSlots),
        Err(e) => {
            return Err(map_httparse_error(
                e,
                window,
                response.reason.is_some(),
                limits,
            ))
        }
    };
    let (version, status, reason) = status_line(&response, window)?;
    Ok(Httparsed::Complete {
        response,
        consumed,
        version,
        status,
        reason,
    })
}

/// Version, status and reason of a parsed status line.
fn status_line(
    response: &httparse::Response<'_, '_>,
    window: &[u8],
) -> Result<(Version, StatusCode, Cow<'static, str>), ProtoError> {
    let version = match response.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(ProtoError::UnsupportedVersion),
    };
    let status = response
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(ProtoError::InvalidStatusLine)?;
    Ok((version, status, reason_of(status, response.reason, window)))
}

/// The reason phrase: borrowed when canonical, else an owned copy.
pub(super) fn reason_of(
    status: StatusCode,
    parsed: Option<&str>,
    window: &[u8],
) -> Cow<'static, str> {
    match parsed {
        Some(r) if !r.is_empty() => match status.canonical_reason() {
            Some(c) if c == r => Cow::Borrowed(c),
            _ => Cow::Owned(r.to_owned()),
        },
        // httparse reports an empty reason when it holds obs-text; recover
        // the raw bytes so that nothing the server sent is lost.
        _ => {
            let raw = raw_reason(window);
            if raw.is_empty() {
                Cow::Borrowed("")
            } else {
                Cow::Owned(String::from_utf8_lossy(raw).into_owned())
            }
        }
    }
}

/// Header fields a head may have for [`ResponseParser`](super::ResponseParser) to
/// share the buffer instead of copying values; beyond it the head is copied.
pub(super) const SHARED_HEADERS: usize = 64;

/// Like [`parse_response_head`], but on a complete head splits it off the
/// front of `buf` and builds the header values as slices of it: no copy and
/// no allocation per value (only header names outside the standard set
/// allocate). Returns `Ok(None)` when more bytes are needed; the buffer is
/// then untouched.
///
/// A one-shot [`ResponseParser`](super::ResponseParser): a connection that
/// parses many heads should keep one of those instead (it remembers field
/// names between heads).
pub fn parse_response_head_bytes(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<ResponseHead>, ProtoError> {
    super::ResponseParser::new()
        .parse(buf, limits)
        .map(|parsed| parsed.map(|p| p.head))
}

fn map_httparse_error(
    e: httparse::Error,
    window: &[u8],
    status_line_done: bool,
    limits: &Limits,
) -> ProtoError {
    match e {
        httparse::Error::TooManyHeaders => ProtoError::TooManyHeaders {
            limit: limits.max_headers,
        },
        httparse::Error::Version => {
            // httparse also reports a bad separator after a good version as
            // a version error. "HTTP/<digit>" other than 1.0 and 1.1 is a
            // version we do not speak; anything else is not a status line.
            let line = skip_empty_lines(window);
            match line.get(..8) {
                Some(b"HTTP/1.0" | b"HTTP/1.1") => ProtoError::InvalidStatusLine,
                _ => match line.get(..6) {
                    Some([b'H', b'T', b'T', b'P', b'/', d]) if d.is_ascii_digit() => {
                        ProtoError::UnsupportedVersion
                    }
                    _ => ProtoError::InvalidStatusLine,
                },
            }
        }
        httparse::Error::HeaderName | httparse::Error::HeaderValue => ProtoError::InvalidHeader,
        httparse::Error::NewLine if status_line_done => ProtoError::InvalidHeader,
        _ => ProtoError::InvalidStatusLine,
    }
}

/// Skips the empty lines httparse tolerates before the status line.
fn skip_empty_lines(mut buf: &[u8]) -> &[u8] {
    loop {
        match buf {
            [b'\r', b'\n', rest @ ..] | [b'\n', rest @ ..] => buf = rest,
            _ => return buf,
        }
    }
}

/// The raw reason-phrase bytes of a status line that httparse accepted.
fn raw_reason(window: &[u8]) -> &[u8] {
    let line = skip_empty_lines(window);
    // "HTTP/1.x NNN" is exactly 12 bytes; a reason follows a single SP.
    match line.get(12..) {
        Some([b' ', rest @ ..]) => {
            let end = rest
                .iter()
                .position(|&b| b == b'\r' || b == b'\n')
                .unwrap_or(rest.len());
            rest.get(..end).unwrap_or(&[])
        }
        _ => &[],
    }
}

/// How the body of a response is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// There is no body; the next response (if any) starts right after the
    /// head.
    Empty,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// The body uses the chunked transfer coding.
    Chunked,
    /// The body runs until the server closes the connection; the connection
    /// cannot be reused.
    CloseDelimited,
}

/// Determines how the body of a response is delimited, given the method of
/// the request it answers (RFC 9112 §6.3).
///
/// In order:
///
/// 1. a response to `HEAD`, and any `1xx`, `204` or `304` response, has no
///    body ([`BodyKind::Empty`]), whatever its headers say;
/// 2. a `2xx` response to `CONNECT` has no body: the connection becomes a
///    tunnel, and the bytes after the head belong to it;
/// 3. a `Transfer-Encoding` field in an HTTP/1.0 response is an error
///    ([`ProtoError::UnsupportedTransferEncoding`]; RFC 9112 §6.1 calls that
///    framing faulty);
/// 4. `Transfer-Encoding` together with `Content-Length` is an error
///    ([`ProtoError::ConflictingFraming`]) rather than the RFC's "TE wins":
///    a client cannot tell which one an intermediary honoured;
/// 5. `Transfer-Encoding` whose final coding is `chunked` gives
///    [`BodyKind::Chunked`]; when the final coding is something else
///    (`gzip`), the RFC says the body runs until close, so this returns
///    [`BodyKind::CloseDelimited`] and the body is delivered still encoded
///    (Go's `net/http` rejects such responses instead; a driver that wants
///    Go's behaviour can check for it). `chunked` listed twice, an empty
///    field, or a field that is not visible ASCII is
///    [`ProtoError::UnsupportedTransferEncoding`];
/// 6. `Content-Length`: every value (all fields, and every element of a
///    comma-separated list such as `5, 5`) must be plain decimal digits and
///    all must agree, giving [`BodyKind::Length`]; see
///    [`ProtoError::InvalidContentLength`] and
///    [`ProtoError::ConflictingContentLength`];
/// 7. otherwise the body is [`BodyKind::CloseDelimited`].
///
/// # Errors
///
/// As listed above.
pub fn response_body_kind(
    req_method: &Method,
    head: &ResponseHead,
) -> Result<BodyKind, ProtoError> {
    FramingFields::from_headers(&head.headers).body_kind(req_method, head.status, head.version)
}

/// What the framing fields of a response head say, gathered field by field:
/// the `Content-Length` values, the `Transfer-Encoding` codings and the
/// `Connection` tokens that [`response_body_kind`] and
/// [`response_keep_alive`] decide on.
///
/// [`ResponseParser`](crate::ResponseParser) fills one in while it builds
/// the header map, so that a driver can decide the framing without looking
/// the fields up again; [`FramingFields::from_headers`] builds one from any
/// `HeaderMap`. Both feed the fields, in order, to the same code, and
/// [`FramingFields::body_kind`] and [`FramingFields::keep_alive`] are the
/// only implementation of the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FramingFields {
    content_length: ContentLengthState,
    /// `None` when the head has no `Transfer-Encoding` field.
    transfer_encoding: Option<TransferEncodingState>,
    /// A `Connection` field lists `close`.
    close: bool,
    /// A `Connection` field lists `keep-alive`.
    keep_alive: bool,
}

/// The `Content-Length` fields seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum ContentLengthState {
    /// No `Content-Length` field.
    #[default]
    Absent,
    /// Every value so far is this number.
    Agreed(u64),
    /// The first problem found, in field order (later fields are ignored).
    Invalid(ContentLengthError),
}

/// Why the `Content-Length` fields give no length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContentLengthError {
    /// [`ProtoError::InvalidContentLength`].
    Invalid,
    /// [`ProtoError::ConflictingContentLength`].
    Conflicting,
}

/// The `Transfer-Encoding` codings seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct TransferEncodingState {
    /// Some element names a coding.
    any: bool,
    /// `chunked` appeared.
    chunked_seen: bool,
    /// The last coding is `chunked`.
    last_is_chunked: bool,
    /// A value cannot be honoured (sticky: later values are ignored).
    bad: bool,
}

/// Which framing field a header name is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    ContentLength,
    TransferEncoding,
    Connection,
    Other,
}

impl FieldKind {
    pub(crate) fn of(name: &HeaderName) -> FieldKind {
        if *name == CONTENT_LENGTH {
            FieldKind::ContentLength
        } else if *name == TRANSFER_ENCODING {
            FieldKind::TransferEncoding
        } else if *name == CONNECTION {
            FieldKind::Connection
        } else {
            FieldKind::Other
        }
    }
}

impl FramingFields {
    /// Gathers the framing fields of `headers`, in the order received.
    pub fn from_headers(headers: &HeaderMap) -> FramingFields {
        let mut f = FramingFields::default();
        for value in headers.get_all(CONTENT_LENGTH) {
            f.add_content_length(value.as_bytes());
        }
        for value in headers.get_all(TRANSFER_ENCODING) {
            f.add_transfer_encoding(value.as_bytes());
        }
        for value in headers.get_all(CONNECTION) {
            f.add_connection(value.as_bytes());
        }
        f
    }

    /// Takes one field into account (fields must come in the order
    /// received); fields other than `Content-Length`, `Transfer-Encoding`
    /// and `Connection` are ignored.
    pub fn add_field(&mut self, name: &HeaderName, value: &[u8]) {
        self.add_kind(FieldKind::of(name), value);
    }

    /// [`add_field`](Self::add_field) for a name whose kind is known.
    pub(crate) fn add_kind(&mut self, kind: FieldKind, value: &[u8]) {
        match kind {
            FieldKind::ContentLength => self.add_content_length(value),
            FieldKind::TransferEncoding => self.add_transfer_encoding(value),
            FieldKind::Connection => self.add_connection(value),
            FieldKind::Other => {}
        }
    }

    fn add_content_length(&mut self, value: &[u8]) {
        self.content_length = match (self.content_length, content_length_field(value)) {
            (ContentLengthState::Invalid(e), _) => ContentLengthState::Invalid(e),
            (_, Err(())) => ContentLengthState::Invalid(ContentLengthError::Invalid),
            (ContentLengthState::Absent, Ok(n)) => ContentLengthState::Agreed(n),
            (ContentLengthState::Agreed(prev), Ok(n)) if prev == n => ContentLengthState::Agreed(n),
            (ContentLengthState::Agreed(_), Ok(_)) => {
                ContentLengthState::Invalid(ContentLengthError::Conflicting)
            }
        };
    }

    fn add_transfer_encoding(&mut self, value: &[u8]) {
        let te = self
            .transfer_encoding
            .get_or_insert_with(TransferEncodingState::default);
        if te.bad {
            return;
        }
        // Only visible ASCII (and tab) is understood.
        if !value
            .iter()
            .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
        {
            te.bad = true;
            return;
        }
        for element in value.split(|&b| b == b',') {
            let element = trim_ows(element);
            if element.is_empty() {
                continue;
            }
            te.any = true;
            let (coding, has_params) = match element.iter().position(|&b| b == b';') {
                Some(i) => (trim_ows(element.get(..i).unwrap_or(&[])), true),
                None => (element, false),
            };
            te.last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
            if te.last_is_chunked {
                // chunked has no parameters and is applied at most once.
                if te.chunked_seen || has_params {
                    te.bad = true;
                    return;
                }
                te.chunked_seen = true;
            }
        }
    }

    fn add_connection(&mut self, value: &[u8]) {
        // The values servers send on nearly every response, as one token.
        match value {
            b"keep-alive" => {
                self.keep_alive = true;
                return;
            }
            b"close" => {
                self.close = true;
                return;
            }
            _ => {}
        }
        for element in value.split(|&b| b == b',') {
            let element = trim_ows(element);
            if element.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if element.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            }
        }
    }

    /// How the body of a response with these fields is delimited: the
    /// rules of [`response_body_kind`], which calls this.
    ///
    /// # Errors
    ///
    /// As for [`response_body_kind`].
    pub fn body_kind(
        &self,
        req_method: &Method,
        status: StatusCode,
        version: Version,
    ) -> Result<BodyKind, ProtoError> {
        if *req_method == Method::HEAD
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Ok(BodyKind::Empty);
        }
        if *req_method == Method::CONNECT && status.is_success() {
            return Ok(BodyKind::Empty);
        }

        if let Some(te) = &self.transfer_encoding {
            if version != Version::HTTP_11 {
                return Err(ProtoError::UnsupportedTransferEncoding);
            }
            if self.content_length != ContentLengthState::Absent {
                return Err(ProtoError::ConflictingFraming);
            }
            if te.bad || !te.any {
                return Err(ProtoError::UnsupportedTransferEncoding);
            }
            return Ok(if te.last_is_chunked {
                BodyKind::Chunked
            } else {
                BodyKind::CloseDelimited
            });
        }

        match self.content_length {
            ContentLengthState::Absent => Ok(BodyKind::CloseDelimited),
            ContentLengthState::Agreed(n) => Ok(BodyKind::Length(n)),
            ContentLengthState::Invalid(ContentLengthError::Invalid) => {
                Err(ProtoError::InvalidContentLength)
            }
            ContentLengthState::Invalid(ContentLengthError::Conflicting) => {
                Err(ProtoError::ConflictingContentLength)
            }
        }
    }

    /// Whether a response with these fields, of this version, leaves the
    /// connection open: the rules of [`response_keep_alive`], which calls
    /// this.
    pub fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::HTTP_11 => !self.close,
            Version::HTTP_10 => !self.close && self.keep_alive,
            _ => false,
        }
    }
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// One `Content-Length` field value: a number, or a list of equal numbers.
fn content_length_field(value: &[u8]) -> Result<u64, ()> {
    let mut agreed = None;
    for element in value.split(|&b| b == b',') {
        let n = parse_decimal(trim_ows(element)).ok_or(())?;
        match agreed {
            None => agreed = Some(n),
            Some(prev) if prev != n => return Err(()),
            Some(_) => {}
        }
    }
    agreed.ok_or(())
}

/// Strict `1*DIGIT` into a `u64`: no sign, no whitespace, no overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Whether the connection may carry another request after this response.
///
/// HTTP/1.1: yes, unless a `Connection` field lists `close`. HTTP/1.0: only
/// when a `Connection` field lists `keep-alive` (and not `close`). This
/// looks at the head only: the caller must also end the connection after a
/// [`BodyKind::CloseDelimited`] body, after any error, after a request that
/// itself said `Connection: close`, and after a `101` or a successful
/// `CONNECT` (the connection now belongs to another protocol).
pub fn response_keep_alive(head: &ResponseHead) -> bool {
    let mut f = FramingFields::default();
    for value in head.headers.get_all(CONNECTION) {
        f.add_connection(value.as_bytes());
    }
    f.keep_alive(head.version)
}

/// Whether any `Connection` field lists `token` (comma-separated list,
/// optional whitespace around elements, ASCII case-insensitive).
pub fn connection_has_token(headers: &HeaderMap, token: &str) -> bool {
    let token = token.as_bytes();
    headers.get_all(CONNECTION).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|element| trim_ows(element).eq_ignore_ascii_case(token))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"+1"), None);
    }

    #[test]
    fn reason_recovery() {
        assert_eq!(raw_reason(b"\r\nHTTP/1.1 200 Ok\xff\r\n"), b"Ok\xff");
        assert_eq!(raw_reason(b"HTTP/1.1 200\r\n"), b"");
        assert_eq!(trim_ows(b" \t a b\t "), b"a b");
    }
}
