//! Sans-IO HTTP/1.1 client codec for `httptrace`.
//!
//! This crate owns no sockets and spawns no tasks: every function takes bytes
//! (or appends bytes to a buffer) and returns what it found. An async driver
//! in another crate moves the bytes between these functions and the
//! transport, and fires the `httptrace` hooks at the points this codec makes
//! visible (request line written, each header field written, head finished,
//! first response byte, 1xx heads, and so on).
//!
//! The pieces, in the order a driver uses them:
//!
//! 1. **Request validation** — [`validate_method`], [`validate_request_target`],
//!    [`validate_header`]: reject anything that could corrupt the byte stream
//!    *before* a single byte is written.
//! 2. **Request serialization** — [`HeadWriter`] appends the request line and
//!    header fields to a `Vec<u8>`, one field at a time so that the driver can
//!    fire `WroteHeaderField` after each one; [`Encoder`] frames the body
//!    (`Content-Length` or chunked) without copying the payload.
//! 3. **Response head parsing** — [`parse_response_head`] parses the status
//!    line and header section (bounded by [`Limits`]); a driver keeps one
//!    [`ResponseParser`] per connection, which parses the same way more
//!    cheaply and gathers the framing fields ([`FramingFields`]) on the way.
//! 4. **Response framing** — [`response_body_kind`] applies RFC 9112 §6.3 and
//!    [`response_keep_alive`] decides whether the connection can be reused
//!    (or [`ParsedHead::body_kind`] and [`ParsedHead::keep_alive`], the same
//!    rules on the gathered fields).
//! 5. **Response body decoding** — [`Decoder`] turns the bytes that follow the
//!    head into body data (zero-copy `Bytes`) and optional trailers.
//!
//! All parsing code is panic-free on arbitrary input and uses checked
//! arithmetic for every value that comes from the network.
#![deny(missing_docs)]
// One function uses `unsafe` (`h1::parser::value_from_parsed`, see its
// SAFETY comment); everything else is safe code.
#![deny(unsafe_code)]

pub mod h1;

pub use h1::*;
