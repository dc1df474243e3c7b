//! A client and a server that negotiated permessage-deflate through both handshakes
//! (fuzzer-chosen windows, context takeover and threshold), each with a `Deflate` layer: the
//! client sends fuzzer-chosen messages (whole or in fragments, a Ping between), the server
//! receives them through `Deflate::receive` in fuzzer-chosen chunks, and every message arrives
//! as sent. Then fuzzer bytes, sent as a compressed message of their own, either inflate within
//! the limit or fail the connection with 1007 or 1009 with its Close queued; nothing panics.
#![no_main]
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use sockless::deflate::{ClientNegotiation, Deflate, DeflateConfig, DeflateError, ServerNegotiation};
use sockless::handshake::{Accept, ClientHandshake, ClientRequest, ServerHandshake, EMPTY_HEADER};
use sockless::message::{Assembler, Incoming, Message};
use sockless::{Config, Connection, DataKind, Event, Outgoing, RandomError, RandomSource, Rsv, State, Status};

#[derive(Arbitrary, Debug)]
struct Input {
    server_bits: u8,
    client_bits: u8,
    server_nct: bool,
    client_nct: bool,
    threshold: u8,
    messages: Vec<Msg>,
    chunks: Vec<u16>,
    garbage: Vec<u8>,
    garbage_text: bool,
}

#[derive(Arbitrary, Debug)]
struct Msg {
    text: bool,
    body: Vec<u8>,
    cuts: Vec<u16>,
    ping: bool,
}

const LIMIT: u64 = 1 << 16;

struct Rng(u8);

impl RandomSource for Rng {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        for b in dest {
            self.0 = self.0.wrapping_mul(31).wrapping_add(7);
            *b = self.0;
        }
        Ok(())
    }
}

/// Both handshakes; the layers of both ends.
fn negotiate(c: &DeflateConfig) -> (Connection, Deflate, Connection<Rng>, Deflate) {
    let mut config = Config::default();
    config.max_message_len = LIMIT;
    let client = ClientNegotiation::new(c);
    let offers: Vec<&str> = client.offer().into_iter().collect();
    let mut out = [0u8; 1024];
    let (mut handshake, n) =
        ClientHandshake::new(ClientRequest::new("a", "/").extensions(&offers), config, Rng(1), &mut out).expect("request");
    let request = out[..n].to_vec();
    let mut server_handshake = ServerHandshake::new(config);
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(req)) = server_handshake.parse(&request, &mut headers) else { panic!("request") };
    let server = ServerNegotiation::new(c, &req);
    let server_agreed = server.agreed().expect("our own offer is acceptable");
    let mut response = [0u8; 1024];
    let (n, server_conn) = req.accept(&server.accept(Accept::new()), &mut response).expect("accept");
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(resp)) = handshake.parse(&response[..n], &mut headers) else { panic!("response") };
    let client_conn = handshake.finish_with_extensions(&resp, |r| client.check(r)).expect("finish");
    let client_agreed = client.agreed().expect("agreed");
    assert_eq!(server_conn.extension_bits(), Rsv::RSV1);
    assert_eq!(client_conn.extension_bits(), Rsv::RSV1);
    (server_conn, Deflate::new(&server_agreed, LIMIT), client_conn, Deflate::new(&client_agreed, LIMIT))
}

#[derive(Debug, PartialEq)]
enum Got {
    Message(DataKind, Vec<u8>),
    Ping(Vec<u8>),
    Error(DeflateError),
}

fn receive(conn: &mut Connection, layer: &mut Deflate, wire: &[u8], chunks: &[u16]) -> Vec<Got> {
    let mut assembler = Assembler::new(Vec::new());
    let mut got = Vec::new();
    let mut pending = Vec::new();
    let mut fed = 0;
    let mut i = 0;
    'reads: while fed < wire.len() {
        let n = chunks.get(i % chunks.len().max(1)).map_or(wire.len(), |&c| usize::from(c).max(1)).min(wire.len() - fed);
        i += 1;
        pending.extend_from_slice(&wire[fed..fed + n]);
        fed += n;
        let mut pos = 0;
        loop {
            let r = layer.receive(conn, &mut assembler, &mut pending[pos..]);
            pos += r.consumed;
            match r.result {
                Ok(Incoming::Message(Message::Text(t))) => got.push(Got::Message(DataKind::Text, t.as_bytes().to_vec())),
                Ok(Incoming::Message(Message::Binary(b))) => got.push(Got::Message(DataKind::Binary, b.to_vec())),
                Ok(Incoming::Pending) => {}
                Ok(Incoming::Event(Event::Ping(p))) => got.push(Got::Ping(p.to_vec())),
                Ok(Incoming::NeedInput) => break,
                Ok(Incoming::NeedFlush) => {
                    let mut out = Vec::new();
                    conn.poll_transmit_to_vec(&mut out).expect("flush");
                }
                Ok(other) => panic!("unexpected {other:?}"),
                Err(e) => {
                    got.push(Got::Error(e));
                    break 'reads;
                }
            }
        }
        pending.drain(..pos);
    }
    got
}

fuzz_target!(|input: Input| {
    let mut c = DeflateConfig::default();
    c.server_max_window_bits = 9 + input.server_bits % 7;
    c.client_max_window_bits = 9 + input.client_bits % 7;
    c.server_no_context_takeover = input.server_nct;
    c.client_no_context_takeover = input.client_nct;
    c.min_compress_len = usize::from(input.threshold);
    let (mut server, mut sd, mut client, mut cd) = negotiate(&c);

    let mut wire = Vec::new();
    let mut expect = Vec::new();
    for m in input.messages.iter().take(8) {
        let text = m.text && std::str::from_utf8(&m.body).is_ok();
        let kind = if text { DataKind::Text } else { DataKind::Binary };
        if m.cuts.is_empty() {
            let msg = if text { Outgoing::Text(std::str::from_utf8(&m.body).unwrap()) } else { Outgoing::Binary(&m.body) };
            cd.send(&mut client, msg, &mut wire).expect("send");
        } else {
            let mut edges: Vec<usize> = m.cuts.iter().take(4).map(|&c| usize::from(c) % (m.body.len() + 1)).collect();
            edges.push(0);
            edges.push(m.body.len());
            edges.sort_unstable();
            for (i, w) in edges.windows(2).enumerate() {
                let fin = i == edges.len() - 2;
                cd.send_frame(&mut client, kind, &m.body[w[0]..w[1]], fin, &mut wire).expect("send_frame");
                if i == 0 && m.ping {
                    cd.send(&mut client, Outgoing::Ping(b"p"), &mut wire).expect("ping");
                    expect.push(Got::Ping(b"p".to_vec()));
                }
            }
        }
        expect.push(Got::Message(kind, m.body.clone()));
    }
    let got = receive(&mut server, &mut sd, &wire, &input.chunks);
    assert_eq!(got, expect);

    // Arbitrary bytes as a compressed message: inflated within the limit, or refused with its code.
    let mut frame = vec![if input.garbage_text { 0xc1 } else { 0xc2 }];
    let len = input.garbage.len();
    if len < 126 {
        frame.push(0x80 | len as u8);
    } else {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(len.min(0xffff) as u16).to_be_bytes());
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(&input.garbage[..len.min(0xffff)]);
    let got = receive(&mut server, &mut sd, &frame, &input.chunks);
    match got.as_slice() {
        [] => {}
        [Got::Message(kind, bytes)] => {
            assert!(bytes.len() as u64 <= LIMIT);
            assert!(*kind == DataKind::Binary || std::str::from_utf8(bytes).is_ok());
        }
        [Got::Error(e)] => {
            let code = e.close_code().expect("a layer error has a close code").0;
            assert!(code == 1007 || code == 1009, "{e:?}");
            assert_eq!(server.state(), State::Failed);
            let mut out = Vec::new();
            server.poll_transmit_to_vec(&mut out).expect("flush");
            assert_eq!(&out[out.len() - 4..out.len() - 2], &[0x88, 2]);
            assert_eq!(u16::from_be_bytes([out[out.len() - 2], out[out.len() - 1]]), code);
        }
        other => panic!("{other:?}"),
    }
});
