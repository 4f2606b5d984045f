//! Connections a live stream can take over from the HTTP server.
//!
//! Every accepted socket is shared between hyper (through [`Conn`], its I/O) and the
//! requests it carries (through [`TakeOver`], a request extension). A live stream, once
//! authorized, takes the socket: from then on hyper reads end-of-file and its writes go
//! nowhere, so it finishes the connection at once, while the stream's writer (see
//! `writer.rs`) keeps the socket and writes every frame to it with one system call —
//! no task wake-up, HTTP framework or chunked encoding per delivery.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The most one read takes from a socket for hyper.
const READ_CHUNK: usize = 16 * 1024;

/// Accepts connections for `axum::serve`, each one a [`Conn`].
pub struct Listener(pub TcpListener);

impl axum::serve::Listener for Listener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        // axum's own accept loop: it retries after errors such as too many open files.
        let (tcp, addr) = axum::serve::Listener::accept(&mut self.0).await;
        // Live streams send small frames one at a time: without TCP_NODELAY, Nagle's
        // algorithm holds a frame back until the previous one is acknowledged.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let shared = Arc::new(Shared {
            socket: Arc::new(tcp),
            taken: AtomicBool::new(false),
        });
        (Conn(shared), addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

struct Shared {
    socket: Arc<TcpStream>,
    /// Set once a live stream took the socket.
    taken: AtomicBool,
}

/// A connection as hyper sees it: the socket, until a live stream takes it.
pub struct Conn(Arc<Shared>);

impl Conn {
    /// The handle requests on this connection get (see [`crate::serve`]).
    pub fn take_over(&self) -> TakeOver {
        TakeOver(Arc::downgrade(&self.0))
    }

    fn taken(&self) -> bool {
        self.0.taken.load(Ordering::Acquire)
    }
}

/// A request's way to take its connection away from hyper (HTTP/1 only). Weak: a
/// request's extensions kept after its connection ended do not keep the socket open.
#[derive(Clone)]
pub struct TakeOver(Weak<Shared>);

impl TakeOver {
    /// Takes the socket, once; `None` if the connection is gone or already taken.
    /// (A client that pipelines a stream request behind another request could lose the
    /// end of that response if hyper had not flushed it yet; browsers do not pipeline.)
    /// The
    /// caller must answer its request at once (nothing awaited after this) with
    /// `Connection: close`: hyper now reads end-of-file, writes that response into the
    /// void and ends the connection, which leaves the socket open for the caller.
    pub fn take(self) -> Option<Arc<TcpStream>> {
        let shared = self.0.upgrade()?;
        if shared.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(shared.socket.clone())
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.taken() {
            return Poll::Ready(Ok(()));
        }
        loop {
            ready!(self.0.socket.poll_read_ready(cx))?;
            // Safe code must zero the bytes it reads into: at most READ_CHUNK per read,
            // however large a buffer hyper offers for an upload.
            let room = buf.remaining().min(READ_CHUNK);
            match self.0.socket.try_read(buf.initialize_unfilled_to(room)) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            if self.taken() {
                return Poll::Ready(Ok(buf.len()));
            }
            ready!(self.0.socket.poll_write_ready(cx))?;
            match self.0.socket.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                done => return Poll::Ready(done),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            if self.taken() {
                return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
            }
            ready!(self.0.socket.poll_write_ready(cx))?;
            match self.0.socket.try_write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                done => return Poll::Ready(done),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the socket.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.taken() {
            return Poll::Ready(Ok(()));
        }
        let done = socket2::SockRef::from(&*self.0.socket).shutdown(std::net::Shutdown::Write);
        Poll::Ready(match done {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        })
    }
}
