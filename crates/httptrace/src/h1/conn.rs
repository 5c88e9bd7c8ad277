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
    /// How many bytes the next read asks for at least: grows while reads fill what they are
    /// offered, shrinks after reads that take little (see [`H1ConnInner::poll_fill`]).
    read_size: usize,
    /// Reads in a row that took less than a quarter of `read_size`.
    small_reads: u8,
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
            read_size: READ_MIN,
            small_reads: 0,
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

/// The least a read asks of the socket (once the first 8 KiB are used).
pub(crate) const READ_MIN: usize = 16 * 1024;
/// The most a read asks of the socket: a body arriving faster than it is read is taken in
/// reads of up to this size.
pub(crate) const READ_MAX: usize = 128 * 1024;

impl H1ConnInner {
    /// Read once from the socket, appending to the read buffer (into its spare capacity,
    /// without zero-filling it first). `Ready(Ok(0))` is EOF. `expect`: bytes the caller knows
    /// are still to come (the rest of a Content-Length body), 0 if it does not know.
    ///
    /// The size asked for adapts per connection, as hyper's read strategy does: it doubles
    /// (up to [`READ_MAX`]) after a read that filled all it was offered, and halves (down to
    /// [`READ_MIN`]) after three reads in a row that took under a quarter of it. A 64 KiB
    /// response then comes in one `recvfrom` instead of five 16 KiB ones; small responses keep
    /// small buffers. A known rest of a body is asked for at once (up to `READ_MAX`).
    ///
    /// Space is reserved only when the spare capacity falls under half the size: the parsed
    /// head's field values and the body chunks handed out share the buffer, so reserving on
    /// every read would allocate a new buffer per response while they live.
    pub(crate) fn poll_fill(
        &mut self,
        expect: u64,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let size = self
            .read_size
            .max(usize::try_from(expect).unwrap_or(usize::MAX).min(READ_MAX));
        if self.read_buf.capacity() - self.read_buf.len() < size / 2 {
            self.read_buf.reserve(size);
        }
        let offered = self.read_buf.capacity() - self.read_buf.len();
        let r = tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read_buf);
        if let Poll::Ready(Ok(n)) = r {
            if n >= offered {
                self.small_reads = 0;
                self.read_size = (self.read_size.max(offered) * 2).min(READ_MAX);
            } else if n < self.read_size / 4 && self.read_size > READ_MIN {
                self.small_reads += 1;
                if self.small_reads >= 3 {
                    self.small_reads = 0;
                    self.read_size = (self.read_size / 2).max(READ_MIN);
                }
            } else {
                self.small_reads = 0;
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::{Host, Scheme};
    use crate::trace::Protocol;
    use std::future::poll_fn;
    use tokio::io::AsyncWriteExt;

    /// A client-side connection whose socket already holds `n` bytes from the server (the
    /// receive buffer made big enough first), and the server side.
    async fn conn_with_pending(n: usize) -> (H1Conn, tokio::net::TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (client, server) = tokio::join!(tokio::net::TcpStream::connect(addr), l.accept());
        let client = client.unwrap();
        socket2::SockRef::from(&client)
            .set_recv_buffer_size(4 << 20)
            .unwrap();
        let mut server = server.unwrap().0;
        server.write_all(&vec![b'x'; n]).await.unwrap();
        let mut peek = vec![0u8; n];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while client.peek(&mut peek).await.unwrap() < n {
            assert!(std::time::Instant::now() < deadline, "bytes never arrived");
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let info = Arc::new(ConnInfo {
            id: 0,
            local_addr: None,
            remote_addr: addr,
            protocol: Protocol::Http1,
            tls: None,
            proxy: None,
        });
        let key = PoolKey::new(Scheme::Http, Host::from("a.test"), 80, None);
        (H1Conn::new(Stream::Tcp(client), info, key), server)
    }

    /// Reads (`poll_fill` calls returning data) until `n` bytes are buffered; each read's
    /// bytes are consumed, as a body decoder hands them out.
    async fn reads_to_take(c: &mut H1Conn, n: usize, expect: u64) -> Vec<usize> {
        let mut sizes = Vec::new();
        let mut got = 0;
        while got < n {
            let r = poll_fn(|cx| c.poll_fill(expect.saturating_sub(got as u64), cx)).await;
            let k = r.unwrap();
            assert!(k > 0, "EOF after {got} bytes");
            got += k;
            sizes.push(k);
            drop(c.read_buf.split());
        }
        sizes
    }

    /// 200 KiB waiting in the socket are taken in a few growing reads (8, 32, 64, then the
    /// rest in up to 128 KiB), not in 16 KiB reads (13 of them).
    #[tokio::test]
    async fn reads_grow_while_they_fill_the_buffer() {
        let (mut c, _server) = conn_with_pending(200 * 1024).await;
        let sizes = reads_to_take(&mut c, 200 * 1024, 0).await;
        assert!(sizes.len() <= 5, "{} reads: {sizes:?}", sizes.len());
        assert!(sizes.iter().all(|&k| k <= READ_MAX), "{sizes:?}");
        assert_eq!(c.read_size, READ_MAX);
    }

    /// The known rest of a body is asked for in one read.
    #[tokio::test]
    async fn a_known_length_is_read_at_once() {
        let (mut c, _server) = conn_with_pending(100 * 1024).await;
        let sizes = reads_to_take(&mut c, 100 * 1024, 100 * 1024).await;
        assert_eq!(sizes, [100 * 1024]);
    }

    /// After a large transfer, small responses bring the read size back down.
    #[tokio::test]
    async fn small_reads_shrink_the_read_size() {
        let (mut c, mut server) = conn_with_pending(200 * 1024).await;
        reads_to_take(&mut c, 200 * 1024, 0).await;
        assert_eq!(c.read_size, READ_MAX);
        for _ in 0..20 {
            server.write_all(b"small").await.unwrap();
            assert_eq!(reads_to_take(&mut c, 5, 0).await.iter().sum::<usize>(), 5);
        }
        assert_eq!(c.read_size, READ_MIN);
    }
}
