//! Request validation and serialization (RFC 9112 §3, §5, §7).

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::error::{InvalidRequest, ProtoError};

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// A field-value byte as Go's `httpguts.ValidHeaderFieldValue` sees it:
/// anything but a control character, except that horizontal tab is allowed.
/// `obs-text` (0x80-0xFF) is allowed.
fn is_field_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// Checks that a method can be written on the request line: one or more
/// token characters.
///
/// `http::Method` already enforces this; the check is repeated here so that
/// the codec does not depend on another crate's invariants.
///
/// # Errors
///
/// [`InvalidRequest::Method`].
pub fn validate_method(m: &Method) -> Result<(), ProtoError> {
    // The standard methods are tokens by definition.
    if matches!(
        *m,
        Method::GET
            | Method::POST
            | Method::PUT
            | Method::DELETE
            | Method::HEAD
            | Method::OPTIONS
            | Method::PATCH
            | Method::TRACE
            | Method::CONNECT
    ) {
        return Ok(());
    }
    let s = m.as_str().as_bytes();
    if s.is_empty() || !s.iter().all(|&b| is_tchar(b)) {
        return Err(InvalidRequest::Method.into());
    }
    Ok(())
}

/// Checks that a request target can be written on the request line: not
/// empty, and only visible ASCII (no space, control character, DEL or
/// non-ASCII byte — each of those would either split the request line or
/// be read differently by different servers).
///
/// # Errors
///
/// [`InvalidRequest::Target`].
pub fn validate_request_target(t: &str) -> Result<(), ProtoError> {
    let t = t.as_bytes();
    if t.is_empty() || !t.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(InvalidRequest::Target.into());
    }
    Ok(())
}

/// Checks that a header field can be written: the name is a token, the
/// value has no control character other than horizontal tab (so no CR, LF
/// or NUL).
///
/// `http::HeaderName` and `http::HeaderValue` already enforce these rules
/// (unless built with `unsafe` unchecked constructors); the check is
/// repeated, cheaply, so that the wire format never depends on another
/// crate's invariants.
///
/// # Errors
///
/// [`InvalidRequest::HeaderName`] or [`InvalidRequest::HeaderValue`].
pub fn validate_header(name: &HeaderName, value: &HeaderValue) -> Result<(), ProtoError> {
    validate_field_bytes(name.as_str().as_bytes(), value.as_bytes())
}

/// [`validate_header`] on raw bytes, for names and values that are not
/// `http` types.
///
/// # Errors
///
/// [`InvalidRequest::HeaderName`] or [`InvalidRequest::HeaderValue`].
pub fn validate_field_bytes(name: &[u8], value: &[u8]) -> Result<(), ProtoError> {
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(InvalidRequest::HeaderName(String::from_utf8_lossy(name).into_owned()).into());
    }
    if !value.iter().all(|&b| is_field_value_byte(b)) {
        return Err(InvalidRequest::HeaderValue(String::from_utf8_lossy(name).into_owned()).into());
    }
    Ok(())
}

/// Appends a request head to a buffer, one field at a time, so that the
/// driver can fire a trace hook (`WroteHeaderField`) after each field.
///
/// ```
/// # use httptrace_proto::HeadWriter;
/// let mut buf = Vec::new();
/// let mut w = HeadWriter::try_new(&mut buf, &http::Method::GET, "/").unwrap();
/// w.field("Host", ["example.com"]).unwrap();
/// w.finish();
/// assert_eq!(buf, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
/// ```
#[derive(Debug)]
pub struct HeadWriter<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> HeadWriter<'a> {
    /// Appends the request line `METHOD target HTTP/1.1\r\n` to `buf`.
    ///
    /// Nothing is validated: call [`validate_method`] and
    /// [`validate_request_target`] first, or use [`HeadWriter::try_new`].
    pub fn new(buf: &'a mut Vec<u8>, method: &Method, target: &str) -> HeadWriter<'a> {
        let method = method.as_str().as_bytes();
        buf.reserve(method.len().saturating_add(target.len()).saturating_add(12));
        buf.extend_from_slice(method);
        buf.push(b' ');
        buf.extend_from_slice(target.as_bytes());
        buf.extend_from_slice(b" HTTP/1.1\r\n");
        HeadWriter { buf }
    }

    /// Validates `method` and `target`, then behaves like
    /// [`HeadWriter::new`]. On error nothing is appended.
    ///
    /// # Errors
    ///
    /// [`InvalidRequest::Method`] or [`InvalidRequest::Target`].
    pub fn try_new(
        buf: &'a mut Vec<u8>,
        method: &Method,
        target: &str,
    ) -> Result<HeadWriter<'a>, ProtoError> {
        validate_method(method)?;
        validate_request_target(target)?;
        Ok(HeadWriter::new(buf, method, target))
    }

    /// Appends one header field with all its values, one line per value
    /// (`Name: value\r\n`), the way Go writes a multi-valued header. `name`
    /// is written exactly as given (for example `"Content-Type"`).
    ///
    /// Every value is validated; on error the buffer is left as it was
    /// before the call.
    ///
    /// # Errors
    ///
    /// [`InvalidRequest::HeaderName`] or [`InvalidRequest::HeaderValue`].
    pub fn field<I, V>(&mut self, name: &str, values: I) -> Result<(), ProtoError>
    where
        I: IntoIterator<Item = V>,
        V: AsRef<[u8]>,
    {
        let mark = self.buf.len();
        for value in values {
            if let Err(e) = self.field_value(name.as_bytes(), value.as_ref()) {
                self.buf.truncate(mark);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Appends one `name: value\r\n` line after validating it; on error
    /// nothing is appended.
    ///
    /// # Errors
    ///
    /// [`InvalidRequest::HeaderName`] or [`InvalidRequest::HeaderValue`].
    pub fn field_value(&mut self, name: &[u8], value: &[u8]) -> Result<(), ProtoError> {
        validate_field_bytes(name, value)?;
        self.buf
            .reserve(name.len().saturating_add(value.len()).saturating_add(4));
        self.buf.extend_from_slice(name);
        self.buf.extend_from_slice(b": ");
        self.buf.extend_from_slice(value);
        self.buf.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Appends `name: value` without validating it, for fields the caller has already checked
    /// (with [`validate_header`] or [`validate_field_bytes`]) or built from validated types
    /// (`http::HeaderName` / `http::HeaderValue` forbid CR, LF and NUL). Writing unchecked bytes
    /// from elsewhere can split the head: validate first.
    pub fn field_prevalidated(&mut self, name: &[u8], value: &[u8]) {
        self.buf
            .reserve(name.len().saturating_add(value.len()).saturating_add(4));
        self.buf.extend_from_slice(name);
        self.buf.extend_from_slice(b": ");
        self.buf.extend_from_slice(value);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Appends the empty line that ends the head.
    pub fn finish(self) {
        self.buf.extend_from_slice(b"\r\n");
    }
}

/// Framing of a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length { declared: u64, written: u64 },
    Chunked { open: bool },
}

/// Frames a request body without copying it.
///
/// For each piece of body data the driver calls
/// [`Encoder::encode_chunk_header`], writes the returned prefix and then the
/// data itself (a vectored write needs no copy), then
/// [`Encoder::encode_chunk_trailer`]; at the end it calls
/// [`Encoder::finish`]. For `Content-Length` bodies the prefix and suffix are
/// empty and the encoder only counts bytes.
///
/// ```
/// # use httptrace_proto::Encoder;
/// let mut enc = Encoder::chunked();
/// let mut out = Vec::new();
/// enc.encode_chunk_header(5, &mut out).unwrap();
/// out.extend_from_slice(b"hello");
/// enc.encode_chunk_trailer(&mut out);
/// enc.finish(&mut out).unwrap();
/// assert_eq!(out, b"5\r\nhello\r\n0\r\n\r\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoder {
    framing: Framing,
    finished: bool,
}

impl Encoder {
    /// A request without a body: any non-empty data is an error.
    pub fn empty() -> Encoder {
        Encoder {
            framing: Framing::Empty,
            finished: false,
        }
    }

    /// A body of exactly `declared` bytes (the request carries
    /// `Content-Length: declared`).
    pub fn length(declared: u64) -> Encoder {
        Encoder {
            framing: Framing::Length {
                declared,
                written: 0,
            },
            finished: false,
        }
    }

    /// A chunked body (the request carries `Transfer-Encoding: chunked`).
    pub fn chunked() -> Encoder {
        Encoder {
            framing: Framing::Chunked { open: false },
            finished: false,
        }
    }

    /// Accounts for `data_len` bytes of body data about to be written and
    /// appends what must precede them to `out`: for a chunked body the
    /// chunk-size line (lowercase hex, as Go writes it), for other bodies
    /// nothing.
    ///
    /// A zero-length piece writes nothing (a `0` chunk would end the body).
    /// If the previous chunk was not closed with
    /// [`Encoder::encode_chunk_trailer`], its CRLF is written first.
    ///
    /// # Errors
    ///
    /// [`InvalidRequest::ContentLengthMismatch`] when the data would go past
    /// the declared length (for an empty body, any data);
    /// [`InvalidRequest::BodyAfterFinish`] after [`Encoder::finish`].
    pub fn encode_chunk_header(
        &mut self,
        data_len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), ProtoError> {
        if self.finished {
            return Err(InvalidRequest::BodyAfterFinish.into());
        }
        let len = u64::try_from(data_len).unwrap_or(u64::MAX);
        match &mut self.framing {
            Framing::Empty => {
                if len > 0 {
                    return Err(InvalidRequest::ContentLengthMismatch {
                        declared: 0,
                        actual: len,
                    }
                    .into());
                }
            }
            Framing::Length { declared, written } => {
                let total = written.saturating_add(len);
                if total > *declared {
                    return Err(InvalidRequest::ContentLengthMismatch {
                        declared: *declared,
                        actual: total,
                    }
                    .into());
                }
                *written = total;
            }
            Framing::Chunked { open } => {
                if *open {
                    out.extend_from_slice(b"\r\n");
                    *open = false;
                }
                if len > 0 {
                    push_hex(out, len);
                    out.extend_from_slice(b"\r\n");
                    *open = true;
                }
            }
        }
        Ok(())
    }

    /// Appends what must follow the data announced by the last
    /// [`Encoder::encode_chunk_header`]: CRLF for a chunked body (unless the
    /// piece was empty), nothing otherwise.
    pub fn encode_chunk_trailer(&mut self, out: &mut Vec<u8>) {
        if let Framing::Chunked { open } = &mut self.framing {
            if *open {
                out.extend_from_slice(b"\r\n");
                *open = false;
            }
        }
    }

    /// Convenience for small bodies: frames `data` and copies it into `out`.
    ///
    /// # Errors
    ///
    /// As [`Encoder::encode_chunk_header`].
    pub fn encode_data(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), ProtoError> {
        self.encode_chunk_header(data.len(), out)?;
        out.extend_from_slice(data);
        self.encode_chunk_trailer(out);
        Ok(())
    }

    /// Ends the body. For a chunked body appends the last chunk and the
    /// empty trailer section (`0\r\n\r\n`), closing an open chunk first.
    ///
    /// # Errors
    ///
    /// [`InvalidRequest::ContentLengthMismatch`] when fewer bytes than
    /// declared were sent; [`InvalidRequest::BodyAfterFinish`] when called
    /// twice.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), ProtoError> {
        self.finish_with_trailers(&HeaderMap::new(), out)
    }

    /// Like [`Encoder::finish`], with a trailer section. Trailer fields are
    /// validated before anything is written and are written with their
    /// (lowercase) `http` names, one line per value.
    ///
    /// # Errors
    ///
    /// As [`Encoder::finish`]; [`InvalidRequest::HeaderName`] or
    /// [`InvalidRequest::HeaderValue`] for a bad trailer field, and
    /// `HeaderName` for a framing field (`Content-Length`,
    /// `Transfer-Encoding`, `Trailer`) given as a trailer; for a body
    /// that is not chunked and non-empty `trailers`,
    /// [`InvalidRequest::TrailersNotChunked`].
    pub fn finish_with_trailers(
        &mut self,
        trailers: &HeaderMap,
        out: &mut Vec<u8>,
    ) -> Result<(), ProtoError> {
        if self.finished {
            return Err(InvalidRequest::BodyAfterFinish.into());
        }
        if !trailers.is_empty() && !self.is_chunked() {
            return Err(InvalidRequest::TrailersNotChunked.into());
        }
        match &mut self.framing {
            Framing::Empty => {}
            Framing::Length { declared, written } => {
                if *written != *declared {
                    return Err(InvalidRequest::ContentLengthMismatch {
                        declared: *declared,
                        actual: *written,
                    }
                    .into());
                }
            }
            Framing::Chunked { open } => {
                for (name, value) in trailers {
                    // Framing fields cannot be trailers (RFC 9110 §6.5.1; Go refuses these
                    // three as "invalid Trailer key").
                    if name == http::header::CONTENT_LENGTH
                        || name == http::header::TRANSFER_ENCODING
                        || name == http::header::TRAILER
                    {
                        return Err(InvalidRequest::HeaderName(name.as_str().to_owned()).into());
                    }
                    validate_header(name, value)?;
                }
                if *open {
                    out.extend_from_slice(b"\r\n");
                    *open = false;
                }
                out.extend_from_slice(b"0\r\n");
                for (name, value) in trailers {
                    out.extend_from_slice(name.as_str().as_bytes());
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(value.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"\r\n");
            }
        }
        self.finished = true;
        Ok(())
    }

    /// Whether the body is chunked.
    pub fn is_chunked(&self) -> bool {
        matches!(self.framing, Framing::Chunked { .. })
    }

    /// Whether [`Encoder::finish`] has succeeded.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// For a `Content-Length` body, the bytes still to be sent; for an empty
    /// body `Some(0)`; for a chunked body `None`.
    pub fn remaining(&self) -> Option<u64> {
        match self.framing {
            Framing::Empty => Some(0),
            Framing::Length { declared, written } => Some(declared.saturating_sub(written)),
            Framing::Chunked { .. } => None,
        }
    }
}

/// Appends `n` in lowercase hex, without leading zeros.
fn push_hex(out: &mut Vec<u8>, mut n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut tmp = [0u8; 16];
    let mut start = tmp.len();
    for slot in tmp.iter_mut().rev() {
        *slot = DIGITS[(n & 0xf) as usize];
        start -= 1;
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[start..]);
}

#[cfg(test)]
mod tests {
    use super::push_hex;

    #[test]
    fn hex() {
        for (n, s) in [
            (0u64, "0"),
            (1, "1"),
            (15, "f"),
            (16, "10"),
            (255, "ff"),
            (u64::MAX, "ffffffffffffffff"),
        ] {
            let mut out = Vec::new();
            push_hex(&mut out, n);
            assert_eq!(out, s.as_bytes());
        }
    }
}
