//! The echo server over any [`Transport`], with fixed buffers and no heap.
//!
//! This file is the whole driver. The root package's `examples/fixed_echo_server.rs` includes it
//! as a module, so the loop that runs on a microcontroller is the loop that serves TCP on a host;
//! it therefore names only `sockless` and `core`, never this crate.

use core::fmt;

use sockless::frame::{MAX_CONTROL_FRAME_LEN, MAX_HEADER_LEN};
use sockless::handshake::{Accept, ServerHandshake, EMPTY_HEADER};
use sockless::{
    CloseCode, Config, Connection, DataKind, Event, HandshakeError, ProtocolError, RandomSource,
    Recv, SendError, State, Status,
};

/// The receive buffer's length. It holds the upgrade request (so the head may take at most this
/// many bytes: longer ones are answered with 431), then frame bytes. Anything from 139 bytes up
/// works for frames, since sockless takes a frame header (at most 14 bytes) and a control frame
/// (at most 139) only whole and streams data payload in pieces of any size.
pub const RX_LEN: usize = 512;

/// The write buffer's length: enough for the `101` response (129 bytes without a subprotocol),
/// any handshake error response (at most 160) and any control frame a server writes (at most 127,
/// Pong and Close written one after the other if both do not fit), and any frame header with the
/// Pong still owed in front of it (at most 131 + 14). Echoed payload is never copied here: it goes
/// out from the receive buffer, behind the header written here.
pub const TX_LEN: usize = 160;

/// The most header lines an upgrade request may have (a header array this long lives on the stack
/// during the handshake only).
pub const MAX_HEADERS: usize = 16;

// A control frame must fit whole, or the receive loop could never take it.
const _: () = assert!(RX_LEN >= MAX_HEADER_LEN + 125);
const _: () = assert!(TX_LEN >= MAX_CONTROL_FRAME_LEN + MAX_HEADER_LEN);

/// A byte stream: a UART, a socket of an embedded TCP stack, a TCP stream on a host, a pipe in a
/// test. Both calls block until they are done.
pub trait Transport {
    /// What a failed read or write reports.
    type Error;

    /// Reads at least one byte into `buf` (never empty) and returns how many; 0 means the peer
    /// closed the stream.
    ///
    /// # Errors
    /// The transport's own; the echo stops and returns it.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error>;

    /// Writes all of `buf`.
    ///
    /// # Errors
    /// The transport's own; the echo stops and returns it.
    fn write_all(&mut self, buf: &[u8]) -> Result<(), Self::Error>;

    /// Whether a read `error` means only that nothing arrived for the transport's idle time (a
    /// read timeout). The echo then starts the closing handshake itself, with 1001 (going away),
    /// and goes on reading for the peer's Close; a second timeout ends it with the error.
    /// By default no error is a timeout.
    fn is_timeout(error: &Self::Error) -> bool {
        let _ = error;
        false
    }
}

/// Why an echo session ended other than by a closing handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error<E> {
    /// The transport failed.
    Transport(E),
    /// The peer closed the transport before the closing handshake was over.
    Eof,
    /// The upgrade request was refused; the HTTP error response was written (unless it was the
    /// write that failed to be produced, which [`TX_LEN`] rules out).
    Handshake(HandshakeError),
    /// The peer broke RFC 6455; the Close with the error's code was written.
    Protocol(ProtocolError),
    /// Encoding failed. With these buffers and a server connection this cannot happen: sockless
    /// reports it instead of panicking, and so does this driver.
    Send(SendError),
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "transport: {e}"),
            Self::Eof => f.write_str("the peer closed the transport before the closing handshake"),
            Self::Handshake(e) => write!(f, "upgrade refused: {e}"),
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::Send(e) => write!(f, "encoding failed: {e}"),
        }
    }
}

impl<E> From<SendError> for Error<E> {
    fn from(e: SendError) -> Self {
        Self::Send(e)
    }
}

/// The memory an echo session works in, apart from the [`Connection`] and a 14-byte header array
/// on the stack. Put it where the RAM should be: a `static`, the stack, a struct of your own.
#[derive(Clone, Debug)]
pub struct Buffers {
    rx: [u8; RX_LEN],
    tx: [u8; TX_LEN],
}

impl Buffers {
    /// Zeroed buffers.
    pub const fn new() -> Self {
        Self {
            rx: [0; RX_LEN],
            tx: [0; TX_LEN],
        }
    }
}

impl Default for Buffers {
    fn default() -> Self {
        Self::new()
    }
}

/// The configuration every session uses: sockless's defaults, with the head limited to what the
/// receive buffer holds. Message and frame lengths keep their defaults (16 MiB frames, 64 MiB
/// messages): nothing is buffered, so they are policy, not memory.
pub const fn config() -> Config {
    let mut config = Config::DEFAULT;
    config.handshake.max_head_len = RX_LEN;
    config.handshake.max_headers = MAX_HEADERS;
    config
}

/// Serves one connection: reads the upgrade request, answers it, then echoes every message back
/// until the closing handshake is over (begun by the peer, or by this loop on a read timeout). Returns `Ok` then; the caller closes the transport (a
/// server closes it first, RFC 6455 7.1.1).
///
/// # Errors
/// [`Error`]: the transport failed or closed early, the request was refused, or the peer broke the
/// protocol. Each is answered on the wire (HTTP error response, Close frame) before returning,
/// where the transport still allows it.
pub fn serve<T: Transport>(
    transport: &mut T,
    buffers: &mut Buffers,
) -> Result<(), Error<T::Error>> {
    let (mut conn, filled) = accept(transport, buffers)?;
    echo(transport, &mut conn, buffers, filled)
}

/// Reads the request into the receive buffer until it is complete and answers it. Returns the
/// connection and how many frame bytes already follow the head, moved to the buffer's front.
fn accept<T: Transport>(
    transport: &mut T,
    buffers: &mut Buffers,
) -> Result<(Connection, usize), Error<T::Error>> {
    let mut handshake = ServerHandshake::new(config());
    let mut filled = 0;
    loop {
        let refusal = match buffers.rx.get_mut(filled..) {
            Some(free) if !free.is_empty() => {
                filled += read(transport, free)?;
                let mut headers = [EMPTY_HEADER; MAX_HEADERS];
                let input = buffers.rx.get(..filled).unwrap_or_default();
                match handshake.parse(input, &mut headers) {
                    Ok(Status::Partial) => continue,
                    Ok(Status::Complete(request)) => {
                        let (n, conn) = request
                            .accept(&Accept::new(), &mut buffers.tx)
                            .map_err(Error::Handshake)?;
                        let head_len = request.len();
                        write(transport, buffers.tx.get(..n).unwrap_or_default())?;
                        buffers.rx.copy_within(head_len..filled, 0);
                        return Ok((conn, filled - head_len));
                    }
                    Err(e) => e,
                }
            }
            // The buffer is full and the head has not ended.
            _ => HandshakeError::HeadTooLarge,
        };
        let n = handshake
            .write_error(refusal, &mut buffers.tx)
            .map_err(|e| Error::Send(e.into()))?;
        write(transport, buffers.tx.get(..n).unwrap_or_default())?;
        return Err(Error::Handshake(refusal));
    }
}

/// The frame loop: `buffers.rx[..filled]` holds bytes already read. Echoes each data piece as it
/// arrives, as its own frame (the message keeps its kind and its end; only its fragmentation may
/// differ), lets sockless queue the Pongs and the Close reply, and writes them. Returns once the
/// connection is [`State::Closed`], after the peer's Close or, if the transport reports a read
/// timeout ([`Transport::is_timeout`]), after the Close this loop sends then. Works for either
/// role: a client's echo is masked in place.
///
/// # Errors
/// As [`serve`], less the handshake.
pub fn echo<T: Transport, R: RandomSource>(
    transport: &mut T,
    conn: &mut Connection<R>,
    buffers: &mut Buffers,
    mut filled: usize,
) -> Result<(), Error<T::Error>> {
    loop {
        let mut pos = 0;
        let mut failure = None;
        while let Some(input) = buffers.rx.get_mut(pos..filled).filter(|i| !i.is_empty()) {
            let r = conn.receive(input);
            // Every outcome may have consumed bytes (a `NeedInput` after a frame header, too).
            pos += r.consumed;
            match r.result {
                Ok(Recv::Event(Event::Data {
                    kind,
                    payload,
                    message_done,
                    ..
                })) => {
                    // The piece is unmasked in place in `buffers.rx`: echo it from there.
                    echo_piece(
                        transport,
                        conn,
                        kind,
                        payload,
                        message_done,
                        &mut buffers.tx,
                    )?;
                }
                // A Ping (its Pong is queued), a Pong, or the peer's Close (the reply is queued).
                Ok(Recv::Event(_)) => {}
                Ok(Recv::NeedFlush) => flush(transport, conn, &mut buffers.tx)?,
                Ok(Recv::NeedInput | Recv::Closed) => break,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        buffers.rx.copy_within(pos..filled, 0);
        filled -= pos;
        flush(transport, conn, &mut buffers.tx)?;
        if let Some(e) = failure {
            return Err(Error::Protocol(e));
        }
        if conn.state() == State::Closed {
            return Ok(());
        }
        // While receiving, fewer than 139 bytes stay unconsumed (a partial header or control
        // frame), so the buffer always has room.
        let free = buffers.rx.get_mut(filled..).unwrap_or_default();
        match read(transport, free) {
            Ok(n) => filled += n,
            Err(Error::Transport(e)) if T::is_timeout(&e) && conn.state() == State::Open => {
                let n = conn.close(CloseCode::GOING_AWAY, "idle", &mut buffers.tx)?;
                write(transport, buffers.tx.get(..n).unwrap_or_default())?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sends `piece` back as one frame: the header written into `tx` (behind a Pong still owed, which
/// `send_header` puts first), the payload from where it lies.
fn echo_piece<T: Transport, R: RandomSource>(
    transport: &mut T,
    conn: &mut Connection<R>,
    kind: DataKind,
    piece: &mut [u8],
    message_done: bool,
    tx: &mut [u8],
) -> Result<(), Error<T::Error>> {
    let n = conn.send_header(kind, piece.len() as u64, message_done, tx)?;
    conn.send_payload(piece)?;
    write(transport, tx.get(..n).unwrap_or_default())?;
    write(transport, piece)
}

/// Writes everything the connection owes the peer: Pongs, the Close reply, an error's Close.
fn flush<T: Transport, R: RandomSource>(
    transport: &mut T,
    conn: &mut Connection<R>,
    tx: &mut [u8],
) -> Result<(), Error<T::Error>> {
    loop {
        let n = conn.poll_transmit(tx)?;
        if n == 0 {
            return Ok(());
        }
        write(transport, tx.get(..n).unwrap_or_default())?;
    }
}

fn read<T: Transport>(transport: &mut T, buf: &mut [u8]) -> Result<usize, Error<T::Error>> {
    match transport.read(buf).map_err(Error::Transport)? {
        0 => Err(Error::Eof),
        // A transport that claims more than it was given is clamped, not trusted.
        n => Ok(n.min(buf.len())),
    }
}

fn write<T: Transport>(transport: &mut T, bytes: &[u8]) -> Result<(), Error<T::Error>> {
    transport.write_all(bytes).map_err(Error::Transport)
}
