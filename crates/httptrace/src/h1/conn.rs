//! An HTTP/1.1 connection: the stream, its buffers, and what the pool needs to know about it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use httptrace_proto::h1::ResponseParser;
use tokio::io::{AsyncRead, ReadBuf};

use crate::outlined::OutlinedDrop;
use crate::route::PoolKey;
use crate::stream::Stream;
use crate::trace::ConnInfo;

/// Initial read buffer capacity; grows as needed up to the head limit.
pub(crate) const READ_BUF_INIT: usize = 8 * 1024;

/// One HTTP/1.1 connection, owned by exactly one request at a time (or by the idle pool).
///
/// Boxed: a connection moves through the pool, the dial task, the round trip and the response
/// body several times per request, and moving a pointer beats copying ~200 bytes each time.
/// Dropped out of line ([`OutlinedDrop`]): its drop code (stream, buffers, parser, slot) is
/// compiled once instead of into each of the nine codegen units that can drop a connection.
pub(crate) struct H1Conn(OutlinedDrop<Box<H1ConnInner>>);

impl std::ops::Deref for H1Conn {
    type Target = H1ConnInner;
    fn deref(&self) -> &H1ConnInner {
        &self.0
    }
}

impl std::ops::DerefMut for H1Conn {
    fn deref_mut(&mut self) -> &mut H1ConnInner {
        &mut self.0
    }
}

impl H1Conn {
    /// The stream and the head buffer, borrowed together.
    pub(crate) fn io_and_write_buf(&mut self) -> (&mut Stream, &[u8]) {
        let inner = &mut *self.0;
        (&mut inner.io, &inner.write_buf)
    }

    /// The stream and the read buffer, borrowed together.
    pub(crate) fn io_and_read_buf(&mut self) -> (&mut Stream, &mut BytesMut) {
        let inner = &mut *self.0;
        (&mut inner.io, &mut inner.read_buf)
    }
}

/// The state of an [`H1Conn`].
pub(crate) struct H1ConnInner {
    pub(crate) io: Stream,
    /// Bytes read from the socket and not consumed yet.
    pub(crate) read_buf: BytesMut,
    /// Parses the response heads; remembers the field names of the last one.
    pub(crate) parser: ResponseParser,
    /// Serialized request head (and small bodies), reused across requests.
    pub(crate) write_buf: Vec<u8>,
    pub(crate) info: Arc<ConnInfo>,
    pub(crate) key: PoolKey,
    /// Go's `persistConn.reused`: set each time the connection is offered back to the pool.
    pub(crate) reused: bool,
    /// Set when the connection can no longer carry a request (I/O error, framing problem).
    pub(crate) broken: bool,
    /// Its slot under `max_conns_per_host`, released when the connection is dropped.
    pub(crate) slot: Option<crate::pool::SlotGuard>,
}

/// What a quick, non-blocking look at an idle connection found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum IdleHealth {
    /// Nothing to read, no EOF: usable.
    Healthy,
    /// The peer closed it (EOF) or it errored.
    Closed,
    /// The peer sent bytes while no request was outstanding.
    UnexpectedBytes,
}

impl H1Conn {
    pub(crate) fn new(io: Stream, info: Arc<ConnInfo>, key: PoolKey) -> H1Conn {
        H1Conn(OutlinedDrop::new(Box::new(H1ConnInner {
            io,
            read_buf: BytesMut::with_capacity(READ_BUF_INIT),
            parser: ResponseParser::new(),
            write_buf: Vec::with_capacity(1024),
            info,
            key,
            reused: false,
            broken: false,
            slot: None,
        })))
    }

    /// Poll the socket once without registering interest: an idle connection must have nothing
    /// to say. Go discards a connection whose idle read returned EOF or data; so do we.
    pub(crate) fn idle_health(&mut self) -> IdleHealth {
        if !self.read_buf.is_empty() {
            return IdleHealth::UnexpectedBytes;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut probe = [0u8; 1];
        let mut rb = ReadBuf::new(&mut probe);
        match Pin::new(&mut self.io).poll_read(&mut cx, &mut rb) {
            Poll::Pending => IdleHealth::Healthy,
            Poll::Ready(Ok(())) if rb.filled().is_empty() => IdleHealth::Closed,
            Poll::Ready(Ok(())) => IdleHealth::UnexpectedBytes,
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => IdleHealth::Healthy,
            Poll::Ready(Err(_)) => IdleHealth::Closed,
        }
    }
}

/// Bytes requested from the socket per read.
pub(crate) const READ_CHUNK: usize = 16 * 1024;

/// Read once from `io`, appending to `buf` (into its spare capacity, without zero-filling it
/// first). `Ready(Ok(0))` is EOF.
pub(crate) fn poll_read_buf(
    io: &mut Stream,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    tokio_util::io::poll_read_buf(Pin::new(io), cx, buf)
}
