//! An echo server on `mio`: readiness-based, one thread, **one receive buffer for all
//! connections**, so an idle connection costs its sockless state and a few words, and nothing
//! else in user space.
//!
//! ```text
//! cargo run --release --example mio_echo -- [ADDR] [--max-message BYTES] [--protocol NAME]...
//! ```
//!
//! The command line is `echo_server`'s: `ADDR` defaults to `127.0.0.1:9001` and the server prints
//! `listening on IP:PORT` once bound; `--max-message` (default 16 MiB) bounds messages and frames
//! (past it: close 1009); `--protocol` (repeatable) lists the subprotocols supported, and the
//! first one the client offers is chosen. Bad upgrade requests get their 4xx, a plain `GET` a
//! small page. Sockets are `TCP_NODELAY`.
//!
//! # One buffer per thread
//!
//! A readable socket is read into the thread's receive buffer, behind the bytes its connection
//! carried over from its last read. Every event in it is handled at once, and only the
//! unconsumed tail is kept, in the connection's `carry`: less than 139 bytes once upgraded (a
//! frame header and a control frame are only taken whole, data payload in any piece), or the
//! part of the request head read so far. Messages are **streamed**: each payload piece is echoed
//! as it comes, as a frame of the same message (a message split across reads goes back in more
//! frames than it came in), so no message is ever buffered.
//!
//! The echoes of one read go out with one vectored write: small frames are encoded into the
//! thread's output buffer, large payloads are written straight from the receive buffer, in
//! order. Whatever the socket does not take goes to the connection's `backlog`; past
//! [`BACKLOG_LIMIT`] bytes the connection is not read until the backlog drains, so a client that
//! does not read stops being read. The core holds at most one Pong and one Close per connection
//! (a second Ping waits in the input until the first Pong is taken, `Recv::NeedFlush`).
//!
//! # What an idle connection costs
//!
//! One `Option<Client>` slot of 272 bytes on x86-64: the socket (a file descriptor), the
//! `Connection` (192 bytes; during the handshake the `ServerHandshake`, 64 bytes, takes its place),
//! and three empty `Vec`s (`carry`, `backlog`, the text being reassembled), which hold no heap
//! memory while empty (they are freed when they empty), plus the slot vector's spare capacity.
//! Nothing else is allocated per connection; the kernel's socket buffers and epoll entry are
//! kernel memory. Measured (`benches/E2E.md`): 10,000 idle upgraded connections add 307 bytes
//! each to the server's RSS (the slots, their vector's doubling, and the 24-byte handshake
//! deadlines still queued).
//!
//! # Closing, and timeouts
//!
//! Pongs and the Close reply are the core's (`auto_pong`, `auto_close`). Once the connection is
//! `Closed`, or the handshake was answered with a 4xx or the page, the server writes what is
//! left, sends its FIN, and drops what the client still sends until the client's FIN; at
//! [`CLOSE_TIMEOUT`] it closes the socket regardless. A client's FIN that comes while output for
//! it still waits (a client may half-close and read on) ends the connection once that output is
//! written, again within [`CLOSE_TIMEOUT`]. The request head must arrive within
//! [`HANDSHAKE_TIMEOUT`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::ops::Range;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use sockless::frame::{MAX_CONTROL_FRAME_LEN, MAX_HEADER_LEN};
use sockless::handshake::ServerHandshake;
use sockless::{Config, Connection, DataKind, Event, Recv, State};

mod common;
use common::{OutBuf, Upgrade};

/// The thread's receive buffer, shared by every connection.
const RBUF_LEN: usize = 256 * 1024;
/// Payload pieces up to this size are copied into the output buffer; larger ones are written
/// from the receive buffer.
const COPY_LIMIT: usize = 4 * 1024;
/// A connection with more than this many bytes waiting to be written is not read.
const BACKLOG_LIMIT: usize = 256 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
const LISTENER: Token = Token(usize::MAX);
/// The most slices handed to one `writev`.
const MAX_SLICES: usize = 512;

fn main() -> ExitCode {
    let opts = common::options("mio_echo");
    if let Err(e) = Server::bind(opts).and_then(|mut server| server.run()) {
        eprintln!("mio_echo: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// One connection.
struct Client {
    tcp: TcpStream,
    phase: Phase,
    /// The input not consumed yet, handed in again in front of the next read.
    carry: Vec<u8>,
    /// Output the socket has not taken yet.
    backlog: Vec<u8>,
    /// The text message being reassembled, if one came in more than one piece.
    text: Option<Vec<u8>>,
}

enum Phase {
    /// Reading the request head, which must be complete by the deadline.
    Handshake(ServerHandshake, Instant),
    Open(Connection),
    /// Our last word is queued: the connection ends at the client's FIN, or at the deadline.
    Closing(Instant),
    /// The client's FIN came while output for it was still waiting: nothing more is read, and the
    /// connection ends once the backlog is written, or at the deadline.
    HalfClosed(Instant),
}

impl Phase {
    fn deadline(&self) -> Option<Instant> {
        match self {
            Phase::Handshake(_, at) | Phase::Closing(at) | Phase::HalfClosed(at) => Some(*at),
            Phase::Open(_) => None,
        }
    }
}

/// What one read produced, to be written with one vectored write: the output buffer, with
/// ranges of the input spliced in (each at the output offset it was recorded at).
#[derive(Default)]
struct Batch {
    out: OutBuf,
    splices: Vec<(usize, Range<usize>)>,
}

impl Batch {
    fn clear(&mut self) {
        self.out.consume(self.out.pending().len());
        self.splices.clear();
    }
}

struct Server {
    poll: Poll,
    listener: TcpListener,
    /// Indexed by token; `free` lists the empty slots.
    clients: Vec<Option<Client>>,
    free: Vec<usize>,
    /// Handshake and close deadlines (stale entries are skipped when they come due).
    deadlines: BinaryHeap<Reverse<(Instant, usize)>>,
    rbuf: Box<[u8]>,
    batch: Batch,
    config: Config,
    protocols: Vec<String>,
}

impl Server {
    fn bind(opts: common::Options) -> io::Result<Self> {
        let addr = opts.addr.parse().map_err(io::Error::other)?;
        let mut listener = TcpListener::bind(addr)?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        common::announce(listener.local_addr()?)?;
        Ok(Self {
            poll,
            listener,
            clients: Vec::new(),
            free: Vec::new(),
            deadlines: BinaryHeap::new(),
            rbuf: vec![0; RBUF_LEN].into_boxed_slice(),
            batch: Batch::default(),
            config: opts.config,
            protocols: opts.protocols,
        })
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            let wait = self.deadlines.peek().map(|d| d.0 .0 - now.min(d.0 .0));
            match self.poll.poll(&mut events, wait) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => result?,
            }
            for event in &events {
                match event.token() {
                    LISTENER => self.accept_all(),
                    Token(i) => {
                        if event.is_writable() {
                            self.on_writable(i);
                        }
                        let hung_up = event.is_read_closed() || event.is_error();
                        if event.is_readable() || hung_up {
                            self.on_readable(i, hung_up);
                        }
                    }
                }
            }
            let now = Instant::now();
            while let Some(&Reverse((at, i))) = self.deadlines.peek() {
                if at > now {
                    break;
                }
                self.deadlines.pop();
                let due = self.clients[i].as_ref().and_then(|c| c.phase.deadline());
                if due == Some(at) {
                    self.drop_client(i);
                }
            }
        }
    }

    fn accept_all(&mut self) {
        loop {
            let mut tcp = match self.listener.accept() {
                Ok((tcp, _)) => tcp,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of file descriptors, say: the rest wait in the listen backlog until
                    // the next connection wakes us.
                    eprintln!("mio_echo: accept failed: {e}");
                    return;
                }
            };
            let i = self.free.pop().unwrap_or(self.clients.len());
            let registered = tcp.set_nodelay(true).and_then(|()| {
                let interest = Interest::READABLE | Interest::WRITABLE;
                self.poll.registry().register(&mut tcp, Token(i), interest)
            });
            if let Err(e) = registered {
                eprintln!("mio_echo: {e}");
                self.free.push(i);
                continue;
            }
            let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
            let client = Client {
                tcp,
                phase: Phase::Handshake(ServerHandshake::new(self.config), deadline),
                carry: Vec::new(),
                backlog: Vec::new(),
                text: None,
            };
            if i == self.clients.len() {
                self.clients.push(Some(client));
            } else {
                self.clients[i] = Some(client);
            }
            self.deadlines.push(Reverse((deadline, i)));
        }
    }

    fn drop_client(&mut self, i: usize) {
        if self.clients[i].take().is_some() {
            self.free.push(i);
        }
    }

    /// Reads until the socket is drained, handling each read at once. A short read says so
    /// (epoll and kqueue report new data, and a FIN or reset that comes later, again) unless
    /// `hung_up`: the event already reported the peer's FIN, a reset or an error, which it will
    /// not report again, so it reads on to the end, the error or `WouldBlock`. (Stopping at the
    /// short read that took the last data left such a connection open and unread for ever.)
    fn on_readable(&mut self, i: usize, hung_up: bool) {
        let Some(client) = self.clients[i].as_mut() else {
            return;
        };
        if let Phase::HalfClosed(_) = client.phase {
            return; // nothing more comes
        }
        loop {
            if client.backlog.len() > BACKLOG_LIMIT {
                return; // read again once the backlog drains
            }
            let carried = client.carry.len();
            self.rbuf[..carried].copy_from_slice(&client.carry);
            let n = match client.tcp.read(&mut self.rbuf[carried..]) {
                // The client's FIN: what it is still owed goes out first.
                Ok(0) if !client.backlog.is_empty() => {
                    client.half_closed(i, &mut self.deadlines);
                    return;
                }
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let input = &mut self.rbuf[..carried + n];
            let handled = client.on_input(input, &mut self.batch, &self.protocols);
            let Ok((consumed, finished)) = handled.and_then(|handled| {
                client.write(&mut self.batch, input)?;
                Ok(handled)
            }) else {
                // What this read produced belongs to this connection, which is being dropped:
                // leave none of it for the next connection's write.
                self.batch.clear();
                break;
            };
            client.carry.clear();
            if consumed < input.len() {
                client.carry.extend_from_slice(&input[consumed..]);
            } else if client.carry.capacity() > 0 {
                client.carry = Vec::new();
            }
            if finished && client.close(i, &mut self.deadlines).is_err() {
                break;
            }
            if carried + n < self.rbuf.len() && !hung_up {
                return;
            }
        }
        self.drop_client(i);
    }

    /// Writes the backlog; resumes reading if that took it under the limit.
    fn on_writable(&mut self, i: usize) {
        let Some(client) = self.clients[i].as_mut() else {
            return;
        };
        if client.backlog.is_empty() {
            return;
        }
        let paused = client.backlog.len() > BACKLOG_LIMIT;
        let mut written = 0;
        let result = loop {
            if written == client.backlog.len() {
                break Ok(());
            }
            match client.tcp.write(&client.backlog[written..]) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        client.backlog.drain(..written);
        let mut result = result;
        if result.is_ok() && client.backlog.is_empty() {
            client.backlog = Vec::new();
            if let Phase::Closing(_) = client.phase {
                result = client.tcp.shutdown(Shutdown::Write);
            }
        }
        let done = matches!(client.phase, Phase::HalfClosed(_)) && client.backlog.is_empty();
        if result.is_err() || done {
            self.drop_client(i);
        } else if paused && client.backlog.len() <= BACKLOG_LIMIT {
            // The events that came while it was paused, a hang-up among them, were not acted on.
            self.on_readable(i, true);
        }
    }
}

impl Client {
    /// Handles one read's input; returns how much of it was consumed, and whether the server's
    /// last word is now queued (the connection is `Closed`, or the request was refused). The
    /// answers are in `batch`.
    fn on_input(
        &mut self,
        input: &mut [u8],
        batch: &mut Batch,
        protocols: &[String],
    ) -> io::Result<(usize, bool)> {
        let mut pos = 0;
        if let Phase::Handshake(handshake, _) = &mut self.phase {
            match common::upgrade(handshake, input, protocols, &mut batch.out) {
                Ok(Upgrade::Partial) => return Ok((0, false)),
                Ok(Upgrade::Open(conn, head_len)) => {
                    self.phase = Phase::Open(conn);
                    pos = head_len;
                }
                Ok(Upgrade::Refused(why)) => {
                    eprintln!("{}: {why}", common::peer(&self.tcp.peer_addr()));
                    return Ok((input.len(), true));
                }
                Err(e) => return Err(io::Error::other(e)),
            }
        }
        match &mut self.phase {
            Phase::Open(conn) => {
                let consumed = echo(conn, &mut self.text, input, pos, batch)?;
                Ok((consumed, conn.state() == State::Closed))
            }
            // Reading only to find the client's FIN.
            _ => Ok((input.len(), false)),
        }
    }

    /// Writes the batch (whose splices are ranges of `input`) behind the backlog; what the
    /// socket does not take now joins the backlog.
    fn write(&mut self, batch: &mut Batch, input: &[u8]) -> io::Result<()> {
        let out = batch.out.pending();
        if batch.splices.is_empty() {
            // One contiguous buffer (small echoes): a plain write, no slice list.
            let mut rest = out;
            while self.backlog.is_empty() && !rest.is_empty() {
                match self.tcp.write(rest) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => rest = &rest[n..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.backlog.extend_from_slice(rest);
            let written = out.len();
            batch.out.consume(written);
            return Ok(());
        }
        let mut slices = Vec::with_capacity(2 * batch.splices.len() + 1);
        let mut at = 0;
        for (offset, range) in batch.splices.drain(..) {
            slices.push(IoSlice::new(&out[at..offset]));
            slices.push(IoSlice::new(&input[range]));
            at = offset;
        }
        slices.push(IoSlice::new(&out[at..]));
        let mut slices = &mut slices[..];
        IoSlice::advance_slices(&mut slices, 0);
        while self.backlog.is_empty() && !slices.is_empty() {
            let end = slices.len().min(MAX_SLICES);
            match self.tcp.write_vectored(&slices[..end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut slices, n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        for slice in slices.iter() {
            self.backlog.extend_from_slice(slice);
        }
        let written = out.len();
        batch.out.consume(written);
        Ok(())
    }

    /// The client's FIN came while the backlog still holds output: read no more, and keep the
    /// connection until the backlog is written, within the close deadline (the one running
    /// already, if the connection was closing).
    fn half_closed(&mut self, i: usize, deadlines: &mut BinaryHeap<Reverse<(Instant, usize)>>) {
        let deadline = match self.phase {
            Phase::Closing(deadline) => deadline,
            _ => {
                let deadline = Instant::now() + CLOSE_TIMEOUT;
                deadlines.push(Reverse((deadline, i)));
                deadline
            }
        };
        self.phase = Phase::HalfClosed(deadline);
    }

    /// The server's end: once the backlog is written, send the FIN; the deadline runs from now.
    fn close(
        &mut self,
        i: usize,
        deadlines: &mut BinaryHeap<Reverse<(Instant, usize)>>,
    ) -> io::Result<()> {
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        self.phase = Phase::Closing(deadline);
        deadlines.push(Reverse((deadline, i)));
        if self.backlog.is_empty() {
            self.tcp.shutdown(Shutdown::Write)?;
        }
        Ok(())
    }
}

/// Hands `input[pos..]` to the connection and puts the echo of every data piece, and whatever
/// the connection owes the peer, into `batch`. Returns how much of `input` was consumed.
fn echo(
    conn: &mut Connection,
    text: &mut Option<Vec<u8>>,
    input: &mut [u8],
    mut pos: usize,
    batch: &mut Batch,
) -> io::Result<usize> {
    while pos < input.len() {
        let r = conn.receive(&mut input[pos..]);
        pos += r.consumed;
        match r.result {
            Ok(Recv::Event(Event::Data {
                kind,
                payload,
                message_done,
                ..
            })) => {
                if kind == DataKind::Text && (text.is_some() || !message_done) {
                    // Text goes back only whole: a message that turns out not to be UTF-8 after
                    // all must not have been echoed in part.
                    let buf = text.get_or_insert_with(Vec::new);
                    buf.extend_from_slice(payload);
                    if message_done {
                        let frame = |out: &mut [u8]| conn.send_frame(kind, buf, true, out);
                        batch.out.encode(frame).map_err(io::Error::other)?;
                        *text = None;
                    }
                    continue;
                }
                if payload.len() <= COPY_LIMIT {
                    if !payload.is_empty() || message_done {
                        let frame =
                            |buf: &mut [u8]| conn.send_frame(kind, payload, message_done, buf);
                        batch.out.encode(frame).map_err(io::Error::other)?;
                    }
                    continue;
                }
                let mut header = [0u8; MAX_CONTROL_FRAME_LEN + MAX_HEADER_LEN];
                let len = payload.len();
                let n = conn
                    .send_header(kind, len as u64, message_done, &mut header)
                    .map_err(io::Error::other)?;
                // A server does not mask: this only tells the connection the payload has gone by.
                conn.send_payload(&mut input[pos - len..pos])
                    .map_err(io::Error::other)?;
                batch
                    .out
                    .encode(|buf: &mut [u8]| {
                        let dest = buf
                            .get_mut(..n)
                            .ok_or(sockless::BufferTooSmall { needed: n })?;
                        dest.copy_from_slice(&header[..n]);
                        Ok::<_, sockless::BufferTooSmall>(n)
                    })
                    .map_err(io::Error::other)?;
                batch
                    .splices
                    .push((batch.out.pending().len(), pos - len..pos));
            }
            // Ping, Pong, Close: the core has queued the Pong or the Close reply.
            Ok(Recv::Event(_)) => {}
            // A second Ping while the first one's Pong is queued: take the Pong first.
            Ok(Recv::NeedFlush) => batch.out.transmit(conn).map_err(io::Error::other)?,
            Ok(Recv::NeedInput | Recv::Closed) => break,
            // Its Close (1002, 1007, 1009) is queued.
            Err(e) => {
                eprintln!("mio_echo: a client broke the protocol: {e}");
                break;
            }
        }
    }
    batch.out.transmit(conn).map_err(io::Error::other)?;
    Ok(pos)
}
