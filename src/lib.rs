//! # sockless
//!
//! The WebSocket protocol (RFC 6455) as a pure state machine. **There is no I/O inside**: no sockets,
//! files, threads, clocks, global state or global randomness. You read bytes from wherever you
//! like and hand them in; sockless hands back events, handshake responses and encoded frames,
//! written into buffers you own. Any async runtime, blocking loop, `no_std` microcontroller or
//! fuzzer can drive it.
//!
//! * **Both roles, one machine.** [`handshake::ServerHandshake`] parses and validates an upgrade
//!   request and writes the `101` (or the right `4xx`); [`handshake::ClientHandshake`] writes the
//!   request and checks the response. Both end in a [`Connection`], the same type for either role.
//! * **Caller-owned buffers.** Payloads are unmasked in place and handed back as slices of your
//!   input; frames are encoded into your output slice. The connection holds a few fixed fields
//!   (at most 192 bytes without an extension) and never allocates.
//! * **Every rule, every limit.** All of RFC 6455's framing, fragmentation, UTF-8 and closing rules
//!   are enforced; every violation is a typed error that knows its close code, and its Close frame
//!   is already queued. Limits on head size, header count, frame and message length are
//!   [`Config`] fields with documented defaults.
//! * **Any chunking gives the same result.** Bytes may arrive whole, one at a time, or split
//!   anywhere: the events, the payload bytes (joined), the error and the output are the same.
//!   Invalid text too: every byte before the first one at which it can no longer be valid UTF-8
//!   is delivered, then `receive` fails with 1007.
//! * **Randomness and time are yours.** A client draws masking keys from a [`RandomSource`] you
//!   pass ([`OsRandom`] with the `getrandom` feature); a server never needs entropy. Timeouts are
//!   the driver's (see [`Connection`]).
//!
//! ## What sans-IO means here
//!
//! The driver (your code) owns the transport, the buffers, the clock and the choice of runtime;
//! sockless owns the protocol. Every call returns at once, having done all it can with what it
//! was given, and says so: how many input bytes it used ([`Received::consumed`], which the
//! driver applies to its buffer), whether it needs more ([`Status::Partial`],
//! [`Recv::NeedInput`]), and how many output bytes it wrote, which the driver sends in the order
//! they were produced. Nothing is read behind the driver's back, and nothing is sent by
//! itself: a Pong or a Close owed to the peer waits in [`Connection::poll_transmit`].
//!
//! So one loop shape serves every kind of driver:
//!
//! 1. read into the receive buffer, behind the bytes not consumed yet;
//! 2. call [`Connection::receive`] on them until it answers [`Recv::NeedInput`], advancing by
//!    `consumed` and handling each [`Event`] (and flushing on [`Recv::NeedFlush`]);
//! 3. move the unconsumed bytes to the front, once per read;
//! 4. write what [`Connection::poll_transmit`] produces until it returns 0;
//! 5. stop reading at [`Recv::Closed`] or an error, and close the transport in
//!    [`State::Closed`].
//!
//! Below it is written three times: blocking on `std::net`, async, and embedded with fixed
//! arrays. [`Connection`] states the full contract.
//!
//! ## The blocking loop
//!
//! A server over `std::net`, echoing each data piece as it arrives, in place: the payload is a
//! `&mut [u8]` inside `rbuf`, its header goes into `wbuf`, and no byte is copied. Every sockless
//! error converts into `std::io::Error` (through [`Error`], under `std`), so `?` works on socket
//! calls and sockless calls alike.
//!
//! ```no_run
//! use std::io::{self, Read, Write};
//! use std::net::TcpStream;
//! use sockless::frame::MAX_HEADER_LEN;
//! use sockless::handshake::{Accept, ServerHandshake, EMPTY_HEADER};
//! use sockless::{Config, Event, Recv, State, Status};
//!
//! # #[cfg(feature = "std")]
//! fn serve(mut tcp: TcpStream) -> io::Result<()> {
//!     tcp.set_nodelay(true)?;
//!     let mut rbuf = vec![0u8; 64 * 1024 + MAX_HEADER_LEN];
//!     let mut wbuf = vec![0u8; 64 * 1024];
//!     let mut filled = 0;
//!     let mut config = Config::default();
//!     config.whole_messages_up_to = rbuf.len(); // a message that fits the buffer comes whole
//!
//!     // 1. The handshake: append reads to one buffer until the head is complete.
//!     let mut handshake = ServerHandshake::new(config);
//!     let (mut conn, head_len) = loop {
//!         let n = tcp.read(&mut rbuf[filled..])?;
//!         if n == 0 {
//!             return Ok(());
//!         }
//!         filled += n;
//!         let mut headers = [EMPTY_HEADER; 32];
//!         match handshake.parse(&rbuf[..filled], &mut headers) {
//!             Ok(Status::Partial) => continue,
//!             Ok(Status::Complete(req)) => {
//!                 let (len, conn) = req.accept(&Accept::new(), &mut wbuf)?;
//!                 tcp.write_all(&wbuf[..len])?;
//!                 break (conn, req.len());
//!             }
//!             Err(e) => {
//!                 let len = handshake.write_error(e, &mut wbuf)?;
//!                 return tcp.write_all(&wbuf[..len]);
//!             }
//!         }
//!     };
//!     // Bytes after the head are already frames: keep them.
//!     rbuf.copy_within(head_len..filled, 0);
//!     filled -= head_len;
//!
//!     // 2. The frame loop.
//!     loop {
//!         let (mut pos, mut failed) = (0, None);
//!         while pos < filled {
//!             let r = conn.receive(&mut rbuf[pos..filled]);
//!             pos += r.consumed;
//!             match r.result {
//!                 Ok(Recv::Event(Event::Data { kind, payload, message_done, .. })) => {
//!                     let n = conn.send_header(kind, payload.len() as u64, message_done, &mut wbuf)?;
//!                     conn.send_payload(payload)?; // a client would mask it here, in place
//!                     tcp.write_all(&wbuf[..n])?; // one vectored write in a real driver
//!                     tcp.write_all(payload)?;
//!                 }
//!                 Ok(Recv::Event(_)) => {} // Ping (its Pong is queued), Pong, Close (reply queued)
//!                 Ok(Recv::NeedFlush) => {
//!                     let n = conn.poll_transmit(&mut wbuf)?;
//!                     tcp.write_all(&wbuf[..n])?;
//!                 }
//!                 Ok(Recv::NeedInput | Recv::Closed) => break,
//!                 Err(e) => {
//!                     failed = Some(e); // its Close is queued: flush it, then stop
//!                     break;
//!                 }
//!             }
//!         }
//!         rbuf.copy_within(pos..filled, 0); // once per read, not once per event
//!         filled -= pos;
//!         loop {
//!             let n = conn.poll_transmit(&mut wbuf)?;
//!             if n == 0 {
//!                 break;
//!             }
//!             tcp.write_all(&wbuf[..n])?;
//!         }
//!         if let Some(e) = failed {
//!             return Err(e.into());
//!         }
//!         if conn.state() == State::Closed {
//!             return Ok(()); // the server closes TCP first
//!         }
//!         let n = tcp.read(&mut rbuf[filled..])?;
//!         if n == 0 {
//!             return Ok(());
//!         }
//!         filled += n;
//!     }
//! }
//! ```
//!
//! A client is the same loop, opened with [`handshake::ClientHandshake::new`] (which writes the
//! request), [`handshake::ClientHandshake::parse`] and [`handshake::ClientHandshake::finish`]; in
//! [`State::Closed`] a client waits a short while for the server to close TCP before closing it
//! itself (RFC 6455 7.1.1).
//!
//! **The receive buffer.** 64 KiB and a frame header ([`frame::MAX_HEADER_LEN`]), as here, with
//! [`Config::whole_messages_up_to`] set to its length: a message sent in one frame that fits the
//! buffer is delivered in one piece, in place, once all of it has been read (until then `receive`
//! answers [`Recv::NeedInput`] and consumes nothing, and the loop reads on), so a message of up to
//! 64 KiB is echoed, forwarded or handed back by [`message::Assembler::receive`] from where it
//! lies, never copied. Longer frames, and fragmented messages, stream in pieces. The size was
//! chosen by measurement over sockets: in the end-to-end load benchmark (`benches/E2E.md`), a
//! 16 KiB buffer cost `tokio_echo` 32% more CPU per echo of 16 KiB messages than 64 KiB; in
//! memory, where a read costs nothing, taking 64 KiB messages whole made them 1.26x faster
//! through the `Assembler` than receiving their pieces as they lay (`benches/RESULTS.md`, W2 and
//! its variants). [`Connection::whole_frame_len`] tells the length of any one frame, for a driver
//! that decides frame by frame.
//!
//! ## The async loop
//!
//! The same loop with `.await` on the transport calls; the connection itself is never awaited.
//! This one takes whole messages from a [`message::Assembler`] and appends its output to a `Vec`
//! (the `_to_vec` forms, under `alloc`). It writes everything owed before it reads again, so
//! the outbound buffer never holds more than the answers to one read: a driver that lets
//! writes lag behind instead bounds that buffer, and stops reading while it is over the bound.
//! `Stream` stands for the runtime's socket (tokio's `AsyncReadExt::read` and
//! `AsyncWriteExt::write_all` have these shapes).
//!
//! ```
//! use std::io;
//! use sockless::message::{Assembler, Incoming, Message};
//! use sockless::{Connection, Outgoing, State};
//!
//! trait Stream {
//!     async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
//!     async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
//! }
//!
//! /// Echoes whole messages until the closing handshake is over. `rbuf` holds the bytes read
//! /// after the handshake head.
//! # #[cfg(feature = "std")]
//! async fn echo(stream: &mut impl Stream, mut conn: Connection, mut rbuf: Vec<u8>) -> io::Result<()> {
//!     let mut assembler = Assembler::new(Vec::new());
//!     let mut out = Vec::new();
//!     loop {
//!         let (mut pos, mut failed) = (0, None);
//!         while pos < rbuf.len() {
//!             let r = assembler.receive(&mut conn, &mut rbuf[pos..]);
//!             pos += r.consumed;
//!             match r.result {
//!                 Ok(Incoming::Message(Message::Text(t))) => {
//!                     conn.send_to_vec(Outgoing::Text(t), &mut out)?;
//!                 }
//!                 Ok(Incoming::Message(Message::Binary(b))) => {
//!                     conn.send_to_vec(Outgoing::Binary(b), &mut out)?;
//!                 }
//!                 Ok(Incoming::NeedFlush) => {
//!                     conn.poll_transmit_to_vec(&mut out)?;
//!                 }
//!                 Ok(Incoming::NeedInput | Incoming::Closed) => break,
//!                 Ok(_) => {} // a piece stored, or a Ping, Pong or Close (replies are queued)
//!                 Err(e) => {
//!                     let _ = conn.fail(e.close_code()); // for the assembler's own errors
//!                     failed = Some(e);
//!                     break;
//!                 }
//!             }
//!         }
//!         rbuf.drain(..pos);
//!         conn.poll_transmit_to_vec(&mut out)?;
//!         stream.write_all(&out).await?;
//!         out.clear();
//!         if let Some(e) = failed {
//!             return Err(e.into());
//!         }
//!         if conn.state() == State::Closed {
//!             return Ok(());
//!         }
//!         let filled = rbuf.len();
//!         rbuf.resize(filled + 16 * 1024, 0);
//!         let n = stream.read(&mut rbuf[filled..]).await?;
//!         rbuf.truncate(filled + n);
//!         if n == 0 {
//!             return Ok(());
//!         }
//!     }
//! }
//! # #[cfg(feature = "std")]
//! # fn main() -> io::Result<()> {
//! #     // In memory: a masked "Hello" and a masked Close 1000, read in one go.
//! #     struct Memory { input: Vec<u8>, output: Vec<u8> }
//! #     impl Stream for Memory {
//! #         async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
//! #             let n = self.input.len().min(buf.len());
//! #             buf[..n].copy_from_slice(&self.input[..n]);
//! #             self.input.drain(..n);
//! #             Ok(n)
//! #         }
//! #         async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
//! #             self.output.extend_from_slice(bytes);
//! #             Ok(())
//! #         }
//! #     }
//! #     let mut input = vec![0x81, 0x85, 0, 0, 0, 0];
//! #     input.extend_from_slice(b"Hello");
//! #     input.extend_from_slice(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
//! #     let mut memory = Memory { input, output: Vec::new() };
//! #     let conn = Connection::server(sockless::Config::default());
//! #     use std::future::Future;
//! #     {
//! #         let mut task = std::pin::pin!(echo(&mut memory, conn, Vec::new()));
//! #         let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #         let std::task::Poll::Ready(result) = task.as_mut().poll(&mut cx) else { panic!() };
//! #         result?;
//! #     }
//! #     assert_eq!(memory.output, [0x81, 5, b'H', b'e', b'l', b'l', b'o', 0x88, 2, 0x03, 0xe8]);
//! #     Ok(())
//! # }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```
//!
//! ## The embedded loop
//!
//! No allocation and no `std`: fixed arrays, 512 bytes to receive into (139 would do, since
//! headers and control frames are taken whole and data streams in pieces) and 160 to write
//! into (a header behind an owed Pong takes at most 145), echoing messages of any length piece
//! by piece. Its function returns [`Error`], into which every sockless error converts with `?`.
//! `Link` stands for whatever moves the bytes: a UART, a TCP stack's socket buffer.
//!
//! ```
//! use sockless::{Connection, Error, Event, Recv, State};
//!
//! trait Link {
//!     /// Reads into `buf`; 0 once the link is down.
//!     fn read(&mut self, buf: &mut [u8]) -> usize;
//!     fn write(&mut self, bytes: &[u8]);
//! }
//!
//! fn echo(link: &mut impl Link, conn: &mut Connection) -> Result<(), Error> {
//!     let (mut rbuf, mut wbuf) = ([0u8; 512], [0u8; 160]);
//!     let mut filled = 0;
//!     while conn.state() != State::Closed {
//!         let n = link.read(&mut rbuf[filled..]);
//!         if n == 0 {
//!             break;
//!         }
//!         filled += n;
//!         let mut pos = 0;
//!         while pos < filled {
//!             let r = conn.receive(&mut rbuf[pos..filled]);
//!             pos += r.consumed;
//!             match r.result {
//!                 Ok(Recv::Event(Event::Data { kind, payload, message_done, .. })) => {
//!                     let n = conn.send_header(kind, payload.len() as u64, message_done, &mut wbuf)?;
//!                     conn.send_payload(payload)?;
//!                     link.write(&wbuf[..n]);
//!                     link.write(payload);
//!                 }
//!                 Ok(Recv::Event(_)) => {}
//!                 Ok(Recv::NeedFlush) => flush(conn, link, &mut wbuf)?,
//!                 Ok(Recv::NeedInput | Recv::Closed) => break,
//!                 Err(e) => {
//!                     flush(conn, link, &mut wbuf)?; // the error's Close
//!                     return Err(e.into());
//!                 }
//!             }
//!         }
//!         rbuf.copy_within(pos..filled, 0);
//!         filled -= pos;
//!         flush(conn, link, &mut wbuf)?;
//!     }
//!     Ok(())
//! }
//!
//! fn flush(conn: &mut Connection, link: &mut impl Link, wbuf: &mut [u8]) -> Result<(), Error> {
//!     loop {
//!         match conn.poll_transmit(wbuf)? {
//!             0 => return Ok(()),
//!             n => link.write(&wbuf[..n]),
//!         }
//!     }
//! }
//! # struct Memory { input: Vec<u8>, output: Vec<u8> }
//! # impl Link for Memory {
//! #     fn read(&mut self, buf: &mut [u8]) -> usize {
//! #         let n = self.input.len().min(buf.len()).min(3); // three bytes at a time
//! #         buf[..n].copy_from_slice(&self.input[..n]);
//! #         self.input.drain(..n);
//! #         n
//! #     }
//! #     fn write(&mut self, bytes: &[u8]) { self.output.extend_from_slice(bytes) }
//! # }
//! # let mut input = vec![0x82, 0x84, 0, 0, 0, 0, 1, 2, 3, 4, 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8];
//! # let mut link = Memory { input, output: Vec::new() };
//! # let mut conn = Connection::server(sockless::Config::default());
//! # echo(&mut link, &mut conn)?;
//! # // Each piece comes back as a frame of its own: [1, 2, 3], [4], then the Close echo.
//! # assert_eq!(link.output, [0x02, 3, 1, 2, 3, 0x80, 1, 4, 0x88, 2, 0x03, 0xe8]);
//! # Ok::<(), Error>(())
//! ```
//!
//! ## The connection states
//!
//! [`State`] follows the closing handshake of RFC 6455 7 (the diagram is on [`State`]):
//! a connection starts [`State::Open`] when the opening handshake succeeds (4.1, 4.2.2);
//! [`Connection::close`] starts the closing handshake (7.1.2) and moves to
//! [`State::CloseSent`]; the peer's Close moves to [`State::CloseReceived`], whose answer
//! (5.5.1) is queued for `poll_transmit` under [`Config::auto_close`]; a protocol error, or
//! [`Connection::fail`], fails the connection (7.1.7) into [`State::Failed`] with its Close
//! queued. Once both Closes have passed, or the failing Close is written, the state is
//! [`State::Closed`]: close the transport, the server first (7.1.1).
//!
//! ## The types
//!
//! | type | what it is |
//! |---|---|
//! | [`handshake::ServerHandshake`] | parses a client's upgrade request as it arrives ([`Status::Partial`] until the head is complete) |
//! | [`handshake::Request`] | a valid request: path, host, origin, subprotocols, extension offers; [`accept`](handshake::Request::accept) writes the `101` and makes the [`Connection`], [`reject`](handshake::Request::reject) writes a `4xx` |
//! | [`handshake::Accept`] | how to accept: the subprotocol, the agreed extensions, extra headers |
//! | [`handshake::ClientRequest`] | what a client asks for: host, path, origin, subprotocols, extension offers, extra headers |
//! | [`handshake::ClientHandshake`] | writes the request, parses the response ([`handshake::Response`]) and checks it into a client [`Connection`] |
//! | [`Connection`] | an open connection of either role: [`receive`](Connection::receive), [`poll_transmit`](Connection::poll_transmit), the `send` family, [`close`](Connection::close), [`fail`](Connection::fail), [`state`](Connection::state) |
//! | [`Received`], [`Recv`], [`Event`] | what `receive` did: the bytes it used, and an event (a data piece, Ping, Pong, Close) or why it paused |
//! | [`Outgoing`] | a whole message, Ping or Pong for [`Connection::send`] |
//! | [`State`], [`Role`] | where the closing handshake stands; which end this is |
//! | [`DataKind`], [`Rsv`] | text or binary; the RSV bits a negotiated extension owns |
//! | [`CloseCode`], [`CloseFrame`] | a close code (an open number type with named constants); a received Close |
//! | [`Config`], [`HandshakeLimits`] | every limit, with its default, and the automatic Pong and Close replies |
//! | [`Status`] | `Partial` or `Complete(value)`: incomplete input is a status, not an error |
//! | [`RandomSource`], [`NoRandom`], [`OsRandom`], [`RandomError`] | where a client's keys come from; a server's source that is never called; the operating system's; its failure |
//! | [`Error`] | any error of the crate, for drivers: each converts into it, and under `std` into `std::io::Error` |
//! | [`ProtocolError`], [`HandshakeError`], [`SendError`], [`BufferTooSmall`], [`EncodeError`] | the peer broke the protocol (with its close code); the opening handshake failed (with its HTTP status); a send was refused; an output buffer is too small (with the size needed); the frame codec refused a header |
//! | [`message::Assembler`] | whole messages from the pieces, into a `Vec` (`alloc`) or a fixed `ArrayVec` |
//! | [`frame::FrameHeader`], [`frame::OpCode`], [`utf8::Utf8Validator`] | the stateless codecs under the connection, for tools and layers |
//!
//! ## Extensions
//!
//! The core implements no extension, but carries one: a layer (permessage-deflate, say) plugs
//! in at these points, all in the core, with no feature needed. Offer, parse the response,
//! check, and the connection is made with the RSV bits the agreed extensions own:
//!
//! 1. **Offer** (client): [`ClientRequest::extensions`](handshake::ClientRequest::extensions),
//!    one entry per offer in preference order, for example
//!    `&["permessage-deflate; client_max_window_bits", "permessage-deflate"]`.
//! 2. **Answer** (server): read the offers from
//!    [`Request::extensions`](handshake::Request::extensions), and accept with
//!    [`Accept::extension`](handshake::Accept::extension)`(value, Rsv::RSV1)`: the `101`
//!    carries `value`, and the connection `accept` makes owns RSV1.
//! 3. **Check** (client):
//!    [`ClientHandshake::finish_with_extensions`](handshake::ClientHandshake::finish_with_extensions)
//!    refuses an answer that names an extension not offered, or one twice; then the layer's
//!    check reads the agreed parameters from [`Response::extensions`](handshake::Response::extensions)
//!    and returns the bits they own (or refuses), and the connection owns those.
//! 4. **Receive**: every piece of a message carries its first frame's bits
//!    ([`Event::Data`]'s `rsv`); owned bits are accepted on a message's first frame only. A text
//!    message with such bits is *not* checked as UTF-8 by the core: the layer validates what it
//!    decodes.
//! 5. **Send**: [`Connection::send_frame_with`] and [`Connection::send_header_with`] set the
//!    bits on a message's first frame.
//! 6. **Fail**: [`Connection::fail`] with the layer's close code (1007 bad data, 1009 too big,
//!    1010 a missing extension, 1008 policy) fails the connection like a protocol error does.
//!
//! [`Connection::with_extension_bits`] sets the bits for a connection whose handshake was done
//! elsewhere. No extension state lives in the [`Connection`]; it stays at 192 bytes.
//!
//! permessage-deflate (feature `deflate`, on by default) is such a layer:
//! [`deflate::ServerNegotiation`] turns a parsed request into the `Accept`,
//! [`deflate::ClientNegotiation`] makes the offer and the check, and [`deflate::Deflate`] sits
//! beside the connection: [`deflate::Deflate::receive`] in place of
//! [`message::Assembler::receive`] gives whole messages, compressed or not, and
//! [`deflate::Deflate::send`] compresses what is worth it.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `std` | yes | runtime CPU detection for SIMD UTF-8 validation, and `From` each error for `std::io::Error`. Implies `alloc`. |
//! | `alloc` | with `std` | `Vec<u8>` as a [`message::MessageBuffer`], and output appended to a `Vec` ([`Connection::send_to_vec`], [`Connection::poll_transmit_to_vec`], [`connection::encode_to_vec`]). Nothing else allocates. |
//! | `getrandom` | yes | [`OsRandom`], a [`RandomSource`] backed by the operating system. |
//! | `deflate` | yes | [`deflate`]: permessage-deflate (RFC 7692): negotiation in one call per role ([`deflate::ServerNegotiation`], [`deflate::ClientNegotiation`]), the per-connection layer ([`deflate::Deflate`]) and its parts (compressor, bounded streaming inflater), on `miniz_oxide`. Implies `alloc`; works without `std`. |
//!
//! Without default features the crate is `no_std` and allocation-free (it is built for
//! `thumbv7em-none-eabihf` in CI, also with `deflate` alone).
//!
//! ## Examples
//!
//! In `examples/` of the repository:
//!
//! * `echo_server`: the blocking loop above in full, a thread per connection, with subprotocols,
//!   a connection cap and the deadlines that keep a hostile client from holding it
//!   (`cargo run --example echo_server -- [ADDR] [--max-message BYTES]`);
//! * `echo_client`: the client loop in full: it connects to a `ws://` URL and sends back every
//!   message the server sends, until the server closes;
//! * `client`: a command-line client that connects to a `ws://` URL, sends lines and prints
//!   what comes back;
//! * `fixed_echo_server`: the embedded echo loop over TCP, with fixed buffers and no allocation;
//! * `embedded/`: that loop as a `no_std` firmware for `thumbv7em-none-eabihf`, with its
//!   footprint measured;
//! * `tokio_echo`: an async server over `WsStream`, a wrapper whose `next().await` lends a
//!   borrowed message in safe Rust, with backpressure and timeouts;
//! * `mio_echo`: a readiness-based, single-thread server with one receive buffer shared by all
//!   connections (an idle connection costs about 300 bytes);
//! * `wss_server` / `wss_client`: the echo examples inside TLS (rustls).
//!
//! ## Origin policy
//!
//! A browser lets any page open a WebSocket to any server and attaches that server's cookies (or
//! HTTP authentication, or client certificate) to the upgrade, and the same-origin policy does
//! not stop the page from reading the connection. So a server that authenticates by an ambient
//! credential hands `https://evil.example` a connection acting as its logged-in user: cross-site
//! WebSocket hijacking. Such a server must check the `Origin` header, which browsers always send
//! and scripts cannot forge. [`Request::origin_allowed`](handshake::Request::origin_allowed)
//! does it in one call (RFC 6454 comparison); refuse with `request.reject(403, ..)`. Requests
//! without `Origin` come from clients that are not browsers. See [`handshake::origin`].
//!
//! ## Behind HTTP stacks it does not own
//!
//! Over HTTP/2 (RFC 8441) and HTTP/3 (RFC 9220), [`handshake::upgraded::ConnectRequest`]
//! validates an extended CONNECT request handed over as header pairs and gives back the `200`'s
//! fields and a [`Connection`] to run over the stream's data;
//! [`handshake::upgraded::ConnectClient`] does the same for a client. Behind an HTTP/1.1 server
//! you already have (hyper, axum), [`handshake::Request::from_parsed`] runs the same checks as
//! [`handshake::ServerHandshake`] on the request that server parsed, and
//! [`handshake::Request::accept_head`] gives the `101`'s fields. Nothing is allocated, the frames
//! are RFC 6455's on every path, and extensions such as permessage-deflate plug in the same way.
//!
//! ## WebAssembly
//!
//! `default-features = false` (optionally with `alloc`, `std` or `deflate`) builds for
//! `wasm32-unknown-unknown` as it is (CI builds it); a server needs no randomness, and a client
//! passes its own [`RandomSource`] (for example a closure over `crypto.getRandomValues`). With
//! the `getrandom` feature, `OsRandom`'s `getrandom` 0.3 needs its browser backend: add
//! `getrandom = { version = "0.3.4", features = ["wasm_js"] }` to your own `Cargo.toml`. Build
//! with `-C target-feature=+simd128` for SIMD UTF-8 validation.
//!
//! ## Modules
//!
//! * [`handshake`]: the opening handshake, both roles.
//! * [`connection`]: the state machine ([`Connection`]) and its events.
//! * [`frame`]: the stateless frame codec: header decode and encode, opcodes, close codes,
//!   masking.
//! * [`utf8`]: the streaming UTF-8 validator.
//! * [`message`]: optional reassembly of pieces into whole messages.
//! * [`manual`]: the design rationale, and where it departs from the first sketch.

#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub, clippy::missing_errors_doc)]
// No panic path in library code: no indexing or slicing that can go out of bounds, no unwrap,
// expect, panic, unreachable, todo or unimplemented (tests may). See `manual` for why
// `clippy::arithmetic_side_effects` is not in this list.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::panic,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod config;
pub mod connection;
#[cfg(feature = "deflate")]
#[cfg_attr(docsrs, doc(cfg(feature = "deflate")))]
pub mod deflate;
mod error;
pub mod frame;
pub mod handshake;
pub mod manual;
pub mod message;
mod rand;
#[cfg(test)]
mod test_support;
// The one conversion to `&str` without a second UTF-8 pass; its safety argument is written there.
#[allow(unsafe_code)]
mod unchecked;
pub mod utf8;

#[doc(inline)]
pub use config::{Config, HandshakeLimits};
#[doc(inline)]
pub use connection::{Connection, Event, Outgoing, Received, Recv, Role, State};
#[doc(inline)]
pub use error::{BufferTooSmall, EncodeError, Error, HandshakeError, ProtocolError, SendError};
#[doc(inline)]
pub use frame::{CloseCode, CloseFrame, DataKind, Rsv};
#[cfg(feature = "getrandom")]
#[doc(inline)]
pub use rand::OsRandom;
#[doc(inline)]
pub use rand::{NoRandom, RandomError, RandomSource};

/// The result of feeding input that may be incomplete: not enough bytes yet is a status, not an
/// error.
///
/// ```
/// use sockless::handshake::{ServerHandshake, EMPTY_HEADER};
/// use sockless::{Config, Status};
/// let mut handshake = ServerHandshake::new(Config::default());
/// let mut headers = [EMPTY_HEADER; 8];
/// let status = handshake.parse(b"GET / HTTP/1.1\r\nHost: a\r\n", &mut headers)?;
/// assert!(matches!(status, Status::Partial)); // no blank line yet: read more
/// # Ok::<(), sockless::HandshakeError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// More input is needed.
    Partial,
    /// Done, with the value.
    Complete(T),
}
