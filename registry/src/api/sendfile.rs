//! Blob bodies without user-space copies: `sendfile(2)` moves the bytes from the page cache
//! to the socket, where the streaming path reads each piece into memory, actix copies it
//! into its write buffer, and `write` copies it into the socket (measured on a 1 GiB GET:
//! those copies were most of the server's CPU).
//!
//! actix-web has no API that hands a response body to `sendfile`, so this module writes
//! into the connection's socket itself, with safe code only:
//!
//! - At connect time, [`remember_socket`] keeps a duplicate descriptor of the accepted
//!   TCP stream (`dup`, an [`OwnedFd`]) in the connection's extensions. TLS streams are not
//!   `TcpStream`s, so they keep the streaming path.
//! - A blob response carries `Content-Length` and a body stream ([`body`]) that yields no
//!   bytes: its first poll starts a blocking thread that `sendfile`s the range into the
//!   socket, and the stream ends when that thread has sent every byte.
//!
//! The bytes land in order because of two properties of actix-http's HTTP/1 dispatcher:
//! it polls a body only while its write buffer holds fewer than `h1_write_buffer_size`
//! bytes, which the server sets to 1 ([`WRITE_BUFFER`]) — so the body is first polled
//! once the head has been written out whole, and no byte of actix's is left to follow
//! ours; and a body with `Content-Length` but unknown size (`no_chunking`) is written with
//! no framing, so actix adds nothing for this body, and nothing else on the connection
//! until the stream has ended. `tests/tests/blob_sendfile.rs` checks the byte stream,
//! keep-alive after it, ranges and client disconnects.
//!
//! If the stream is dropped before the thread is done (the client went away, the server
//! shuts down), the socket is shut down so that the thread's `sendfile` or `poll` returns
//! at once instead of keeping the connection alive through the duplicate descriptor.

use std::any::Any;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::dev::Extensions;
use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};
use rustix::event::{PollFd, PollFlags, Timespec};

/// `h1_write_buffer_size` the server must run with for [`body`] to be correct (see the
/// module docs).
pub const WRITE_BUFFER: usize = 1;

/// Most bytes one `sendfile` call is asked for, so a cancelled transfer notices soon.
const MAX_CALL: usize = 16 << 20;

/// How long one wait for socket space lasts before the cancel flag is looked at again
/// (a backstop: cancelling also shuts the socket down, which ends the wait at once).
const WAIT: Timespec = Timespec {
    tv_sec: 1,
    tv_nsec: 0,
};

/// The duplicate of a connection's TCP socket, kept in its extensions.
#[derive(Clone)]
pub struct ConnSocket(Arc<OwnedFd>);

/// `HttpServer::on_connect` callback: remembers a plain TCP connection's socket.
pub fn remember_socket(conn: &dyn Any, ext: &mut Extensions) {
    let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    match tcp.as_fd().try_clone_to_owned() {
        Ok(fd) => {
            ext.insert(ConnSocket(Arc::new(fd)));
        }
        // Without it this connection's blobs stream through user space; nothing breaks.
        Err(e) => tracing::warn!(error = %e, "cannot duplicate a connection's socket"),
    }
}

/// Sets the cancel flag and shuts the socket down if dropped before [`Cancel::disarm`].
struct Cancel {
    stop: Arc<AtomicBool>,
    sock: Arc<OwnedFd>,
    armed: bool,
}

impl Cancel {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Cancel {
    fn drop(&mut self) {
        if self.armed {
            self.stop.store(true, Ordering::Relaxed);
            let _ = rustix::net::shutdown(&*self.sock, rustix::net::Shutdown::Both);
        }
    }
}

/// A response body that sends `len` bytes of `file` from `start` with `sendfile` into the
/// connection's socket and yields nothing itself; `done` is told how many bytes were sent.
/// The response must carry `Content-Length: len` and be built with `no_chunking`.
pub fn body(
    sock: &ConnSocket,
    file: File,
    start: u64,
    len: u64,
    done: impl FnOnce(u64) + Send + 'static,
) -> impl Stream<Item = io::Result<Bytes>> + 'static {
    let sock = sock.0.clone();
    let sent = async move {
        let stop = Arc::new(AtomicBool::new(false));
        let cancel = Cancel {
            stop: stop.clone(),
            sock: sock.clone(),
            armed: true,
        };
        let res = tokio::task::spawn_blocking(move || {
            let r = send_range(&sock, &file, start, len, &stop);
            if r.is_ok() {
                done(len);
            }
            r
        })
        .await;
        cancel.disarm();
        match res {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(Err(e)),
            Err(e) => Some(Err(io::Error::other(format!("sendfile task failed: {e}")))),
        }
    };
    stream::once(sent).filter_map(std::future::ready)
}

/// Sends `len` bytes of `file` from `start` into the non-blocking socket `sock`, waiting
/// for room in its send buffer as needed, until done, failed, or `stop` is set.
fn send_range(
    sock: &OwnedFd,
    file: &File,
    start: u64,
    len: u64,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut off = start;
    let end = start.saturating_add(len);
    while off < end {
        if stop.load(Ordering::Relaxed) {
            return Err(io::ErrorKind::ConnectionAborted.into());
        }
        let want = usize::try_from(end - off).unwrap_or(MAX_CALL).min(MAX_CALL);
        match rustix::fs::sendfile(sock, file, Some(&mut off), want) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "blob file shorter than its size",
                ));
            }
            Ok(_) => {} // `off` moved on by what was sent
            Err(rustix::io::Errno::AGAIN) => {
                let mut fds = [PollFd::new(sock, PollFlags::OUT)];
                match rustix::event::poll(&mut fds, Some(&WAIT)) {
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
