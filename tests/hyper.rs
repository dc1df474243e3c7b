//! Behind an HTTP/1.1 server the user already has: a hyper 1.x server whose handler validates
//! the upgrade with `Request::from_parsed`, answers with the `101` fields of
//! `Request::accept_head`, takes the connection back with `hyper::upgrade::on`, and runs a
//! sockless server `Connection` over it (echo). The client is sockless's own `ClientHandshake`
//! over a TCP stream. End to end over loopback.

#![cfg(all(feature = "std", feature = "getrandom"))]

#[path = "upgraded/peer.rs"]
mod peer;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use peer::{echoed, messages, pongs_apart, Got, Peer};
use sockless::handshake::upgraded::ResponseHead;
use sockless::handshake::{Accept, ClientHandshake, ClientRequest, Header, Request, EMPTY_HEADER};
use sockless::{CloseCode, Config, Connection, OsRandom, Outgoing, RandomSource, Status};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The server: hyper, with a handler that hands upgraded connections to sockless
// ---------------------------------------------------------------------------------------------

async fn serve(listener: TcpListener) {
    loop {
        let (tcp, _) = listener.accept().await.unwrap();
        tcp.set_nodelay(true).unwrap();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(handle);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades()
                .await;
        });
    }
}

/// A `ResponseHead` as a hyper response.
fn response(head: ResponseHead<'_>) -> hyper::Response<Empty<Bytes>> {
    let mut builder = hyper::Response::builder().status(head.status());
    for h in head.headers() {
        builder = builder.header(h.name, h.value);
    }
    builder.body(Empty::new()).unwrap()
}

/// The request as hyper parsed it, validated by sockless: the response, and the connection to
/// run once hyper hands the stream over.
fn upgrade(req: &hyper::Request<Incoming>) -> (hyper::Response<Empty<Bytes>>, Option<Connection>) {
    let fields: Vec<Header<'_>> = req
        .headers()
        .iter()
        .map(|(name, value)| Header {
            name: name.as_str(),
            value: value.as_bytes(),
        })
        .collect();
    let minor = if req.version() == hyper::Version::HTTP_10 {
        0
    } else {
        1
    };
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let accepted = Request::from_parsed(
        req.method().as_str(),
        minor,
        target,
        &fields,
        Config::default(),
    )
    .and_then(|request| {
        let chosen = request.protocols().next();
        request.accept_head(&Accept::new().protocol(chosen))
    });
    match accepted {
        Ok((head, conn)) => (response(head), Some(conn)),
        Err(e) => (response(ResponseHead::error(e)), None),
    }
}

async fn handle(
    mut req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Empty<Bytes>>, Infallible> {
    let (response, conn) = upgrade(&req);
    if let Some(conn) = conn {
        let upgrading = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let io = TokioIo::new(upgrading.await.unwrap());
            echo(io, conn).await;
        });
    }
    Ok(response)
}

/// The echo loop over the upgraded connection (hyper's `Upgraded` hands back any bytes it read
/// past the head first).
async fn echo(mut io: impl AsyncRead + AsyncWrite + Unpin, conn: Connection) {
    let mut peer = Peer::new(conn);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = io.read(&mut buf).await.unwrap();
        if n == 0 {
            return;
        }
        for got in peer.feed(&buf[..n]).unwrap() {
            match got {
                Got::Text(t) => peer.send(Outgoing::Text(&t)).unwrap(),
                Got::Binary(b) => peer.send(Outgoing::Binary(&b)).unwrap(),
                _ => {}
            }
        }
        io.write_all(&peer.output()).await.unwrap();
        if peer.is_closed() {
            // The server closes the TCP connection first (RFC 6455 7.1.1).
            let _ = io.shutdown().await;
            return;
        }
    }
}

async fn listen() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener));
    addr
}

// ---------------------------------------------------------------------------------------------
// The client: sockless's ClientHandshake over TCP
// ---------------------------------------------------------------------------------------------

/// Sends what `peer` owes, then reads until `want` messages arrived (or the server closed).
async fn exchange<R: RandomSource>(
    tcp: &mut TcpStream,
    peer: &mut Peer<R>,
    want: usize,
) -> Vec<Got> {
    tcp.write_all(&peer.output()).await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = Vec::new();
    while got.len() < want {
        let n = tcp.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend(peer.feed(&buf[..n]).unwrap());
        tcp.write_all(&peer.output()).await.unwrap();
    }
    got
}

#[tokio::test]
async fn a_hyper_server_hands_the_upgrade_to_sockless() {
    timeout(LIMIT, async {
        let addr = listen().await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let authority = addr.to_string();
        let request = ClientRequest::new(&authority, "/chat").protocols(&["chat", "superchat"]);
        let mut out = [0u8; 512];
        let (mut handshake, n) =
            ClientHandshake::new(request, Config::default(), OsRandom::new(), &mut out).unwrap();
        tcp.write_all(&out[..n]).await.unwrap();

        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        let (conn, frames) = loop {
            let n = tcp.read(&mut buf).await.unwrap();
            assert_ne!(n, 0, "the server closed during the handshake");
            head.extend_from_slice(&buf[..n]);
            let mut headers = [EMPTY_HEADER; 32];
            if let Status::Complete(resp) = handshake.parse(&head, &mut headers).unwrap() {
                assert_eq!(resp.status(), 101);
                assert_eq!(resp.protocol(), Some("chat"));
                let frames = head[resp.len()..].to_vec();
                break (handshake.finish(&resp).unwrap(), frames);
            }
        };
        let mut peer = Peer::new(conn);
        assert!(peer.feed(&frames).unwrap().is_empty());

        for message in messages() {
            peer.send(message).unwrap();
            assert_eq!(exchange(&mut tcp, &mut peer, 1).await, [echoed(&message)]);
        }
        let mut expected = Vec::new();
        for (i, message) in messages().into_iter().enumerate() {
            let ping = [i as u8; 3];
            peer.send(Outgoing::Ping(&ping)).unwrap();
            expected.push(Got::Pong(ping.to_vec()));
            peer.send(message).unwrap();
            expected.push(echoed(&message));
        }
        let got = exchange(&mut tcp, &mut peer, expected.len()).await;
        assert_eq!(pongs_apart(got), pongs_apart(expected));

        peer.close(CloseCode::NORMAL, "done").unwrap();
        assert_eq!(
            exchange(&mut tcp, &mut peer, 1).await,
            [Got::Close(Some(1000))]
        );
        assert!(peer.is_closed());
        assert_eq!(
            tcp.read(&mut buf).await.unwrap(),
            0,
            "the server closed TCP first"
        );
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn a_refusal_is_a_hyper_response() {
    timeout(LIMIT, async {
        let addr = listen().await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(
            b"GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        )
        .await
        .unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).await.unwrap();
            assert_ne!(n, 0);
            head.extend_from_slice(&buf[..n]);
        }
        let mut headers = [EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut headers);
        assert!(resp.parse(&head).unwrap().is_complete());
        assert_eq!(resp.code, Some(426));
        let version = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-version"));
        assert_eq!(version.map(|h| h.value), Some(&b"13"[..]));
    })
    .await
    .expect("bounded");
}
