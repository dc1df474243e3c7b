//! The echo loop of `wss_server` and `wss_client`: an established [`Connection`] of either role
//! over any blocking `Read + Write` stream (here a rustls stream over TCP). Every text or binary
//! message is sent back unchanged once it is whole; Pings, Pongs and the Close reply are the
//! connection's own business and go out with [`Connection::poll_transmit`].
//!
//! It is `echo_server`'s frame loop without the deadlines: the caller sets the socket's read and
//! write timeouts, and a timed-out read or write ends the loop with an error.

use std::error::Error;
use std::io::{self, Read, Write};

use sockless::frame::{MAX_CONTROL_FRAME_LEN, MAX_HEADER_LEN};
use sockless::{CloseFrame, Connection, DataKind, Event, RandomSource, Recv, State};

pub type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The receive buffer: any size of at least 139 bytes works (a frame header and a whole control
/// frame are only taken whole); a bigger one means fewer reads.
pub const RBUF_LEN: usize = 64 * 1024;
/// The write buffer, where frames are encoded and batched until the next flush.
pub const WBUF_LEN: usize = 64 * 1024;
/// Messages up to this size are copied (and, by a client, masked) into the write buffer behind
/// their header; larger ones are written straight from the reassembly buffer.
const COPY_LIMIT: usize = 16 * 1024;
/// What must be free in the write buffer before a frame is encoded into it: a copied message
/// with its header, and a control frame owed in front of it. With that much room no encoder
/// meets a buffer too small.
const RESERVE: usize = COPY_LIMIT + MAX_HEADER_LEN + 2 * MAX_CONTROL_FRAME_LEN;
/// The reassembly buffer keeps at most this much capacity between messages.
const KEEP_CAPACITY: usize = 1 << 20;

/// A stream and the frames encoded for it, not yet written.
pub struct Wire<S> {
    pub stream: S,
    buf: Vec<u8>,
    /// `buf[..pending]` is encoded and not yet written.
    pending: usize,
}

impl<S: Read + Write> Wire<S> {
    pub fn new(stream: S, buf: Vec<u8>) -> Self {
        assert!(buf.len() >= RESERVE, "the write buffer is too small");
        Self {
            stream,
            buf,
            pending: 0,
        }
    }

    /// The free part of the buffer, with at least [`RESERVE`] bytes: pending bytes are written
    /// out first if there is less.
    pub fn spare(&mut self) -> io::Result<&mut [u8]> {
        if self.buf.len() - self.pending < RESERVE {
            self.flush()?;
        }
        Ok(&mut self.buf[self.pending..])
    }

    /// Marks `n` more bytes of the buffer, written into [`Self::spare`], as pending.
    pub fn commit(&mut self, n: usize) {
        self.pending += n;
    }

    /// Encodes with `encode` into the free part of the buffer; returns the length.
    pub fn encode<E: Error + 'static>(
        &mut self,
        encode: impl FnOnce(&mut [u8]) -> std::result::Result<usize, E>,
    ) -> Result<usize> {
        let n = encode(self.spare()?)?;
        self.commit(n);
        Ok(n)
    }

    /// Writes out everything pending, and flushes the stream (a TLS stream encrypts and sends
    /// its buffered records then).
    pub fn flush(&mut self) -> io::Result<()> {
        if self.pending > 0 {
            self.stream.write_all(&self.buf[..self.pending])?;
            self.pending = 0;
        }
        self.stream.flush()
    }

    /// Moves everything `conn` owes the peer (a Pong, the Close reply) into the buffer; returns
    /// the number of bytes.
    fn owed<R: RandomSource>(&mut self, conn: &mut Connection<R>) -> Result<usize> {
        let mut total = 0;
        loop {
            match self.encode(|buf| conn.poll_transmit(buf))? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    /// Sends `payload` back as one frame of `kind`. A client masks it: in the write buffer for a
    /// small message, in place for a large one, which then goes out without a copy.
    fn echo<R: RandomSource>(
        &mut self,
        conn: &mut Connection<R>,
        kind: DataKind,
        payload: &mut [u8],
    ) -> Result<()> {
        let len = payload.len();
        if len <= COPY_LIMIT {
            let spare = self.spare()?;
            let n = conn.send_header(kind, len as u64, true, spare)?;
            let body = &mut spare[n..n + len];
            body.copy_from_slice(payload);
            conn.send_payload(body)?;
            self.pending += n + len;
        } else {
            // Room for a Pong still owed, which goes out in front of the header.
            let mut header = [0u8; MAX_CONTROL_FRAME_LEN + MAX_HEADER_LEN];
            let n = conn.send_header(kind, len as u64, true, &mut header)?;
            conn.send_payload(payload)?;
            self.flush()?;
            self.stream.write_all(&header[..n])?;
            self.stream.write_all(payload)?;
        }
        Ok(())
    }
}

/// Runs the frame loop until the closing handshake is over (both Close frames exchanged) and
/// returns the peer's Close, described for the log. `rbuf[..filled]` holds bytes already read
/// (those after the handshake head). Any other end is an error: a protocol error (its Close is
/// sent first), the stream closed without a closing handshake, a read or write that failed or
/// timed out.
pub fn echo<R: RandomSource, S: Read + Write>(
    conn: &mut Connection<R>,
    wire: &mut Wire<S>,
    rbuf: &mut [u8],
    mut filled: usize,
) -> Result<String> {
    let mut msg = Vec::new();
    let mut peer_close = String::new();
    loop {
        // Hand everything read so far to the connection, advancing by `consumed` each time.
        let mut pos = 0;
        let mut failure = None;
        while pos < filled {
            let r = conn.receive(&mut rbuf[pos..filled]);
            pos += r.consumed;
            match r.result {
                Ok(Recv::Event(Event::Data {
                    kind,
                    payload,
                    message_done,
                    ..
                })) => {
                    msg.extend_from_slice(payload);
                    if message_done {
                        wire.echo(conn, kind, &mut msg)?;
                        msg.clear();
                        msg.shrink_to(KEEP_CAPACITY);
                    }
                }
                // The reply is already queued (Config::auto_close), echoing the code.
                Ok(Recv::Event(Event::Close(frame))) => peer_close = describe(frame),
                // The Pong is already queued (Config::auto_pong).
                Ok(Recv::Event(_)) => {}
                // A second Ping while the first one's Pong is still queued: move the Pong to the
                // write buffer, then hand in the same bytes again.
                Ok(Recv::NeedFlush) => {
                    if wire.owed(conn)? == 0 {
                        return Err("receive asked for a flush with nothing to flush".into());
                    }
                }
                Ok(Recv::NeedInput | Recv::Closed) => break,
                // The peer broke the protocol: the Close with the matching code is queued.
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        // Keep the unconsumed tail (a partial header or control frame) for the next read.
        rbuf.copy_within(pos..filled, 0);
        filled -= pos;

        wire.owed(conn)?;
        wire.flush()?;
        if let Some(e) = failure {
            return Err(format!("protocol error: {e}; sent close {}", e.close_code().0).into());
        }
        if conn.state() == State::Closed {
            return Ok(peer_close);
        }
        if filled == rbuf.len() {
            // Cannot happen with a buffer of 139 bytes or more; never spin on it anyway.
            return Err("receive buffer full".into());
        }
        match read(&mut wire.stream, &mut rbuf[filled..]) {
            Ok(0) => return Err("the peer closed the stream without a closing handshake".into()),
            Ok(n) => filled += n,
            Err(e) => return Err(format!("connection lost: {e}").into()),
        }
    }
}

/// A peer's Close, for the log.
fn describe(frame: Option<CloseFrame<'_>>) -> String {
    match frame {
        Some(f) if f.reason.is_empty() => format!("close {}", f.code.0),
        Some(f) => format!("close {} {:?}", f.code.0, f.reason),
        None => "close without a code".to_owned(),
    }
}

/// One `read`, retried when a signal interrupts it.
pub fn read(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
