//! An echo server on tokio (current-thread runtime, one task per connection), built on a small
//! wrapper type, [`WsStream`], whose `next().await` hands back a whole message borrowed from the
//! stream's own buffers, in safe Rust.
//!
//! ```text
//! cargo run --release --example tokio_echo -- [ADDR] [--max-message BYTES] [--protocol NAME]...
//! ```
//!
//! The command line is `echo_server`'s: `ADDR` defaults to `127.0.0.1:9001` and the server prints
//! `listening on IP:PORT` once bound; `--max-message` (default 16 MiB) bounds messages and frames
//! (past it: close 1009); `--protocol` (repeatable) lists the subprotocols supported, and the
//! first one the client offers is chosen. Bad upgrade requests get their 4xx, a plain `GET` a
//! small page. Sockets are `TCP_NODELAY`.
//!
//! # The pattern: borrow the buffer once, at the end
//!
//! The obvious wrapper, `async fn next(&mut self) -> Event<'_>` that loops over
//! `self.conn.receive(&mut self.rbuf[..])` and returns the event it wants, does not compile: a
//! borrow returned from one iteration of a loop is taken to last through the others too (the
//! borrow checker's "problem case 3"). So the receive loop here borrows nothing across
//! iterations. For each data piece it only records *where* the message is: a range of `rbuf`
//! (a message whole in one piece: the payload is the last `payload.len()` bytes of what
//! `receive` consumed), or "in `msg`" (a message reassembled from several pieces, copied there).
//! Only when a message is complete does `next` borrow the buffer, once, and return:
//!
//! * an [`Incoming`] (kind and `&mut` payload, so it can be sent back in place), and
//! * a [`Sender`], which borrows the *other* fields (socket, connection, output buffer): the
//!   borrow checker sees disjoint fields, so the echo is `tx.send(msg.kind, msg.payload)` while
//!   the message is still borrowed. Both borrows end at the next `next()`.
//!
//! # Writes and backpressure
//!
//! Echoes up to [`COPY_LIMIT`] bytes, and larger ones while more input is buffered (pipelined
//! messages), are encoded into the output buffer and written when `next` runs out of input, so
//! the echoes of one read go out in one write; a larger echo of the last message read goes out
//! at once with one vectored write of pending bytes, header and payload, without a copy. `next` writes
//! and reads at the same time, but stops reading while more than [`OUT_LIMIT`] bytes wait to
//! be written, and `send` waits for the socket once that much is pending: a client that does
//! not read stops being read. The core itself holds at most one Pong and one Close (a second
//! Ping waits in the input until the first Pong is taken, `Recv::NeedFlush`).
//!
//! # Closing, and timeouts
//!
//! Pongs and the Close reply are the core's (`auto_pong`, `auto_close`). Once the connection is
//! `Closed` (both Closes exchanged, or a protocol error's Close queued), the server writes what
//! is left, sends its FIN, and reads until the client's FIN, all within [`CLOSE_TIMEOUT`]
//! (closing with unread input would reset the connection and could destroy the last frames).
//! A client's FIN without a closing handshake ends the connection once the output still waiting
//! for it is written (a client may half-close and read on), again within [`CLOSE_TIMEOUT`].
//! The request head must arrive within [`HANDSHAKE_TIMEOUT`]. An idle timeout would wrap
//! `next()` in `tokio::time::timeout`.
//!
//! An idle upgraded connection costs its task, the socket, the 64 KiB receive buffer, and the
//! output and reassembly buffers at their high-water marks: measured (`benches/E2E.md`), about
//! 66 KiB of server RSS per idle connection. `mio_echo` shows the shape that costs 300 bytes.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{ready, Poll};
use std::time::Duration;

use sockless::frame::{MAX_CONTROL_FRAME_LEN, MAX_HEADER_LEN};
use sockless::handshake::ServerHandshake;
use sockless::{Config, Connection, DataKind, Event, Recv, State};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

mod common;
use common::{OutBuf, Upgrade};

/// The receive buffer. Any size from 139 bytes works (headers and control frames are taken
/// whole); a larger one means fewer reads and more messages whole in one piece. A message in one
/// frame that fits (so a 64 KiB message with its header) is received whole (`Config::whole_messages_up_to`), and
/// echoed from where it lies.
const RBUF_LEN: usize = 64 * 1024 + MAX_HEADER_LEN;
/// Echoes up to this size are always copied into the output buffer; larger ones only while more
/// input is buffered, otherwise they are written in place.
const COPY_LIMIT: usize = 4 * 1024;
/// Past this many bytes waiting to be written, stop reading (and `send` waits for the socket).
const OUT_LIMIT: usize = 256 * 1024;
/// The reassembly buffer keeps at most this much capacity between messages.
const KEEP_CAPACITY: usize = 1 << 20;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let opts = common::options("tokio_echo");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let result = runtime.and_then(|rt| rt.block_on(serve_all(opts)));
    if let Err(e) = result {
        eprintln!("tokio_echo: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn serve_all(opts: common::Options) -> io::Result<()> {
    let listener = TcpListener::bind(&opts.addr).await?;
    common::announce(listener.local_addr()?)?;
    let protocols: Arc<[String]> = opts.protocols.into();
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, say: back off instead of spinning.
                eprintln!("tokio_echo: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let protocols = Arc::clone(&protocols);
        tokio::spawn(async move {
            if let Err(e) = echo(tcp, opts.config, &protocols).await {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

/// One connection: the whole echo, with the wrapper.
async fn echo(tcp: TcpStream, config: Config, protocols: &[String]) -> io::Result<()> {
    let accepted = WsStream::accept(tcp, config, protocols);
    let Some(mut ws) = timeout(HANDSHAKE_TIMEOUT, accepted).await?? else {
        return Ok(());
    };
    while let Some((msg, mut tx)) = ws.next().await? {
        tx.send(msg.kind, msg.payload).await?;
    }
    Ok(())
}

/// A server WebSocket over a tokio `TcpStream`, owning its buffers.
pub struct WsStream {
    tcp: TcpStream,
    conn: Connection,
    rbuf: Box<[u8]>,
    /// `rbuf[pos..filled]` has been read and not yet handed to the connection.
    pos: usize,
    filled: usize,
    /// The message being reassembled from several pieces.
    msg: Vec<u8>,
    assembling: bool,
    out: OutBuf,
}

/// A whole received message. Text has been validated as UTF-8 by the connection.
pub struct Incoming<'a> {
    pub kind: DataKind,
    pub payload: &'a mut [u8],
}

/// The sending half, lent out beside an [`Incoming`].
pub struct Sender<'a> {
    tcp: &'a mut TcpStream,
    conn: &'a mut Connection,
    out: &'a mut OutBuf,
    /// More input is buffered: the echo can wait for the next write.
    more_input: bool,
}

/// Where a complete message is.
enum Place {
    Input(std::ops::Range<usize>),
    Assembled,
}

impl WsStream {
    /// Reads the request head and answers it. `None` if the client was refused (or left).
    pub async fn accept(
        mut tcp: TcpStream,
        mut config: Config,
        protocols: &[String],
    ) -> io::Result<Option<Self>> {
        tcp.set_nodelay(true)?;
        let mut rbuf = vec![0u8; RBUF_LEN].into_boxed_slice();
        let mut out = OutBuf::default();
        // A message in one frame that fits the buffer is received whole, in place (otherwise its
        // pieces would be copied into `msg`).
        config.whole_messages_up_to = RBUF_LEN;
        let mut handshake = ServerHandshake::new(config);
        let mut filled = 0;
        loop {
            // The head is at most 8 KiB (`Config::handshake`, else 431): it fits.
            let n = tcp.read(&mut rbuf[filled..]).await?;
            if n == 0 {
                return Ok(None);
            }
            filled += n;
            let upgrade = common::upgrade(&mut handshake, &rbuf[..filled], protocols, &mut out);
            match upgrade.map_err(io::Error::other)? {
                Upgrade::Partial => {}
                // The 101 goes out with the first write; the bytes after the head are frames.
                Upgrade::Open(conn, head_len) => {
                    return Ok(Some(Self {
                        tcp,
                        conn,
                        rbuf,
                        pos: head_len,
                        filled,
                        msg: Vec::new(),
                        assembling: false,
                        out,
                    }))
                }
                Upgrade::Refused(why) => {
                    eprintln!("{}: {why}", common::peer(&tcp.peer_addr()));
                    close(&mut tcp, &mut out, &mut rbuf).await?;
                    return Ok(None);
                }
            }
        }
    }

    /// The next whole message, or `None` once the connection is over (closed, failed or gone).
    pub async fn next(&mut self) -> io::Result<Option<(Incoming<'_>, Sender<'_>)>> {
        if !self.assembling && self.msg.capacity() > KEEP_CAPACITY {
            self.msg = Vec::new();
        }
        loop {
            while self.pos < self.filled {
                let r = self.conn.receive(&mut self.rbuf[self.pos..self.filled]);
                let end = self.pos + r.consumed;
                let done = match r.result {
                    Ok(Recv::Event(Event::Data {
                        kind,
                        payload,
                        message_done,
                        ..
                    })) => {
                        if !self.assembling && message_done {
                            Some((kind, Place::Input(end - payload.len()..end)))
                        } else {
                            if !self.assembling {
                                self.msg.clear();
                            }
                            self.msg.extend_from_slice(payload);
                            self.assembling = !message_done;
                            message_done.then_some((kind, Place::Assembled))
                        }
                    }
                    // Ping, Pong, Close: the core has queued the Pong or the Close reply.
                    Ok(Recv::Event(_)) => None,
                    // A second Ping while the first one's Pong is queued: take the Pong first.
                    Ok(Recv::NeedFlush) => {
                        self.out
                            .transmit(&mut self.conn)
                            .map_err(io::Error::other)?;
                        None
                    }
                    Ok(Recv::NeedInput | Recv::Closed) => break,
                    Err(e) => {
                        // Its Close (1002, 1007, 1009) is queued.
                        eprintln!("{}: {e}", common::peer(&self.tcp.peer_addr()));
                        break;
                    }
                };
                self.pos = end;
                if let Some((kind, place)) = done {
                    return Ok(Some(self.lend(kind, place)));
                }
            }
            self.out
                .transmit(&mut self.conn)
                .map_err(io::Error::other)?;
            if self.conn.state() == State::Closed {
                close(&mut self.tcp, &mut self.out, &mut self.rbuf).await?;
                return Ok(None);
            }
            self.rbuf.copy_within(self.pos..self.filled, 0);
            self.filled -= self.pos;
            self.pos = 0;
            if !self.write_or_read().await? {
                // The client's FIN, without a closing handshake. It may have only half-closed
                // and still read: what it is owed goes out first, within CLOSE_TIMEOUT.
                let written = write_all(&mut self.tcp, &mut self.out, &[]);
                timeout(CLOSE_TIMEOUT, written).await??;
                return Ok(None);
            }
        }
    }

    /// Borrows the buffers, once: the message from one, the sending half from the others.
    fn lend(&mut self, kind: DataKind, place: Place) -> (Incoming<'_>, Sender<'_>) {
        let payload = match place {
            Place::Input(range) => &mut self.rbuf[range],
            Place::Assembled => &mut self.msg[..],
        };
        let tx = Sender {
            tcp: &mut self.tcp,
            conn: &mut self.conn,
            out: &mut self.out,
            more_input: self.pos < self.filled,
        };
        (Incoming { kind, payload }, tx)
    }

    /// Writes pending output or reads more input, whichever the socket allows first (never reads
    /// while more than `OUT_LIMIT` bytes are pending). `false` at the client's FIN.
    async fn write_or_read(&mut self) -> io::Result<bool> {
        let Self {
            tcp,
            rbuf,
            filled,
            out,
            ..
        } = self;
        poll_fn(|cx| {
            if !out.pending().is_empty() {
                if let Poll::Ready(n) = Pin::new(&mut *tcp).poll_write(cx, out.pending())? {
                    out.consume(n);
                    return Poll::Ready(Ok(n > 0));
                }
                if out.pending().len() > OUT_LIMIT {
                    return Poll::Pending;
                }
            }
            let mut buf = ReadBuf::new(&mut rbuf[*filled..]);
            ready!(Pin::new(&mut *tcp).poll_read(cx, &mut buf))?;
            let n = buf.filled().len();
            *filled += n;
            Poll::Ready(Ok(n > 0))
        })
        .await
    }
}

impl Sender<'_> {
    /// Sends a message in one frame (the connection must be open).
    pub async fn send(&mut self, kind: DataKind, payload: &mut [u8]) -> io::Result<()> {
        let batch = self.more_input && self.out.pending().len() + payload.len() <= OUT_LIMIT;
        if payload.len() <= COPY_LIMIT || batch {
            let conn = &mut *self.conn;
            let encoded = self
                .out
                .encode(|buf| conn.send_frame(kind, payload, true, buf));
            encoded.map_err(io::Error::other)?;
            if self.out.pending().len() > OUT_LIMIT {
                write_all(self.tcp, self.out, &[]).await?;
            }
            return Ok(());
        }
        // Room for a Pong still owed, which goes out in front of the header.
        let mut header = [0u8; MAX_CONTROL_FRAME_LEN + MAX_HEADER_LEN];
        let n = self
            .conn
            .send_header(kind, payload.len() as u64, true, &mut header)
            .map_err(io::Error::other)?;
        // A server does not mask: this only tells the connection the payload has gone by.
        self.conn.send_payload(payload).map_err(io::Error::other)?;
        write_all(self.tcp, self.out, &[&header[..n], payload]).await
    }
}

/// Writes the pending output, then `more`, with as few vectored writes as the socket allows.
async fn write_all(tcp: &mut TcpStream, out: &mut OutBuf, more: &[&[u8]]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(1 + more.len());
    slices.push(IoSlice::new(out.pending()));
    slices.extend(more.iter().map(|s| IoSlice::new(s)));
    let mut slices = &mut slices[..];
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match tcp.write_vectored(slices).await? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => IoSlice::advance_slices(&mut slices, n),
        }
    }
    let written = out.pending().len();
    out.consume(written);
    Ok(())
}

/// The server's end of the connection, within `CLOSE_TIMEOUT`: write what is pending, send the
/// FIN, and read (dropping it) until the client's FIN.
async fn close(tcp: &mut TcpStream, out: &mut OutBuf, buf: &mut [u8]) -> io::Result<()> {
    timeout(CLOSE_TIMEOUT, async {
        write_all(tcp, out, &[]).await?;
        tcp.shutdown().await?;
        while tcp.read(buf).await? > 0 {}
        Ok(())
    })
    .await?
}
