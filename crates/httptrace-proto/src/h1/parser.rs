//! A per-connection response head parser: the cheap path for a driver that
//! reads many heads from one connection.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};

use super::error::ProtoError;
use super::head::{
    httparse_head, reason_of, BodyKind, FieldKind, FramingFields, Httparsed, Limits, ResponseHead,
    SHARED_HEADERS,
};

/// How many header field names a [`ResponseParser`] remembers (by position
/// in the head); fields beyond it are always looked up.
pub const NAME_CACHE_SLOTS: usize = 64;

/// Longest field name, in bytes, that a [`ResponseParser`] remembers;
/// longer names are always looked up. Together with [`NAME_CACHE_SLOTS`]
/// this bounds the memory a server can make the cache hold.
pub const MAX_CACHED_NAME_LEN: usize = 64;

/// A response head parsed by [`ResponseParser::parse`], with the framing
/// fields gathered on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedHead {
    /// The head, exactly as [`parse_response_head`](crate::parse_response_head)
    /// would return it.
    pub head: ResponseHead,
    /// Its `Content-Length`, `Transfer-Encoding` and `Connection` fields.
    pub framing: FramingFields,
}

impl ParsedHead {
    /// How the body is delimited; the same answer as
    /// [`response_body_kind`](crate::response_body_kind) on
    /// [`ParsedHead::head`], without looking the fields up again.
    ///
    /// # Errors
    ///
    /// As for [`response_body_kind`](crate::response_body_kind).
    pub fn body_kind(&self, req_method: &Method) -> Result<BodyKind, ProtoError> {
        self.framing
            .body_kind(req_method, self.head.status, self.head.version)
    }

    /// Whether the connection may carry another request; the same answer as
    /// [`response_keep_alive`](crate::response_keep_alive) on
    /// [`ParsedHead::head`], without looking the fields up again.
    pub fn keep_alive(&self) -> bool {
        self.framing.keep_alive(self.head.version)
    }
}

/// A response head parser that lives as long as its connection.
///
/// [`ResponseParser::parse`] accepts and rejects exactly what
/// [`parse_response_head`](crate::parse_response_head) does (same
/// leniencies, same limits, same errors); unlike it, it splits the head off
/// the front of the buffer and shares the buffer with the header values. It is cheaper per head because:
///
/// * it remembers the field names of the previous head, by position: a
///   server sends the same fields in the same order on every response, so a
///   name whose bytes match the remembered ones is cloned instead of being
///   looked up (and, for a non-standard name, allocated) again. At most
///   [`NAME_CACHE_SLOTS`] names of at most [`MAX_CACHED_NAME_LEN`] bytes are
///   remembered, whatever the server sends;
/// * when a head has the same field names in the same order as the two
///   heads before it (and no name twice), its header map is a copy of a
///   remembered map of that layout with the values put in place: no name is
///   hashed or inserted again;
/// * a head laid out as that remembered map, in the plainest form (CRLF line
///   ends, visible ASCII values, nothing httparse would trim or fold), is
///   read by a scanner that only compares the remembered names and finds
///   the value ends, eight bytes at a time; any other head, or any byte that
///   scanner does not expect, goes through httparse, so what is accepted
///   and rejected does not change;
/// * it does not validate the value bytes again: the parser already allowed
///   only the bytes `http::HeaderValue` allows;
/// * it gathers the framing fields ([`FramingFields`]) while building the
///   header map, so that [`ParsedHead::body_kind`] and
///   [`ParsedHead::keep_alive`] need no header lookup.
#[derive(Debug, Default)]
pub struct ResponseParser {
    /// The names of the previous heads, by position.
    names: Vec<CachedName>,
    /// Where each field of the head being parsed lies in the buffer;
    /// reused across heads.
    spans: Vec<FieldSpan>,
    /// A header map with the names of `names` (all of them, each once, in
    /// order) and empty values: set when two heads in a row had that layout.
    template: Option<HeaderMap>,
}

/// A remembered field name: the bytes as received and the name built from
/// them.
#[derive(Debug)]
struct CachedName {
    raw: Vec<u8>,
    name: HeaderName,
    /// Which framing field the name is.
    kind: FieldKind,
}

/// Byte offsets of one field's name and value in the head.
#[derive(Debug, Clone, Copy)]
struct FieldSpan {
    name_start: usize,
    name_end: usize,
    value_start: usize,
    value_end: usize,
}

/// The status line of a complete head, and its length.
struct Complete {
    consumed: usize,
    version: Version,
    status: StatusCode,
    reason: std::borrow::Cow<'static, str>,
}

/// The outcome of one httparse pass.
enum Scan {
    Partial,
    /// More fields than header slots, and more slots may be used.
    NeedMoreSlots,
    Complete(Complete),
}

impl ResponseParser {
    /// A parser that remembers nothing yet.
    pub fn new() -> ResponseParser {
        ResponseParser::default()
    }

    /// Parses one response head from the front of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` holds only the beginning of a head; the
    /// buffer is then untouched: read more bytes into it and call again. On
    /// a complete head, the head's bytes are split off the front of `buf`
    /// (what follows belongs to the body or to the next response) and the
    /// header values are slices of them.
    ///
    /// # Errors
    ///
    /// Exactly those of [`parse_response_head`](crate::parse_response_head),
    /// for the same bytes and limits.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<ParsedHead>, ProtoError> {
        let window_len = buf.len().min(limits.max_head_bytes);
        // A header line takes at least three bytes, so a window never holds
        // more than `len / 2 + 1` fields: never allocate more slots.
        let all_slots = limits.max_headers.min(window_len / 2 + 1);
        let slots = all_slots.min(SHARED_HEADERS);
        let window = buf.get(..window_len).unwrap_or(&[]);
        let known = match self.template {
            Some(_) if self.names.len() <= limits.max_headers => {
                match scan_known_layout(window, &self.names, &mut self.spans) {
                    Ok(line) => Some(line),
                    // The whole buffer is a valid start of the layout: partial, as httparse
                    // would find it, without scanning it again. (A buffer beyond
                    // `max_head_bytes` goes to httparse, which reports the head as too large.)
                    Err(Declined::Partial) if buf.len() <= limits.max_head_bytes => {
                        return Ok(None)
                    }
                    Err(_) => None,
                }
            }
            _ => None,
        };
        // When the scanner gives up it may leave `spans` half-filled: only a complete httparse
        // pass, which refills them, is followed by building the map.
        let known_layout = known.is_some();
        let line = if let Some(line) = known {
            line
        } else {
            let mut stack = [MaybeUninit::<httparse::Header<'_>>::uninit(); SHARED_HEADERS];
            let headers = stack.get_mut(..slots).unwrap_or(&mut []);
            let more = slots < all_slots;
            match scan(window, buf.len(), headers, &mut self.spans, limits, more)? {
                Scan::Partial => return Ok(None),
                Scan::Complete(line) => line,
                Scan::NeedMoreSlots => {
                    let mut heap = vec![MaybeUninit::uninit(); all_slots];
                    match scan(window, buf.len(), &mut heap, &mut self.spans, limits, false)? {
                        Scan::Partial => return Ok(None),
                        Scan::Complete(line) => line,
                        Scan::NeedMoreSlots => {
                            return Err(ProtoError::TooManyHeaders {
                                limit: limits.max_headers,
                            })
                        }
                    }
                }
            }
        };
        let head: Bytes = buf.split_to(line.consumed).freeze();
        let result = if known_layout {
            self.copy_template(&head)
        } else {
            self.build(&head, limits)
        };
        if self.spans.capacity() > 4 * SHARED_HEADERS {
            // A head with very many fields: do not keep its span table.
            self.spans = Vec::new();
        }
        let (headers, framing) = match result {
            Ok(r) => r,
            Err(e) => {
                // An error leaves the buffer as it was, as `parse_response_head` does: put the
                // head back in front (a rare path: a field httparse accepted that `http`
                // refuses, such as a name over 64 KiB).
                let mut restored = BytesMut::with_capacity(head.len() + buf.len());
                restored.extend_from_slice(&head);
                restored.extend_from_slice(buf);
                *buf = restored;
                return Err(e);
            }
        };
        Ok(Some(ParsedHead {
            head: ResponseHead {
                version: line.version,
                status: line.status,
                reason: line.reason,
                headers,
            },
            framing,
        }))
    }

    /// The header map and framing summary of the fields in `self.spans`.
    fn build(
        &mut self,
        head: &Bytes,
        limits: &Limits,
    ) -> Result<(HeaderMap, FramingFields), ProtoError> {
        if let Some(built) = self.build_from_template(head)? {
            return Ok(built);
        }
        let too_many = |_| ProtoError::TooManyHeaders {
            limit: limits.max_headers,
        };
        // The names change below: whatever happens, the old template is stale.
        self.template = None;
        let mut map = HeaderMap::try_with_capacity(self.spans.len()).map_err(too_many)?;
        let mut framing = FramingFields::default();
        let mut same_names = self.names.len() == self.spans.len();
        for (i, span) in self.spans.iter().enumerate() {
            let raw = head
                .get(span.name_start..span.name_end)
                .ok_or(ProtoError::InvalidHeader)?;
            let (name, kind, hit) = cached_name(&mut self.names, i, raw)?;
            same_names &= hit;
            let value = value_slice(head, span)?;
            framing.add_kind(kind, &value);
            map.try_append(name, value_from_parsed(value))
                .map_err(too_many)?;
        }
        // Remember the layout once it repeats, if a copy can stand for it: every
        // name remembered, none twice (then the map's values are in field order).
        self.template =
            (same_names && self.names.len() == self.spans.len() && map.keys_len() == map.len())
                .then(|| {
                    let mut t = map.clone();
                    t.values_mut()
                        .for_each(|v| *v = HeaderValue::from_static(""));
                    t
                });
        Ok((map, framing))
    }

    /// The header map of a head laid out as the remembered template, if it
    /// is: a copy of the template with this head's values.
    fn build_from_template(
        &self,
        head: &Bytes,
    ) -> Result<Option<(HeaderMap, FramingFields)>, ProtoError> {
        let Some(template) = &self.template else {
            return Ok(None);
        };
        if template.len() != self.spans.len() {
            return Ok(None);
        }
        for (span, cached) in self.spans.iter().zip(&self.names) {
            if head.get(span.name_start..span.name_end) != Some(&cached.raw[..]) {
                return Ok(None);
            }
        }
        self.copy_template(head).map(Some)
    }

    /// A copy of the template with the values of the fields in `self.spans`,
    /// which are laid out as the template (the caller checked the names).
    fn copy_template(&self, head: &Bytes) -> Result<(HeaderMap, FramingFields), ProtoError> {
        let mut map = self.template.clone().ok_or(ProtoError::InvalidHeader)?;
        let mut framing = FramingFields::default();
        for ((v, span), cached) in map.values_mut().zip(&self.spans).zip(&self.names) {
            let value = value_slice(head, span)?;
            framing.add_kind(cached.kind, &value);
            *v = value_from_parsed(value);
        }
        Ok((map, framing))
    }

    /// Whether the parser remembers a whole layout (the field names of the
    /// last heads, each once, in order), so that a head with that layout gets
    /// a copy of a remembered header map with its values put in.
    pub fn remembers_layout(&self) -> bool {
        self.template.is_some()
    }

    /// How many field names the parser remembers (at most
    /// [`NAME_CACHE_SLOTS`]).
    pub fn cached_names(&self) -> usize {
        self.names.len()
    }
}

/// The value bytes of a field.
fn value_slice(head: &Bytes, span: &FieldSpan) -> Result<Bytes, ProtoError> {
    if span.value_start > span.value_end || span.value_end > head.len() {
        return Err(ProtoError::InvalidHeader);
    }
    Ok(head.slice(span.value_start..span.value_end))
}

/// The name of field `i` with raw bytes `raw`, its framing kind, and whether
/// it was remembered: the remembered one when the bytes match, else a new one
/// (remembered for next time).
fn cached_name(
    names: &mut Vec<CachedName>,
    i: usize,
    raw: &[u8],
) -> Result<(HeaderName, FieldKind, bool), ProtoError> {
    if let Some(c) = names.get(i) {
        if c.raw == raw {
            return Ok((c.name.clone(), c.kind, true));
        }
    }
    let name = HeaderName::from_bytes(raw).map_err(|_| ProtoError::InvalidHeader)?;
    let kind = FieldKind::of(&name);
    if raw.len() <= MAX_CACHED_NAME_LEN {
        if let Some(c) = names.get_mut(i) {
            c.raw.clear();
            c.raw.extend_from_slice(raw);
            c.name = name.clone();
            c.kind = kind;
        } else if i == names.len() && i < NAME_CACHE_SLOTS {
            names.push(CachedName {
                raw: raw.to_vec(),
                kind,
                name: name.clone(),
            });
        }
    }
    Ok((name, kind, false))
}

/// A header value from bytes httparse accepted as a field value, without
/// checking them again.
#[allow(unsafe_code)]
fn value_from_parsed(bytes: Bytes) -> HeaderValue {
    // SAFETY: `from_maybe_shared_unchecked` is `unsafe` because it skips the
    // check of `from_maybe_shared`, not because any input can cause
    // undefined behaviour: `HeaderValue` validates bytes again before it
    // hands out a `&str` (its "must be valid UTF-8" doc line is stale; it
    // allows obs-text and checks the field-value bytes in debug builds).
    // The invariant it relies on is that the bytes are ones
    // `HeaderValue::from_bytes` accepts: HTAB, SP, 0x21-0x7E and 0x80-0xFF.
    // httparse's field-value scanner accepts exactly those bytes and stops
    // at CR / LF (the test `value_bytes_httparse_matches_header_value` in
    // tests/parser.rs checks all 256 bytes, in short and SIMD-length
    // values), and `bytes` is exactly the value slice httparse returned.
    unsafe { HeaderValue::from_maybe_shared_unchecked(bytes) }
}

/// One httparse pass over `window`, recording the field positions in
/// `spans` (relative to the start of `window`).
fn scan<'b>(
    window: &'b [u8],
    buf_len: usize,
    headers: &mut [MaybeUninit<httparse::Header<'b>>],
    spans: &mut Vec<FieldSpan>,
    limits: &Limits,
    more_slots: bool,
) -> Result<Scan, ProtoError> {
    let (response, consumed, version, status, reason) =
        match httparse_head(window, buf_len, headers, limits, more_slots)? {
            Httparsed::Partial => return Ok(Scan::Partial),
            Httparsed::NeedMoreSlots => return Ok(Scan::NeedMoreSlots),
            Httparsed::Complete {
                response,
                consumed,
                version,
                status,
                reason,
            } => (response, consumed, version, status, reason),
        };
    let base = window.as_ptr() as usize;
    let off = |p: &[u8]| (p.as_ptr() as usize).wrapping_sub(base);
    spans.clear();
    spans.extend(response.headers.iter().map(|h| {
        let name_start = off(h.name.as_bytes());
        let (value_start, value_end) = if h.value.is_empty() {
            (0, 0)
        } else {
            let v0 = off(h.value);
            (v0, v0.wrapping_add(h.value.len()))
        };
        FieldSpan {
            name_start,
            name_end: name_start.wrapping_add(h.name.len()),
            value_start,
            value_end,
        }
    }));
    Ok(Scan::Complete(Complete {
        consumed,
        version,
        status,
        reason,
    }))
}

/// The status line and field positions of a head laid out exactly as the
/// remembered one (`names`, in order, then the empty line), read without
/// httparse. [`Declined::Partial`] when the bytes are a valid start of that
/// layout and end before the head does (a prefix of a head httparse
/// accepts, which httparse finds partial too); [`Declined::Other`] whenever
/// the bytes are anything else, and the caller then runs httparse on them.
/// The two are told apart only on the way out, so a head that is taken
/// costs nothing for it.
///
/// It accepts a strict subset of what httparse accepts, with the same
/// result: `HTTP/1.0` or `HTTP/1.1`, one space, three digits (at least 100),
/// one space, a reason of visible ASCII and spaces, CRLF; then each
/// remembered name as received, a colon, spaces or tabs, a value of visible
/// ASCII and spaces that does not end in a space, CRLF; then CRLF, all
/// inside `window`. Anything httparse would trim, fold, reject, find
/// partial or need more header slots for (leading empty lines, bare LF,
/// empty values, tabs or obs-text in a value, obsolete line folding, space
/// before a colon, another field) is left to httparse. Every value it
/// accepts is one `HeaderValue` accepts.
fn scan_known_layout(
    window: &[u8],
    names: &[CachedName],
    spans: &mut Vec<FieldSpan>,
) -> Result<Complete, Declined> {
    use Declined::Other;
    let rest = match window.strip_prefix(b"HTTP/1.") {
        Some(rest) => rest,
        None => return Err(declined_at(window, b"HTTP/1.")),
    };
    let (version, rest) = match rest.split_first() {
        Some((b'1', rest)) => (Version::HTTP_11, rest),
        Some((b'0', rest)) => (Version::HTTP_10, rest),
        Some(_) => return Err(Other),
        None => return Err(Declined::Partial),
    };
    let rest = rest
        .strip_prefix(b" ")
        .ok_or_else(|| declined_at(rest, b" "))?;
    let Some((&[a, b, c], rest)) = rest.split_first_chunk::<3>() else {
        // Fewer than three bytes: partial if they start a valid code.
        let valid = rest.iter().all(u8::is_ascii_digit) && rest.first() != Some(&b'0');
        return Err(if valid { Declined::Partial } else { Other });
    };
    if ![a, b, c].iter().all(u8::is_ascii_digit) || a == b'0' {
        return Err(Other);
    }
    let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
    let status = StatusCode::from_u16(code).map_err(|_| Other)?;
    let rest = rest
        .strip_prefix(b" ")
        .ok_or_else(|| declined_at(rest, b" "))?;
    let (reason, rest) = rest.split_at(visible_prefix_len(rest));
    let rest = rest
        .strip_prefix(b"\r\n")
        .ok_or_else(|| declined_at(rest, b"\r\n"))?;
    let reason = std::str::from_utf8(reason).map_err(|_| Other)?;

    let mut pos = window.len() - rest.len();
    spans.clear();
    for cached in names {
        let name_start = pos;
        let name_end = name_start + cached.raw.len();
        match window.get(name_start..name_end) {
            Some(name) if name == cached.raw.as_slice() => {}
            _ => {
                return Err(declined_at(
                    window.get(name_start..).unwrap_or(&[]),
                    &cached.raw,
                ))
            }
        }
        match window.get(name_end) {
            Some(b':') => {}
            Some(_) => return Err(Other),
            None => return Err(Declined::Partial),
        }
        let after = window.get(name_end + 1..).unwrap_or(&[]);
        let value_start = name_end
            + 1
            + after
                .iter()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count();
        let value = window.get(value_start..).unwrap_or(&[]);
        let value_end = value_start + visible_prefix_len(value);
        // Empty or ending in a space: httparse trims; leave it to httparse (unless the
        // bytes end there: the value may go on).
        if value_end == value_start || window.get(value_end - 1) == Some(&b' ') {
            return Err(if value_end == window.len() {
                Declined::Partial
            } else {
                Other
            });
        }
        match window.get(value_end..value_end + 2) {
            Some(b"\r\n") => {}
            _ => return Err(declined_at(window.get(value_end..).unwrap_or(&[]), b"\r\n")),
        }
        spans.push(FieldSpan {
            name_start,
            name_end,
            value_start,
            value_end,
        });
        pos = value_end + 2;
    }
    match window.get(pos..pos + 2) {
        Some(b"\r\n") => {}
        _ => return Err(declined_at(window.get(pos..).unwrap_or(&[]), b"\r\n")),
    }
    Ok(Complete {
        consumed: pos + 2,
        version,
        status,
        reason: reason_of(status, Some(reason), window),
    })
}

/// Why [`scan_known_layout`] did not take the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Declined {
    /// A valid start of the remembered layout that ends before the head does.
    Partial,
    /// Anything else.
    Other,
}

/// The scanner expected `lit` where the bytes `rest` are: partial when `rest` ends inside
/// `lit` and agrees with it so far. Only on the way out of the scanner.
#[cold]
#[inline(never)]
fn declined_at(rest: &[u8], lit: &[u8]) -> Declined {
    if rest.len() < lit.len() && lit.starts_with(rest) {
        Declined::Partial
    } else {
        Declined::Other
    }
}

/// How many bytes at the front of `bytes` are visible ASCII or space
/// (0x20-0x7E), eight at a time while eight remain.
fn visible_prefix_len(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = ONES * 0x80;
    let mut n = 0;
    while let Some(word) = bytes.get(n..).and_then(|b| b.first_chunk::<8>()) {
        let x = u64::from_le_bytes(*word);
        // Per byte, no carry between bytes: the low seven bits plus 0x60 reach
        // the high bit exactly when they are >= 0x20, plus 0x01 exactly when
        // they are 0x7F; a set high bit in `x` is a byte >= 0x80.
        let low = x & !HIGH;
        let at_least_space = low.wrapping_add(ONES * 0x60) & HIGH;
        let del = low.wrapping_add(ONES) & HIGH;
        let other = (x & HIGH) | (!at_least_space & HIGH) | del;
        if other != 0 {
            // Little-endian: the lowest set bit is in the first such byte.
            return n + (other.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + bytes
        .get(n..)
        .unwrap_or(&[])
        .iter()
        .take_while(|&&b| (0x20..=0x7e).contains(&b))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 13\r\n\
Connection: keep-alive\r\n\r\nbody";

    /// A parser that has seen `HEAD`'s layout twice (so it remembers it).
    fn warm() -> ResponseParser {
        let mut p = ResponseParser::new();
        for _ in 0..2 {
            let mut buf = BytesMut::from(HEAD);
            assert!(matches!(p.parse(&mut buf, &Limits::default()), Ok(Some(_))));
        }
        assert!(p.remembers_layout());
        p
    }

    /// Whether the scanner finds `bytes` a proper start of the remembered layout.
    fn layout_prefix(bytes: &[u8], names: &[CachedName]) -> bool {
        matches!(
            scan_known_layout(bytes, names, &mut Vec::new()),
            Err(Declined::Partial)
        )
    }

    fn known(p: &mut ResponseParser, bytes: &[u8]) -> Option<(usize, Vec<(String, String)>)> {
        let line = scan_known_layout(bytes, &p.names, &mut p.spans).ok()?;
        let fields = p
            .spans
            .iter()
            .map(|s| {
                let text = |a: usize, b: usize| String::from_utf8_lossy(&bytes[a..b]).into_owned();
                (
                    text(s.name_start, s.name_end),
                    text(s.value_start, s.value_end),
                )
            })
            .collect();
        Some((line.consumed, fields))
    }

    #[test]
    fn reads_the_remembered_layout_without_httparse() {
        let mut p = warm();
        let (consumed, fields) = known(&mut p, HEAD).expect("the remembered layout");
        assert_eq!(consumed, HEAD.len() - 4, "the head ends before the body");
        assert_eq!(
            fields,
            [
                ("Server", "nginx"),
                ("Content-Length", "13"),
                ("Connection", "keep-alive")
            ]
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
        );
        // Tabs and several spaces after the colon are skipped, as httparse does.
        let tabbed = b"HTTP/1.0 404 Not Found\r\nServer:\t  x y\r\nContent-Length:0\r\n\
Connection: close\r\n\r\n";
        let (_, fields) = known(&mut p, tabbed).expect("same names");
        assert_eq!(fields[0].1, "x y");
        assert_eq!(fields[1].1, "0");
        // The reason is everything after the one space that follows the code, as httparse
        // reports it (not trimmed), and may be empty.
        for (line, reason) in [
            ("HTTP/1.1 200  OK", " OK"),
            ("HTTP/1.1 200 ", ""),
            ("HTTP/1.1 599 Some Thing ", "Some Thing "),
        ] {
            let text = String::from_utf8_lossy(HEAD).replacen("HTTP/1.1 200 OK", line, 1);
            let Ok(l) = scan_known_layout(text.as_bytes(), &p.names, &mut p.spans) else {
                panic!("{line:?}: not read as the remembered layout");
            };
            let via_httparse = crate::parse_response_head(text.as_bytes(), &Limits::default());
            match via_httparse {
                Ok(crate::ParseStatus::Complete { head, .. }) => assert_eq!(l.reason, head.reason),
                other => panic!("{line:?}: httparse gave {other:?}"),
            }
            assert_eq!(l.reason, reason_of(l.status, Some(reason), text.as_bytes()));
        }
    }

    #[test]
    fn a_parser_that_remembers_a_layout_keeps_the_limits() {
        // HEAD has three fields: two slots are too few, three enough, whichever path reads it.
        for (max_headers, ok) in [(2, false), (3, true)] {
            let mut p = warm();
            let limits = Limits {
                max_headers,
                ..Limits::default()
            };
            let mut buf = BytesMut::from(HEAD);
            let got = p.parse(&mut buf, &limits);
            assert_eq!(got.is_ok(), ok, "max_headers {max_headers}: {got:?}");
            assert_eq!(
                got.map(|h| h.map(|h| h.head)),
                match crate::parse_response_head(HEAD, &limits) {
                    Ok(crate::ParseStatus::Complete { head, .. }) => Ok(Some(head)),
                    Ok(crate::ParseStatus::Partial) => Ok(None),
                    Err(e) => Err(e),
                }
            );
        }
        // A head longer than max_head_bytes is too large, not read by the scanner.
        let mut p = warm();
        let limits = Limits {
            max_head_bytes: HEAD.len() - 5,
            ..Limits::default()
        };
        let mut buf = BytesMut::from(HEAD);
        assert!(matches!(
            p.parse(&mut buf, &limits),
            Err(ProtoError::HeadTooLarge { .. })
        ));
        assert_eq!(&buf[..], HEAD, "an error leaves the buffer untouched");
    }

    #[test]
    fn leaves_everything_else_to_httparse() {
        let mut p = warm();
        let text = String::from_utf8_lossy(HEAD).into_owned();
        for (from, to) in [
            ("HTTP/1.1 200 OK", "HTTP/1.2 200 OK"),
            ("HTTP/1.1 200 OK", "HTTP/1.1 099 OK"),
            ("HTTP/1.1 200 OK", "HTTP/1.1 200"),
            ("HTTP/1.1 200 OK", "HTTP/1.1  200 OK"),
            ("HTTP/1.1 200 OK", "HTTP/1.1 200 O\tK"),
            ("HTTP/1.1 200 OK", "HTTP/1.1 200 O\u{e9}K"),
            ("HTTP/1.1", "\r\nHTTP/1.1"),
            ("Server: nginx", "server: nginx"),
            ("Server: nginx", "Server : nginx"),
            ("Server: nginx", "Server:"),
            ("Server: nginx", "Server:   "),
            ("Server: nginx", "Server: nginx "),
            ("Server: nginx", "Server: ng\tinx"),
            ("Server: nginx", "Server: ng\u{e9}inx"),
            ("Server: nginx", "Server: ng\u{7f}inx"),
            ("Server: nginx", "Server:\rnginx"),
            ("Server: nginx", "Server:\r\n nginx"),
            ("Server: nginx", "Server:\tnginx\t"),
            ("Server: nginx", "Server: nginx\rX"),
            ("Server: nginx", "Server: nginx\r\n folded"),
            ("Server: nginx", "Server: nginx\r\nVary: *"),
            ("nginx\r\n", "nginx\n"),
            ("13\r\n", "13\rx\n"),
            ("keep-alive\r\n\r\n", "keep-alive\r\nVary: *\r\n\r\n"),
            ("keep-alive\r\n\r\n", "keep-alive\r\n\n"),
        ] {
            assert!(text.contains(from));
            let changed = text.replacen(from, to, 1);
            assert!(
                known(&mut p, changed.as_bytes()).is_none()
                    && !layout_prefix(changed.as_bytes(), &p.names),
                "{changed:?} must go to httparse"
            );
            // Up to the first changed byte it is a valid start of the layout.
            let same = text
                .bytes()
                .zip(changed.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            for n in [0, same / 2, same] {
                assert!(
                    layout_prefix(&changed.as_bytes()[..n], &p.names),
                    "{n} bytes of {changed:?}"
                );
            }
        }
        // A whole head is not a proper prefix; every proper prefix is partial, as httparse
        // finds it, without httparse.
        assert!(
            !layout_prefix(HEAD, &p.names) && !layout_prefix(&HEAD[..HEAD.len() - 4], &p.names)
        );
        for n in 0..HEAD.len() - 4 {
            assert!(
                known(&mut p, &HEAD[..n]).is_none() && layout_prefix(&HEAD[..n], &p.names),
                "prefix of {n} bytes"
            );
        }
    }

    #[test]
    fn a_head_that_arrives_a_byte_at_a_time_is_partial_until_whole() {
        let whole = {
            let mut buf = BytesMut::from(HEAD);
            warm().parse(&mut buf, &Limits::default()).unwrap().unwrap()
        };
        let mut p = warm();
        let mut buf = BytesMut::new();
        let end = HEAD.len() - 4;
        for (i, &b) in HEAD[..end].iter().enumerate() {
            buf.extend_from_slice(&[b]);
            let got = p.parse(&mut buf, &Limits::default()).unwrap();
            if i + 1 < end {
                assert!(got.is_none(), "partial after {} bytes", i + 1);
                assert_eq!(buf.len(), i + 1, "a partial head stays in the buffer");
            } else {
                let got = got.expect("complete at the empty line");
                assert_eq!(got.head, whole.head);
                assert!(buf.is_empty());
            }
        }
        // A start of the layout longer than `max_head_bytes` is too large, not partial.
        let limits = Limits {
            max_head_bytes: 20,
            ..Limits::default()
        };
        let mut buf = BytesMut::from(&HEAD[..30]);
        assert!(matches!(
            warm().parse(&mut buf, &limits),
            Err(ProtoError::HeadTooLarge { .. })
        ));
        let mut buf = BytesMut::from(&HEAD[..20]);
        assert!(matches!(warm().parse(&mut buf, &limits), Ok(None)));
    }

    #[test]
    fn visible_prefix_len_stops_at_the_first_other_byte() {
        for len in 0..40 {
            for at in 0..=len {
                for bad in [0x00u8, 0x09, 0x0d, 0x1f, 0x7f, 0x80, 0xff] {
                    let mut v = vec![b'a'; len];
                    if at < len {
                        v[at] = bad;
                    }
                    assert_eq!(visible_prefix_len(&v), at, "len {len}, {bad:#x} at {at}");
                }
            }
        }
        // Every byte value, at every position of a word and of the tail.
        for bad in 0..=255u8 {
            let visible = (0x20..=0x7e).contains(&bad);
            for len in [7usize, 8, 9, 16, 17] {
                for at in 0..len {
                    let mut v = vec![b'a'; len];
                    v[at] = bad;
                    let want = if visible { len } else { at };
                    assert_eq!(visible_prefix_len(&v), want, "len {len}, {bad:#x} at {at}");
                }
            }
        }
        let all: Vec<u8> = (0x20..=0x7e).collect();
        assert_eq!(visible_prefix_len(&all), all.len());
        // Bytes whose neighbours carry in the word arithmetic: 0x7e next to 0xff.
        assert_eq!(visible_prefix_len(b"~~~~~~~\xff"), 7);
        assert_eq!(visible_prefix_len(b"\xff~~~~~~~"), 0);
    }
}
