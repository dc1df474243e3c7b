//! The embedded echo on the host: an in-memory [`Transport`] whose far end is a real sockless
//! client `Connection`. The server side gets exactly what the firmware gets (512 bytes to receive
//! into, 160 to write into, sockless without default features); the client sends messages up to
//! 1 MiB, fragmented or not, with Pings between them, then closes, and checks every echo, every
//! Pong and the Close reply. Each scenario runs with the client's bytes delivered whole (as much as
//! fits), byte by byte, and in random chunks.

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::collections::VecDeque;
use std::mem::size_of;

use common::{raw_frame, Chunking, TestRng, XorShift};
use sockless::handshake::{ClientHandshake, ClientRequest, Header, EMPTY_HEADER};
use sockless::{
    CloseCode, Config, Connection, DataKind, Event, HandshakeError, Outgoing, ProtocolError, Recv,
    State, Status,
};
use sockless_embedded::{serve, Buffers, Error, Transport, MAX_HEADERS, RX_LEN, TX_LEN};

/// What the client does next.
#[derive(Clone, Debug)]
enum Step {
    /// A message sent as frames of at most `fragment` payload bytes.
    Message {
        kind: DataKind,
        payload: Vec<u8>,
        fragment: usize,
    },
    /// A Ping with this payload.
    Ping(Vec<u8>),
    /// Bytes as they are, whatever the rules say.
    Raw(Vec<u8>),
    /// The client's Close.
    Close(CloseCode),
    /// Nothing arrives: the read times out.
    Idle,
}

/// The in-memory transport's only error: a read timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TimedOut;

/// The client's end of the in-memory stream.
struct Peer {
    sizes: Box<dyn FnMut() -> usize>,
    steps: VecDeque<Step>,
    /// Bytes for the server, `to_server[sent..]` not yet read by it.
    to_server: Vec<u8>,
    sent: usize,
    /// Server bytes not yet consumed by the handshake or the connection.
    from_server: Vec<u8>,
    handshake: Option<ClientHandshake<'static, TestRng>>,
    conn: Option<Connection<TestRng>>,
    /// The response head, once complete.
    response_status: Option<u16>,
    /// What the client expects back, in order: whole messages, and Pong payloads.
    expected_messages: VecDeque<(DataKind, Vec<u8>)>,
    expected_pongs: VecDeque<Vec<u8>>,
    /// The message being reassembled from the echo.
    message: Option<(DataKind, Vec<u8>)>,
    /// Frames the echo arrived in (one per piece the server got).
    echo_frames: usize,
    close_received: Option<Option<CloseCode>>,
    /// Answer a Close the server begins.
    auto_reply: bool,
}

impl Peer {
    fn new(chunking: Chunking, steps: Vec<Step>) -> Self {
        Self::with_request(chunking, steps, ClientRequest::new("device.local", "/echo"))
    }

    fn with_request(chunking: Chunking, steps: Vec<Step>, request: ClientRequest<'static>) -> Self {
        let mut out = vec![0; 2048];
        let (handshake, n) =
            ClientHandshake::new(request, client_config(), TestRng::new(7), &mut out)
                .expect("request");
        out.truncate(n);
        Self {
            sizes: Box::new(chunking.sizes()),
            steps: steps.into(),
            to_server: out,
            sent: 0,
            from_server: Vec::new(),
            handshake: Some(handshake),
            conn: None,
            response_status: None,
            expected_messages: VecDeque::new(),
            expected_pongs: VecDeque::new(),
            message: None,
            echo_frames: 0,
            close_received: None,
            auto_reply: true,
        }
    }

    /// Encodes the next step into `to_server`: `Ok(false)` when there is none, `Err` for
    /// [`Step::Idle`].
    fn next_step(&mut self) -> Result<bool, TimedOut> {
        let Some(step) = self.steps.pop_front() else {
            return Ok(false);
        };
        self.to_server.clear();
        self.sent = 0;
        let conn = self
            .conn
            .as_mut()
            .expect("the handshake is done before frames");
        let mut out = vec![0u8; 256];
        match step {
            Step::Message {
                kind,
                payload,
                fragment,
            } => {
                let mut chunks: Vec<&[u8]> = payload.chunks(fragment.max(1)).collect();
                if chunks.is_empty() {
                    chunks.push(&[]);
                }
                let last = chunks.len() - 1;
                for (i, chunk) in chunks.into_iter().enumerate() {
                    out.resize(chunk.len() + 14, 0);
                    let n = conn
                        .send_frame(kind, chunk, i == last, &mut out)
                        .expect("send");
                    self.to_server.extend_from_slice(&out[..n]);
                }
                self.expected_messages.push_back((kind, payload));
            }
            Step::Ping(payload) => {
                let n = conn.send(Outgoing::Ping(&payload), &mut out).expect("ping");
                self.to_server.extend_from_slice(&out[..n]);
                self.expected_pongs.push_back(payload);
            }
            Step::Raw(bytes) => self.to_server = bytes,
            Step::Close(code) => {
                let n = conn.close(code, "", &mut out).expect("close");
                self.to_server.extend_from_slice(&out[..n]);
            }
            Step::Idle => return Err(TimedOut),
        }
        Ok(true)
    }

    /// Hands what the server wrote to the handshake, then to the connection.
    fn take_server_bytes(&mut self) {
        if let Some(mut handshake) = self.handshake.take() {
            let mut headers: [Header<'_>; 16] = [EMPTY_HEADER; 16];
            let bytes = self.from_server.clone();
            match handshake
                .parse(&bytes, &mut headers)
                .expect("response head")
            {
                Status::Partial => {
                    self.handshake = Some(handshake);
                    return;
                }
                Status::Complete(response) => {
                    self.response_status = Some(response.status());
                    let head_len = response.len();
                    if response.status() == 101 {
                        self.conn = Some(handshake.finish(&response).expect("valid 101"));
                    }
                    self.from_server.drain(..head_len);
                }
            }
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let mut pos = 0;
        while pos < self.from_server.len() {
            let r = conn.receive(&mut self.from_server[pos..]);
            pos += r.consumed;
            match r.result.expect("the server's frames are valid") {
                Recv::Event(Event::Data {
                    kind,
                    payload,
                    frame_done,
                    message_done,
                    ..
                }) => {
                    self.echo_frames += usize::from(frame_done);
                    let (k, msg) = self.message.get_or_insert_with(|| (kind, Vec::new()));
                    assert_eq!(*k, kind, "an echo keeps its kind");
                    msg.extend_from_slice(payload);
                    if message_done {
                        let got = self.message.take().expect("message");
                        let want = self.expected_messages.pop_front().expect("an echo was due");
                        assert_eq!(got.0, want.0);
                        assert!(got.1 == want.1, "echo of {} bytes differs", want.1.len());
                    }
                }
                Recv::Event(Event::Pong(p)) => {
                    assert_eq!(Some(p.to_vec()), self.expected_pongs.pop_front(), "Pong");
                }
                Recv::Event(Event::Ping(_)) => panic!("the echo never pings"),
                Recv::Event(Event::Close(frame)) => {
                    self.close_received = Some(frame.map(|f| f.code));
                    // Answer a Close the server began: it goes out after what is still unread.
                    if conn.state() == State::CloseReceived && self.auto_reply {
                        let mut out = [0u8; 256];
                        let n = conn.poll_transmit(&mut out).expect("the Close reply");
                        if self.sent == self.to_server.len() {
                            self.to_server.clear();
                            self.sent = 0;
                        }
                        self.to_server.extend_from_slice(&out[..n]);
                    }
                }
                Recv::NeedInput | Recv::Closed => break,
                Recv::NeedFlush => panic!("the client owes nothing"),
            }
        }
        self.from_server.drain(..pos);
    }
}

impl Transport for Peer {
    type Error = TimedOut;

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        assert!(!buf.is_empty(), "read into an empty buffer");
        while self.sent == self.to_server.len() {
            if !self.next_step()? {
                return Ok(0);
            }
        }
        let n = (self.sizes)()
            .min(buf.len())
            .min(self.to_server.len() - self.sent);
        buf[..n].copy_from_slice(&self.to_server[self.sent..self.sent + n]);
        self.sent += n;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> Result<(), Self::Error> {
        self.from_server.extend_from_slice(buf);
        self.take_server_bytes();
        Ok(())
    }

    fn is_timeout(_: &TimedOut) -> bool {
        true
    }
}

fn client_config() -> Config {
    let mut config = Config::default();
    config.max_frame_len = 2 << 20;
    config.max_message_len = 2 << 20;
    config
}

/// Valid UTF-8 of about `len` bytes, with characters of one to four bytes.
fn text(len: usize) -> Vec<u8> {
    let mut s = String::with_capacity(len + 4);
    let pieces = ["echo ", "é", "ß ", "€", "✓ ", "🙂", "ASCII only here. "];
    let mut i = 0;
    while s.len() < len {
        s.push_str(pieces[i % pieces.len()]);
        i += 1;
    }
    while s.len() > len {
        s.pop();
    }
    s.into_bytes()
}

fn binary(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift::new(seed);
    (0..len).map(|_| rng.next() as u8).collect()
}

/// Messages of every length class (7-bit, 16-bit and 64-bit lengths, around the buffer size, up
/// to `max`), whole and fragmented, with Pings between them (two in a row, and one of 125 bytes),
/// then the client's Close.
fn scenario(max: usize) -> Vec<Step> {
    let mut steps = Vec::new();
    let sizes = [
        0,
        1,
        125,
        126,
        500,
        511,
        512,
        513,
        4096,
        65_535,
        65_536,
        300_000,
        1 << 20,
    ];
    for (i, &len) in sizes.iter().filter(|&&len| len <= max).enumerate() {
        for fragment in [usize::MAX, 1000, 333] {
            let kind = if i % 2 == 0 {
                DataKind::Text
            } else {
                DataKind::Binary
            };
            let payload = match kind {
                DataKind::Text => text(len),
                DataKind::Binary => binary(len, i as u64),
            };
            steps.push(Step::Message {
                kind,
                payload,
                fragment,
            });
        }
        steps.push(Step::Ping(vec![i as u8; i]));
        if i % 3 == 0 {
            steps.push(Step::Ping(b"one".to_vec()));
            steps.push(Step::Ping(vec![0xAB; 125]));
        }
    }
    steps.push(Step::Close(CloseCode::NORMAL));
    steps
}

/// Runs `steps` against `serve` and checks that everything came back.
fn run(chunking: Chunking, steps: Vec<Step>) {
    let mut peer = Peer::new(chunking, steps);
    let mut buffers = Buffers::new();
    let result = serve(&mut peer, &mut buffers);
    assert_eq!(result, Ok(()), "{chunking:?}");
    assert_eq!(peer.response_status, Some(101));
    assert!(peer.steps.is_empty(), "every step was read");
    assert!(
        peer.expected_messages.is_empty(),
        "every message was echoed"
    );
    assert!(peer.message.is_none());
    assert!(peer.expected_pongs.is_empty(), "every Ping got its Pong");
    assert_eq!(peer.close_received, Some(Some(CloseCode::NORMAL)));
    assert_eq!(
        peer.conn.as_ref().map(Connection::state),
        Some(State::Closed)
    );
    assert!(peer.from_server.is_empty(), "nothing after the Close");
}

#[test]
fn echoes_up_to_1_mib_through_512_bytes_whole_reads() {
    run(Chunking::Whole, scenario(1 << 20));
}

#[test]
fn echoes_up_to_1_mib_through_512_bytes_random_reads() {
    for seed in 1..=3 {
        run(Chunking::Random { seed, max: 700 }, scenario(1 << 20));
    }
}

#[test]
fn echoes_byte_by_byte() {
    run(Chunking::Bytewise, scenario(65_536));
}

#[test]
fn a_large_frame_comes_back_in_pieces_no_larger_than_the_buffer() {
    let payload = binary(100_000, 9);
    let steps = vec![
        Step::Message {
            kind: DataKind::Binary,
            payload,
            fragment: usize::MAX,
        },
        Step::Close(CloseCode::NORMAL),
    ];
    let mut peer = Peer::new(Chunking::Whole, steps);
    assert_eq!(serve(&mut peer, &mut Buffers::new()), Ok(()));
    // 100,000 bytes in pieces of at most 512 bytes (less the frame header in the first).
    assert!(
        peer.echo_frames >= 100_000 / RX_LEN,
        "{} frames",
        peer.echo_frames
    );
    assert!(peer.expected_messages.is_empty());
}

#[test]
fn a_head_longer_than_the_buffer_gets_431() {
    static PADDING: [u8; 600] = [b'a'; 600];
    static HEADERS: [(&str, &[u8]); 1] = [("X-Padding", &PADDING)];
    let request = ClientRequest::new("device.local", "/").headers(&HEADERS);
    let mut peer = Peer::with_request(Chunking::Random { seed: 5, max: 64 }, vec![], request);
    let result = serve(&mut peer, &mut Buffers::new());
    assert_eq!(result, Err(Error::Handshake(HandshakeError::HeadTooLarge)));
    assert_eq!(peer.response_status, Some(431));
}

#[test]
fn an_unmasked_frame_is_answered_with_1002() {
    let steps = vec![
        Step::Message {
            kind: DataKind::Text,
            payload: b"fine".to_vec(),
            fragment: usize::MAX,
        },
        Step::Raw(raw_frame(true, 0, 0x1, None, b"unmasked")),
    ];
    let mut peer = Peer::new(Chunking::Bytewise, steps);
    let result = serve(&mut peer, &mut Buffers::new());
    assert_eq!(result, Err(Error::Protocol(ProtocolError::UnmaskedFrame)));
    assert!(
        peer.expected_messages.is_empty(),
        "the valid message was echoed"
    );
    assert_eq!(peer.close_received, Some(Some(CloseCode::PROTOCOL_ERROR)));
}

#[test]
fn the_transport_closing_early_is_an_error() {
    let steps = vec![Step::Ping(b"hi".to_vec())];
    let mut peer = Peer::new(Chunking::Whole, steps);
    assert_eq!(serve(&mut peer, &mut Buffers::new()), Err(Error::Eof));
    assert!(peer.expected_pongs.is_empty(), "the Pong went out first");
}

#[test]
fn an_idle_read_timeout_closes_with_1001() {
    let steps = vec![
        Step::Message {
            kind: DataKind::Binary,
            payload: binary(2000, 3),
            fragment: 700,
        },
        Step::Idle,
    ];
    for chunking in [Chunking::Whole, Chunking::Bytewise] {
        let mut peer = Peer::new(chunking, steps.clone());
        assert_eq!(serve(&mut peer, &mut Buffers::new()), Ok(()));
        assert!(peer.expected_messages.is_empty());
        assert_eq!(peer.close_received, Some(Some(CloseCode::GOING_AWAY)));
        assert_eq!(
            peer.conn.as_ref().map(Connection::state),
            Some(State::Closed)
        );
    }
}

#[test]
fn a_second_timeout_while_closing_ends_the_session() {
    let mut peer = Peer::new(Chunking::Whole, vec![Step::Idle, Step::Idle]);
    // A client that never answers the server's Close: the next read times out too.
    peer.auto_reply = false;
    assert_eq!(
        serve(&mut peer, &mut Buffers::new()),
        Err(Error::Transport(TimedOut))
    );
    assert_eq!(peer.close_received, Some(Some(CloseCode::GOING_AWAY)));
}

#[test]
fn ram_figures() {
    let connection = size_of::<Connection>();
    let buffers = size_of::<Buffers>();
    let headers = size_of::<[Header<'static>; MAX_HEADERS]>();
    println!(
        "RAM: Connection {connection} B + Buffers {buffers} B ({RX_LEN} receive + {TX_LEN} \
         write) = {} B for the whole session; during the handshake also {headers} B of headers \
         ({MAX_HEADERS} x {} B) on the stack",
        connection + buffers,
        size_of::<Header<'static>>()
    );
    assert_eq!(buffers, RX_LEN + TX_LEN);
    assert!(connection <= 192);
}
