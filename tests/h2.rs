//! WebSockets over HTTP/2 (RFC 8441) end to end over loopback, with a real HTTP/2 stack: the `h2`
//! crate with extended CONNECT enabled, on tokio. The server validates each stream's request
//! with `ConnectRequest` and echoes over the stream with a sockless server `Connection`; the
//! client builds its request with `ConnectClient` and runs a sockless client `Connection`.
//! Both ends of the WebSocket are sockless; both ends of HTTP/2 are `h2`.
//!
//! The glue is what a user writes: the request's parts as header pairs, the `ResponseHead` as an
//! `http::Response`, and stream data in and out.

#![cfg(all(feature = "std", feature = "getrandom"))]

#[path = "upgraded/peer.rs"]
mod peer;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use h2::{RecvStream, SendStream};
use peer::{echoed, messages, pongs_apart, Got, Peer};
use sockless::handshake::upgraded::{
    ConnectClient, ConnectRequest, ConnectResponse, ResponseHead, Scheme,
};
use sockless::handshake::{Accept, ClientRequest, Header};
use sockless::{CloseCode, Config, HandshakeError, OsRandom, Outgoing, RandomSource};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The server: h2 with extended CONNECT, one task per stream
// ---------------------------------------------------------------------------------------------

async fn serve(listener: TcpListener) {
    let (tcp, _) = listener.accept().await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let mut h2 = h2::server::Builder::new()
        .enable_connect_protocol()
        .handshake::<_, Bytes>(tcp)
        .await
        .unwrap();
    while let Some(stream) = h2.accept().await {
        let (request, respond) = stream.unwrap();
        tokio::spawn(websocket(request, respond));
    }
}

/// The request's parts as the header pairs sockless takes, pseudo-header fields first.
fn fields(parts: &http::request::Parts) -> Vec<Header<'_>> {
    let uri = &parts.uri;
    let pseudo = [
        (":method", Some(parts.method.as_str())),
        (
            ":protocol",
            parts
                .extensions
                .get::<h2::ext::Protocol>()
                .map(|p| p.as_str()),
        ),
        (":scheme", uri.scheme_str()),
        (":authority", uri.authority().map(|a| a.as_str())),
        (":path", uri.path_and_query().map(|p| p.as_str())),
    ];
    let pseudo = pseudo.into_iter().filter_map(|(name, value)| {
        value.map(|v| Header {
            name,
            value: v.as_bytes(),
        })
    });
    let regular = parts.headers.iter().map(|(name, value)| Header {
        name: name.as_str(),
        value: value.as_bytes(),
    });
    pseudo.chain(regular).collect()
}

/// A `ResponseHead` as an `http::Response` (h2 writes `:status` from its status).
fn response(head: ResponseHead<'_>) -> http::Response<()> {
    let mut builder = http::Response::builder().status(head.status());
    for h in head.headers() {
        builder = builder.header(h.name, h.value);
    }
    builder.body(()).unwrap()
}

async fn websocket(
    request: http::Request<RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) {
    let (parts, mut recv) = request.into_parts();
    let fields = fields(&parts);
    let (head, conn) = match ConnectRequest::validate(&fields, Config::default()) {
        Ok(req) => {
            let chosen = req.protocols().next();
            req.accept(&Accept::new().protocol(chosen)).unwrap()
        }
        Err(e) => {
            respond
                .send_response(response(e.response_head()), true)
                .unwrap();
            return;
        }
    };
    let mut send = respond.send_response(response(head), false).unwrap();
    let mut peer = Peer::new(conn);
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.unwrap();
        recv.flow_control().release_capacity(chunk.len()).unwrap();
        for got in peer.feed(&chunk).unwrap() {
            match got {
                Got::Text(t) => peer.send(Outgoing::Text(&t)).unwrap(),
                Got::Binary(b) => peer.send(Outgoing::Binary(&b)).unwrap(),
                _ => {} // Pongs and the Close reply are queued by the connection
            }
        }
        // END_STREAM is the stream's FIN (RFC 8441 5): once closed, the server ends the stream
        // with its last bytes, as it closes TCP first over HTTP/1.1.
        let closed = peer.is_closed();
        write(&mut send, peer.output(), closed);
        if closed {
            break;
        }
    }
    if !peer.is_closed() {
        write(&mut send, Vec::new(), true); // the client ended the stream without a Close
    }
    // Dropping `recv` before the client ends its side would reset the stream: wait for its
    // END_STREAM (a real server bounds this wait with a timeout).
    while let Some(Ok(chunk)) = recv.data().await {
        let _ = recv.flow_control().release_capacity(chunk.len());
    }
}

/// Queues `bytes` on the stream (ending it with them if `end`); h2 sends them as the peer's
/// flow-control window allows.
fn write(send: &mut SendStream<Bytes>, bytes: Vec<u8>, end: bool) {
    if !bytes.is_empty() || end {
        send.send_data(bytes.into(), end).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The client: h2, then a sockless client over the stream
// ---------------------------------------------------------------------------------------------

struct Stream {
    send: SendStream<Bytes>,
    recv: RecvStream,
}

/// Opens an extended CONNECT stream with `fields`, and returns the response's status and fields
/// with the stream.
async fn connect(
    addr: SocketAddr,
    fields: impl Iterator<Item = Header<'_>>,
) -> (u16, Vec<(String, Vec<u8>)>, Stream) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (h2, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut h2 = h2.ready().await.unwrap();
    // The server allows extended CONNECT in its first SETTINGS frame.
    while !h2.is_extended_connect_protocol_enabled() {
        tokio::time::sleep(Duration::from_millis(1)).await;
        h2 = h2.ready().await.unwrap();
    }
    // The pseudo-header fields become the request's method, URI and `Protocol` extension.
    let (mut request, mut uri) = (http::Request::builder(), http::Uri::builder());
    for h in fields {
        match h.name {
            ":method" => request = request.method(h.value),
            ":protocol" => {
                let protocol = std::str::from_utf8(h.value).unwrap();
                request = request.extension(h2::ext::Protocol::from(protocol));
            }
            ":scheme" => uri = uri.scheme(h.value),
            ":authority" => uri = uri.authority(h.value),
            ":path" => uri = uri.path_and_query(h.value),
            name => request = request.header(name, h.value),
        }
    }
    let request = request.uri(uri.build().unwrap()).body(()).unwrap();
    let (response, send) = h2.send_request(request, false).unwrap();
    let (parts, recv) = response.await.unwrap().into_parts();
    let fields = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    (parts.status.as_u16(), fields, Stream { send, recv })
}

impl Stream {
    /// Sends what `peer` owes, then reads until `want` messages arrived (or the stream ended).
    async fn exchange<R: RandomSource>(&mut self, peer: &mut Peer<R>, want: usize) -> Vec<Got> {
        write(&mut self.send, peer.output(), false);
        let mut got = Vec::new();
        while got.len() < want {
            let Some(chunk) = self.recv.data().await else {
                break;
            };
            let chunk = chunk.unwrap();
            self.recv
                .flow_control()
                .release_capacity(chunk.len())
                .unwrap();
            got.extend(peer.feed(&chunk).unwrap());
            write(&mut self.send, peer.output(), false);
        }
        got
    }
}

fn as_pairs(fields: &[(String, Vec<u8>)]) -> Vec<Header<'_>> {
    fields
        .iter()
        .map(|(name, value)| Header { name, value })
        .collect()
}

async fn listen() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener));
    addr
}

#[tokio::test]
async fn websocket_over_h2_both_roles_are_sockless() {
    timeout(LIMIT, async {
        let addr = listen().await;
        let authority = addr.to_string();
        let request =
            ClientRequest::new(&authority, "/chat?room=1").protocols(&["chat", "superchat"]);
        let client = ConnectClient::new(request, Scheme::Http, Config::default()).unwrap();
        let (status, fields, mut stream) = connect(addr, client.headers()).await;
        assert_eq!(status, 200);
        let fields = as_pairs(&fields);
        let response = ConnectResponse::new(status, &fields);
        assert_eq!(response.protocol(), Some("chat"));
        let conn = client.finish(&response, OsRandom::new()).unwrap();
        let mut peer = Peer::new(conn);

        // Messages up to 1 MiB, each echoed; then all at once with pings between them.
        for message in messages() {
            peer.send(message).unwrap();
            assert_eq!(stream.exchange(&mut peer, 1).await, [echoed(&message)]);
        }
        let mut expected = Vec::new();
        for (i, message) in messages().into_iter().enumerate() {
            let ping = [i as u8; 4];
            peer.send(Outgoing::Ping(&ping)).unwrap();
            expected.push(Got::Pong(ping.to_vec()));
            peer.send(message).unwrap();
            expected.push(echoed(&message));
        }
        let got = stream.exchange(&mut peer, expected.len()).await;
        assert_eq!(pongs_apart(got), pongs_apart(expected));

        // The closing handshake, then the server ends the stream.
        peer.close(CloseCode::NORMAL, "done").unwrap();
        assert_eq!(
            stream.exchange(&mut peer, 1).await,
            [Got::Close(Some(1000))]
        );
        assert!(peer.is_closed());
        let end = stream.recv.data().await;
        assert!(end.is_none(), "the server ends the stream: {end:?}");
        write(&mut stream.send, Vec::new(), true);
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn a_refusal_travels_as_an_h2_response() {
    timeout(LIMIT, async {
        let addr = listen().await;
        let authority = addr.to_string();
        let client = ConnectClient::new(
            ClientRequest::new(&authority, "/"),
            Scheme::Http,
            Config::default(),
        )
        .unwrap();
        // The client's fields with an unsupported version in place of 13.
        let fields = client.headers().map(|h| match h.name {
            "sec-websocket-version" => Header {
                name: h.name,
                value: b"8",
            },
            _ => h,
        });
        let (status, fields, _stream) = connect(addr, fields).await;
        assert_eq!(status, 400);
        let fields = as_pairs(&fields);
        let version = fields.iter().find(|h| h.name == "sec-websocket-version");
        assert_eq!(version.map(|h| h.value), Some(&b"13"[..]));
        let response = ConnectResponse::new(status, &fields);
        assert_eq!(
            client.finish(&response, OsRandom::new()).map(|_| ()),
            Err(HandshakeError::UnexpectedStatus(400))
        );
    })
    .await
    .expect("bounded");
}
