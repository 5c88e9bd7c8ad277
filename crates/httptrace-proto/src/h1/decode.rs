//! Response body decoding (RFC 9112 §6 and §7).

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::error::ProtoError;
use super::head::{BodyKind, Limits};

/// Most hex digits a chunk size may have (16 digits fill a `u64`; Go applies
/// the same bound, leading zeros included).
const MAX_CHUNK_SIZE_DIGITS: u8 = 16;

/// What one call to [`Decoder::decode`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The next piece of body payload; never empty.
    Data(Bytes),
    /// The buffer holds no complete piece: read more bytes, append them to
    /// the buffer and call again (or call [`Decoder::decode_eof`] on EOF).
    NeedMore,
    /// The body is complete.
    Done {
        /// The trailer section of a chunked body, when it held any field.
        /// Reported once: later calls return `Done { trailers: None }`.
        trailers: Option<HeaderMap>,
    },
}

/// Incremental decoder of one response body.
///
/// Feed it the bytes that follow the response head. It removes the bytes it
/// has used from the front of the buffer and never looks past the end of
/// the body: whatever follows stays in the buffer for the next response
/// head (or, after a body that has no business being followed by anything,
/// it is garbage the caller may discard by closing the connection).
///
/// After an error the decoder is poisoned: every later call returns the same
/// error, and the connection must be closed.
#[derive(Debug, Clone)]
pub struct Decoder {
    kind: BodyKind,
    state: State,
    received: u64,
    ext_bytes: usize,
    max_ext_bytes: usize,
    max_trailer_bytes: usize,
    max_headers: usize,
    trailers: Vec<u8>,
    failed: Option<ProtoError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length { remaining: u64 },
    Close,
    Chunked(Chunk),
    Done,
}

/// Position inside a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting the first hex digit of a chunk size.
    SizeStart,
    /// Inside the hex digits.
    Size { size: u64, digits: u8 },
    /// Whitespace after the digits (hyper and Go accept it).
    SizeWs { size: u64 },
    /// Inside chunk extensions, up to the CR.
    Ext { size: u64 },
    /// Seen the CR ending a chunk-size line.
    SizeLf { size: u64 },
    /// Inside chunk data.
    Data { remaining: u64 },
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a line of the trailer section.
    TrailerStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// Seen the CR ending a trailer field line.
    TrailerLf,
    /// Seen the CR of the empty line ending the body.
    EndLf,
}

/// What a run over framing bytes ended with.
enum Step {
    /// The state is now `Chunk::Data`.
    Data,
    /// The input ran out.
    NeedMore,
    /// The body ended.
    End,
}

impl Decoder {
    /// Creates a decoder for a body framed as `kind` (see
    /// [`crate::response_body_kind`]).
    pub fn new(kind: BodyKind, limits: &Limits) -> Decoder {
        let state = match kind {
            BodyKind::Empty | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length { remaining: n },
            BodyKind::Chunked => State::Chunked(Chunk::SizeStart),
            BodyKind::CloseDelimited => State::Close,
        };
        Decoder {
            kind,
            state,
            received: 0,
            ext_bytes: 0,
            max_ext_bytes: limits.max_chunk_ext_bytes,
            max_trailer_bytes: limits.max_trailer_bytes,
            max_headers: limits.max_headers,
            trailers: Vec::new(),
            failed: None,
        }
    }

    /// Decodes as much of `buf` as possible.
    ///
    /// Returns [`Decoded::Data`] with the next payload bytes, split off the
    /// front of `buf` without copying; [`Decoded::NeedMore`] when `buf`
    /// holds no complete piece (framing bytes it did hold have been consumed
    /// and remembered); or [`Decoded::Done`] once the body is complete. Bytes
    /// after the body stay in `buf`.
    ///
    /// Call it in a loop until it returns `NeedMore` or `Done`. A
    /// `Content-Length` body never yields more than the declared count, and
    /// `is_done()` turns true as soon as the last byte has been returned. A
    /// close-delimited body returns everything in `buf`.
    ///
    /// Chunked bodies are parsed the way hyper parses them: hex digits in
    /// either case with any number of leading zeros (at most 16 digits in
    /// all); optional spaces or tabs after the digits; extensions after `;`
    /// skipped without interpretation, but limited to
    /// [`Limits::max_chunk_ext_bytes`] over the whole body; every line of the
    /// chunked framing must end in CRLF — a bare LF is an error (hyper and
    /// current Go agree: it is a request-smuggling vector); the trailer
    /// section is parsed into a `HeaderMap` (bounded by
    /// [`Limits::max_trailer_bytes`] and [`Limits::max_headers`]) and is not
    /// filtered: fields such as `Content-Length` in it carry no framing
    /// meaning, and it is up to the caller whether to expose them.
    ///
    /// # Errors
    ///
    /// [`ProtoError::InvalidChunkSize`], [`ProtoError::ChunkSizeOverflow`],
    /// [`ProtoError::ChunkExtensionTooLong`],
    /// [`ProtoError::TrailersTooLarge`], [`ProtoError::TooManyHeaders`],
    /// [`ProtoError::InvalidTrailer`]; or the error of an earlier call.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, ProtoError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.decode_inner(buf);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// Tells the decoder the transport reached end-of-file; call it after
    /// [`Decoder::decode`] has returned `NeedMore` for the final bytes.
    ///
    /// A close-delimited body ends here ([`Decoded::Done`]); so does a body
    /// that was already complete. A `Content-Length` or chunked body that is
    /// not complete is an error.
    ///
    /// # Errors
    ///
    /// [`ProtoError::IncompleteBody`]; or the error of an earlier call.
    pub fn decode_eof(&mut self) -> Result<Decoded, ProtoError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let error = match self.state {
            State::Done => return Ok(Decoded::Done { trailers: None }),
            State::Close => {
                self.state = State::Done;
                return Ok(Decoded::Done { trailers: None });
            }
            State::Length { remaining } => ProtoError::IncompleteBody {
                expected: Some(self.received.saturating_add(remaining)),
                received: self.received,
            },
            State::Chunked(_) => ProtoError::IncompleteBody {
                expected: None,
                received: self.received,
            },
        };
        self.failed = Some(error.clone());
        Err(error)
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body payload bytes returned so far (framing bytes not counted).
    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    /// The framing this decoder was created with.
    pub fn kind(&self) -> &BodyKind {
        &self.kind
    }

    fn decode_inner(&mut self, buf: &mut BytesMut) -> Result<Decoded, ProtoError> {
        match self.state {
            State::Done => Ok(Decoded::Done { trailers: None }),
            State::Length { remaining } => {
                if buf.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let data = self.take(buf, remaining);
                let left = remaining.saturating_sub(data.len() as u64);
                self.state = if left == 0 {
                    State::Done
                } else {
                    State::Length { remaining: left }
                };
                Ok(Decoded::Data(data))
            }
            State::Close => {
                if buf.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let data = buf.split().freeze();
                self.received = self.received.saturating_add(data.len() as u64);
                Ok(Decoded::Data(data))
            }
            State::Chunked(_) => self.decode_chunked(buf),
        }
    }

    /// Splits at most `max` bytes off the front of a non-empty `buf`.
    fn take(&mut self, buf: &mut BytesMut, max: u64) -> Bytes {
        let n = usize::try_from(max).map_or(buf.len(), |m| m.min(buf.len()));
        self.received = self.received.saturating_add(n as u64);
        buf.split_to(n).freeze()
    }

    fn decode_chunked(&mut self, buf: &mut BytesMut) -> Result<Decoded, ProtoError> {
        loop {
            let State::Chunked(chunk) = self.state else {
                return Ok(Decoded::Done { trailers: None });
            };
            if let Chunk::Data { remaining } = chunk {
                if buf.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let data = self.take(buf, remaining);
                let left = remaining.saturating_sub(data.len() as u64);
                self.state = State::Chunked(if left == 0 {
                    Chunk::DataCr
                } else {
                    Chunk::Data { remaining: left }
                });
                return Ok(Decoded::Data(data));
            }

            let (used, step) = self.scan_framing(chunk, buf)?;
            buf.advance(used);
            match step {
                Step::Data => continue,
                Step::NeedMore => return Ok(Decoded::NeedMore),
                Step::End => {
                    self.state = State::Done;
                    let trailers = self.parse_trailers()?;
                    return Ok(Decoded::Done { trailers });
                }
            }
        }
    }

    /// Runs the framing state machine over `input` until it reaches chunk
    /// data, the end of the body, or the end of `input`. Returns the number
    /// of bytes used.
    fn scan_framing(
        &mut self,
        mut chunk: Chunk,
        input: &[u8],
    ) -> Result<(usize, Step), ProtoError> {
        let mut i = 0;
        while let Some(&b) = input.get(i) {
            i += 1;
            chunk = match chunk {
                Chunk::SizeStart => match hex_value(b) {
                    Some(d) => Chunk::Size {
                        size: u64::from(d),
                        digits: 1,
                    },
                    None => return Err(ProtoError::InvalidChunkSize),
                },
                Chunk::Size { size, digits } => match b {
                    b'\r' => Chunk::SizeLf { size },
                    b';' => Chunk::Ext { size },
                    b' ' | b'\t' => {
                        self.count_ext_byte()?;
                        Chunk::SizeWs { size }
                    }
                    _ => {
                        let d = hex_value(b).ok_or(ProtoError::InvalidChunkSize)?;
                        if digits >= MAX_CHUNK_SIZE_DIGITS {
                            return Err(ProtoError::ChunkSizeOverflow);
                        }
                        let size = size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(u64::from(d)))
                            .ok_or(ProtoError::ChunkSizeOverflow)?;
                        Chunk::Size {
                            size,
                            digits: digits.saturating_add(1),
                        }
                    }
                },
                Chunk::SizeWs { size } => match b {
                    b'\r' => Chunk::SizeLf { size },
                    b';' => Chunk::Ext { size },
                    b' ' | b'\t' => {
                        self.count_ext_byte()?;
                        Chunk::SizeWs { size }
                    }
                    _ => return Err(ProtoError::InvalidChunkSize),
                },
                Chunk::Ext { size } => match b {
                    b'\r' => Chunk::SizeLf { size },
                    b'\n' => return Err(ProtoError::InvalidChunkSize),
                    _ => {
                        self.count_ext_byte()?;
                        Chunk::Ext { size }
                    }
                },
                Chunk::SizeLf { size } => match b {
                    b'\n' if size == 0 => Chunk::TrailerStart,
                    b'\n' => {
                        self.state = State::Chunked(Chunk::Data { remaining: size });
                        return Ok((i, Step::Data));
                    }
                    _ => return Err(ProtoError::InvalidChunkSize),
                },
                Chunk::DataCr => match b {
                    b'\r' => Chunk::DataLf,
                    _ => return Err(ProtoError::InvalidChunkSize),
                },
                Chunk::DataLf => match b {
                    b'\n' => Chunk::SizeStart,
                    _ => return Err(ProtoError::InvalidChunkSize),
                },
                Chunk::TrailerStart => match b {
                    b'\r' => Chunk::EndLf,
                    b'\n' => return Err(self.end_line_error()),
                    _ => {
                        self.push_trailer(&[b])?;
                        Chunk::TrailerLine
                    }
                },
                Chunk::TrailerLine => {
                    // Copy the rest of the line in one go.
                    let rest = input.get(i - 1..).unwrap_or(&[]);
                    match rest.iter().position(|&c| c == b'\r' || c == b'\n') {
                        Some(pos) => {
                            self.push_trailer(rest.get(..pos).unwrap_or(&[]))?;
                            if rest.get(pos) == Some(&b'\n') {
                                return Err(ProtoError::InvalidTrailer);
                            }
                            i += pos;
                            Chunk::TrailerLf
                        }
                        None => {
                            self.push_trailer(rest)?;
                            i = input.len();
                            Chunk::TrailerLine
                        }
                    }
                }
                Chunk::TrailerLf => match b {
                    b'\n' => {
                        self.push_trailer(b"\r\n")?;
                        Chunk::TrailerStart
                    }
                    _ => return Err(ProtoError::InvalidTrailer),
                },
                Chunk::EndLf => match b {
                    b'\n' => return Ok((i, Step::End)),
                    _ => return Err(self.end_line_error()),
                },
                Chunk::Data { .. } => {
                    // Unreachable: data is handled by the caller. Stay
                    // consistent rather than panic.
                    self.state = State::Chunked(chunk);
                    return Ok((i - 1, Step::Data));
                }
            };
        }
        self.state = State::Chunked(chunk);
        Ok((i, Step::NeedMore))
    }

    /// The error for a malformed empty line at the end of a chunked body.
    fn end_line_error(&self) -> ProtoError {
        if self.trailers.is_empty() {
            ProtoError::InvalidChunkSize
        } else {
            ProtoError::InvalidTrailer
        }
    }

    fn count_ext_byte(&mut self) -> Result<(), ProtoError> {
        self.ext_bytes = self.ext_bytes.saturating_add(1);
        if self.ext_bytes > self.max_ext_bytes {
            return Err(ProtoError::ChunkExtensionTooLong {
                limit: self.max_ext_bytes,
            });
        }
        Ok(())
    }

    fn push_trailer(&mut self, bytes: &[u8]) -> Result<(), ProtoError> {
        if self.trailers.len().saturating_add(bytes.len()) > self.max_trailer_bytes {
            return Err(ProtoError::TrailersTooLarge {
                limit: self.max_trailer_bytes,
            });
        }
        self.trailers.extend_from_slice(bytes);
        Ok(())
    }

    /// Parses the collected trailer section (each line already CRLF-ended).
    fn parse_trailers(&mut self) -> Result<Option<HeaderMap>, ProtoError> {
        if self.trailers.is_empty() {
            return Ok(None);
        }
        let mut raw = std::mem::take(&mut self.trailers);
        raw.extend_from_slice(b"\r\n");
        let too_many = ProtoError::TooManyHeaders {
            limit: self.max_headers,
        };
        let slots = self.max_headers.min(raw.len() / 2 + 1);
        let mut headers = vec![httparse::EMPTY_HEADER; slots];
        let fields = match httparse::parse_headers(&raw, &mut headers) {
            Ok(httparse::Status::Complete((used, fields))) if used == raw.len() => fields,
            Err(httparse::Error::TooManyHeaders) => return Err(too_many),
            _ => return Err(ProtoError::InvalidTrailer),
        };
        let mut map = HeaderMap::try_with_capacity(fields.len()).map_err(|_| too_many.clone())?;
        for field in fields {
            let name = HeaderName::from_bytes(field.name.as_bytes())
                .map_err(|_| ProtoError::InvalidTrailer)?;
            let value =
                HeaderValue::from_bytes(field.value).map_err(|_| ProtoError::InvalidTrailer)?;
            map.try_append(name, value).map_err(|_| too_many.clone())?;
        }
        Ok(Some(map))
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
