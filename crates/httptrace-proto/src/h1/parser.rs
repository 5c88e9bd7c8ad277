//! A per-connection response head parser: the cheap path for a driver that
//! reads many heads from one connection.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};

use super::error::ProtoError;
use super::head::{
    httparse_head, BodyKind, FieldKind, FramingFields, Httparsed, Limits, ResponseHead,
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
        let line = {
            let window = buf.get(..window_len).unwrap_or(&[]);
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
        let result = self.build(&head, limits);
        if self.spans.capacity() > 4 * SHARED_HEADERS {
            // A head with very many fields: do not keep its span table.
            self.spans = Vec::new();
        }
        let (headers, framing) = result?;
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
        let mut map = template.clone();
        let mut framing = FramingFields::default();
        for ((v, span), cached) in map.values_mut().zip(&self.spans).zip(&self.names) {
            let value = value_slice(head, span)?;
            framing.add_kind(cached.kind, &value);
            *v = value_from_parsed(value);
        }
        Ok(Some((map, framing)))
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
