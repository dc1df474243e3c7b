//! The design rationale (documentation only; no code).
//!
//! # Why sans-IO
//!
//! A protocol object that owns its socket forces one I/O model on every user and forces tests and
//! fuzzers into mock streams. sockless takes `&mut [u8]` in and writes into `&mut [u8]` out, so the
//! same code serves a blocking thread, an async task, an interrupt-driven microcontroller and a
//! fuzzer, and tests drive it directly: a client and a server wired back to back in memory.
//!
//! # Invariants
//!
//! 1. No I/O, clocks, threads, global state or global randomness; `#![no_std]`; `deny(unsafe_code)`,
//!    allowed in one module for one conversion (see [One UTF-8 pass](#one-utf-8-pass)).
//! 2. The caller owns the buffers. Internal storage is fixed: one queued Pong payload (125 bytes),
//!    a UTF-8 carry (3 bytes), frame and message counters. `size_of::<Connection>()` is at most
//!    192 bytes (tested).
//! 3. Any chunking of the input gives the same events, payload bytes (joined), error and output
//!    (tested whole, byte by byte and in random chunks, error cases included).
//! 4. Bad input never panics and never grows memory: every limit is a [`Config`](crate::Config)
//!    field; every violation is a typed error with its close code or HTTP status.
//! 5. Nothing handed in is lost: [`Received::consumed`](crate::Received::consumed) says exactly how
//!    many bytes were used, and `Request::len()`/`Response::len()` say where frames start after a
//!    handshake head.
//! 6. Randomness comes from the caller ([`RandomSource`](crate::RandomSource)); a server has
//!    [`NoRandom`](crate::NoRandom) and never draws.
//!
//! # Where the API departs from the first sketch, and why
//!
//! * **`receive` says why it paused.** Instead of `Status::Partial`, [`Recv`](crate::Recv) has
//!   `NeedInput` (read more), `NeedFlush` (a Pong is still queued and another Ping is next) and
//!   `Closed` (nothing more is received). Each asks the driver for a different action, so folding
//!   them into one "partial" would make the driver guess.
//! * **Events borrow the input, not the connection.** `receive<'a>(&mut self, input: &'a mut [u8])
//!   -> Received<'a>`: a driver can send (for example echo the payload) while it still holds the
//!   event.
//! * **Data payloads are handed back mutable.** [`Event::Data`](crate::Event::Data)'s `payload` is
//!   `&'a mut [u8]`, a slice of the input already unmasked in place, so a driver can forward or
//!   echo it in place ([`send_header`](crate::Connection::send_header) +
//!   [`send_payload`](crate::Connection::send_payload), which masks it in place for a client)
//!   without a copy, and a layer can transform it in place. The price: `Event`, `Recv` and
//!   `Received` are no longer `Copy` or `Clone` (a mutable borrow cannot be duplicated); they
//!   stay `Debug`, `PartialEq` and `Eq`.
//! * **A data piece says how much of its frame is still to come.** `frame_remaining` is the
//!   number of payload bytes of the current frame after this piece (`frame_done` is
//!   `frame_remaining == 0`), so a layer can reserve once per frame, or know that a piece which
//!   starts a frame and has nothing remaining holds that whole frame. The frame's total length
//!   is not reported: it would take 8 more bytes of connection state, past the 192-byte bound,
//!   and the first piece's `payload.len() + frame_remaining` gives it to a layer that tracks
//!   frame starts.
//! * **Extensions own RSV bits; the connection only checks where they go.** A connection holds
//!   one byte, the set of RSV bits ([`Rsv`](crate::Rsv)) that the extensions agreed in the
//!   handshake own, set by [`Connection::with_extension_bits`](crate::Connection::with_extension_bits)
//!   (the handshakes call it). Owned bits are accepted on the first frame of a data message only,
//!   which is what a per-message extension (RFC 7692 6) asks; on a continuation or a control
//!   frame, or unowned, a bit fails with 1002 as before. They are reported as `rsv` on every
//!   piece of the message, and the send side sets them on a message's first frame through
//!   [`send_frame_with`](crate::Connection::send_frame_with) and
//!   [`send_header_with`](crate::Connection::send_header_with) (the `send`, `send_frame` and
//!   `send_header` signatures are unchanged). A text message whose first frame has such a bit is
//!   not validated as UTF-8 by the connection: its payload is the extension's encoding, and the
//!   layer validates what it decodes. A bit field rather than a `compressed: bool`, so that the
//!   hook is not deflate's alone; for deflate, `rsv.contains(Rsv::RSV1)` is "compressed". No
//!   extension state lives in the connection: its size stays 192 bytes.
//! * **A layer fails the connection with its own code, and no reason.**
//!   [`Connection::fail`](crate::Connection::fail) takes a close code (1007 for bad compressed
//!   data or inflated text, 1008 policy, 1009 an assembler's limit, 1010 a missing extension)
//!   and does what a protocol error does: `Failed`, the Close queued for `poll_transmit`, then
//!   `Closed`. It stores the code only: a reason would need up to 123 more bytes, the 125-byte
//!   Pong slot cannot lend them (an owed Pong still goes out first), and the Close the connection
//!   sends for its own protocol errors carries no reason either. [`close`](crate::Connection::close)
//!   remains the way to send a reason.
//! * **Extension negotiation is generic and typed, and the layer decides.** A client offers
//!   with [`ClientRequest::extensions`](crate::handshake::ClientRequest::extensions) (each entry
//!   one extension with parameters, checked against the grammar; the header stays reserved for
//!   extra headers, so it is written once). The core enforces what RFC 6455 4.1 and 9.1 say of
//!   the answer (only offered extensions, none twice: `ExtensionNotOffered`,
//!   `ExtensionRefused`); what the parameters mean is the layer's, so
//!   [`finish_with_extensions`](crate::handshake::ClientHandshake::finish_with_extensions) hands
//!   the response to a closure that returns the RSV bits the agreed extensions own, or refuses.
//!   Plain `finish` agrees to no extension. A server answers with
//!   [`Accept::extension`](crate::handshake::Accept::extension)`(value, bits)`, refused unless
//!   each extension named was offered, once. A closure and a value rather than an extension
//!   trait: the core need not know a layer's types, and a no-alloc build pays nothing.
//! * **permessage-deflate is a layer beside the connection, and glue makes it a few calls.**
//!   [`deflate::Deflate`](crate::deflate::Deflate) owns the compressor, the inflater and two
//!   buffers; the connection keeps its one byte of extension bits and its 192 bytes. Negotiation
//!   is one value per role: `ServerNegotiation` holds the response in a fixed 128-byte buffer
//!   (no allocation, so an `Accept` can borrow it), and `ClientNegotiation::check` takes `&self`
//!   (its outcome in a `Cell`), because the request that borrows its offer lives in the handshake
//!   until `finish_with_extensions` runs the check. Choices in the layer:
//!   - Whole messages come from `Deflate::receive`, the shape of `Assembler::receive`
//!     (`Assembled` gained an error type parameter, defaulting to `ProtocolError`). Plain
//!     messages take the assembler's path unchanged (one UTF-8 pass, by the connection);
//!     inflated ones are pushed into the assembler piece by piece with `Assembler::push`, which
//!     validates each piece as it is stored: again one pass, failing within one 16 KiB piece of
//!     the first bad byte, and never the unchecked path (see [One UTF-8 pass](#one-utf-8-pass)).
//!     A message that inflates within 16 KiB comes back from the layer's buffer without a copy.
//!   - Every error the layer meets fails the connection (`Connection::fail` with its code, 1007,
//!     1009 or 1011), the assembler's included, which `Assembler::receive` alone leaves open: a
//!     half-inflated message cannot be skipped, and the driver has one thing to do after any
//!     error, flush and stop.
//!   - Sending appends to a `Vec` only. Compressing is not transactional: the compressor's
//!     window has moved on once a message is compressed, so a slice too small could not be
//!     retried with the same bytes. Before compressing, the layer asks the connection whether it
//!     would take the frame (an empty dry run of `send_frame_with`: the encoders check state
//!     before room and change nothing on `BufferTooSmall`), so a refused send compresses
//!     nothing and the peer's inflater stays in step. Only a client's randomness failing after
//!     compression can leave them apart, and that fails the connection with 1011.
//!   - A fragmented message decides on its first fragment (`should_compress` of its length),
//!     and each compressed fragment ends with a sync flush, so the peer can inflate it at once.
//! * **One error type for drivers, and `io::Error` under `std`.** [`Error`](crate::Error) holds
//!   any of the crate's errors unchanged (`#[non_exhaustive]`, `Copy`, no `String` or `Box`),
//!   with `close_code()` and `http_status()` for the wire reaction. Each error type also converts
//!   into `std::io::Error` directly (through `Error`, which it wraps), because `?` does not
//!   chain two `From`s: a driver returning `io::Result`, as async runtimes do, needs no
//!   `map_err` on any call. The kinds say who is at fault: `InvalidData` for the peer,
//!   `InvalidInput` for local misuse, `BrokenPipe` for sending while closing,
//!   `ConnectionRefused` for a refused upgrade, `Other` for failed randomness.
//! * **Output into a `Vec` is a thin form of the slice encoders.** Under `alloc`,
//!   [`send_to_vec`](crate::Connection::send_to_vec), `send_frame_to_vec`, `close_to_vec` and
//!   [`poll_transmit_to_vec`](crate::Connection::poll_transmit_to_vec) (which drains everything
//!   owed) append to a caller `Vec`, growing it by exactly what is needed, through one helper,
//!   [`connection::encode_to_vec`](crate::connection::encode_to_vec), public for the encoders
//!   without a `_to_vec` form (`send_frame_with`, say). It relies on the encoders being
//!   transactional: called with an empty slice, an encoder reports the size it needs and
//!   changes nothing; then it writes into that many bytes appended to the `Vec`. Without
//!   `unsafe`, those bytes are zeroed before they are written (a `memset` of the frame); no
//!   allocation happens when the capacity suffices (tested).
//! * **Nothing public that nothing public returns.** The list parser's `Tokens`, `Extensions`
//!   and `ListError` are crate-private (the handshake hands out parsed
//!   [`Extension`](crate::handshake::Extension)s; a malformed list is
//!   `HandshakeError::InvalidHeaderList`), the scanners' `bytes_examined` counters exist in the
//!   unit tests only, and `Connection::rng_mut` is gone; `unreachable_pub` is warned on.
//! * **Headers and control frames are taken whole.** A frame header (up to 14 bytes) and a control
//!   frame (up to 139 bytes) are consumed only when complete, so the connection keeps no header
//!   buffer and no control-payload buffer for input; a 139-byte receive buffer is enough for any
//!   stream. Data payload is streamed in pieces of any size.
//! * **One queued Pong, and back-pressure instead of dropping.** Each Ping gets its own Pong in
//!   order. When a Ping arrives while the previous Pong is unflushed, `receive` consumes nothing
//!   and answers `NeedFlush`, so the state stays bounded and no Pong is lost.
//! * **Invalid text: the valid part first, then the error.** Byte-by-byte input cannot help
//!   delivering the bytes before an invalid one; for every chunking to give the same result,
//!   `receive` does the same with a larger piece: it delivers every byte before the first one at
//!   which the text can no longer be valid UTF-8 (an unfinished but so far valid character
//!   included; for a message that ends inside a character, every byte but its last) as a Data
//!   event consuming exactly those bytes, restores the rest of the piece as it was handed in, and
//!   fails with 1007 on the next call. Failing at once instead would mean that what the
//!   application saw before the error depended on how the bytes happened to be read.
//! * **Pongs keep their place.** A Pong owed for a received Ping goes out before any frame the
//!   application sends after that Ping arrived: `send`, `send_frame`, `send_header` and `close`
//!   write it in front of their own frame (their count includes it; for `send_header` the
//!   driver writes `out[..n]`, then the payload). Otherwise an echo server that completes a
//!   fragmented message after an interleaved Ping would echo first and answer the Ping second,
//!   and the bytes on the wire would depend on whether the driver happened to flush
//!   `poll_transmit` in between. It stays transactional: the Pong and the frame fit together or
//!   nothing is written, dequeued or drawn. The one exception is a frame being streamed with
//!   `send_payload`: a control frame cannot go inside it, so a Pong owed meanwhile waits for its
//!   end.
//! * **A Ping is answered until the peer's Close, not until ours.** RFC 6455 5.5.2 lets an
//!   endpoint skip the Pong only once it has *received* a Close; 5.5.1 forbids only data frames
//!   after sending one. So in [`State::CloseSent`](crate::State::CloseSent) a Ping still gets its
//!   automatic Pong through `poll_transmit`, and a Pong owed for a Ping that came before the
//!   peer's Close is written even once the state is `Closed` (dropping it would make the bytes
//!   depend on whether the driver flushed between the two frames).
//! * **Streaming sends go through the connection.** The sketch returned a detached `Masker` from
//!   `send_header`. Here [`send_payload`](crate::Connection::send_payload) masks chunks in place and
//!   counts them, so the connection knows when the frame ends: until then
//!   [`poll_transmit`](crate::Connection::poll_transmit) holds back queued control frames, which
//!   would otherwise land inside the frame's payload.
//! * **Accepting is on the request.** [`Request::accept`](crate::handshake::Request::accept) takes
//!   `&self`: the request is the value only a successful parse can make, and a too-small output
//!   buffer can be retried. The client's [`parse`](crate::handshake::ClientHandshake::parse) returns
//!   any complete response so a refusal can be inspected; [`finish`](crate::handshake::ClientHandshake::finish)
//!   validates it and consumes the handshake.
//! * **`poll_transmit` can fail with `SendError`,** not only `BufferTooSmall`: a client's Pong and
//!   Close need masking keys, and the caller's randomness source may fail.
//! * **Stricter framing.** Lengths not in their minimal encoding are rejected with 1002 (RFC 6455
//!   5.2 says "MUST"); peers in practice encode minimally.
//! * **Statuses.** A non-`GET` request gets 405 with `Allow: GET`; a request without
//!   `Upgrade: websocket` gets 426 (and a server that also serves plain HTTP recognises it as
//!   [`HandshakeError::NotUpgrade`](crate::HandshakeError::NotUpgrade)).
//! * **The HTTP/1.1 around the upgrade is strict.** A `Host` must be `uri-host [ ":" port ]`
//!   (RFC 7230 5.4; checked by the same function the client uses on the `Host` it writes). A
//!   request that announces a body (`Content-Length` other than 0, any `Transfer-Encoding`) gets
//!   400, because its body would be read as frames. `Expect: 100-continue` is met: `accept` writes
//!   `100 Continue` and the `101` into the same output (RFC 7230 6.7), so the accept stays one
//!   transactional write. Any other expectation gets 417 (RFC 7231 5.1.1 allows it, and a client
//!   waiting for an expectation to be met is better told at once than left waiting). A plain
//!   HTTP/1.0 `GET` (no `Host` needed) is `NotUpgrade` like a plain 1.1 one, so a server can serve
//!   it a page; an HTTP/1.0 request that asks to upgrade is `HttpVersion`.
//! * **The client reads responses as RFC 7230 asks of a user agent.** Interim responses (1xx other
//!   than 101) before the 101 are parsed and skipped (RFC 7231 6.2); they count against the head
//!   limit together with the 101, so their number is bounded, and the scanner resumes where each
//!   ended, so no byte is scanned twice. `Response::len()` counts them: frames start after the
//!   101. A folded header line (obs-fold) is accepted, and CR and LF in a value are read as the
//!   spaces the fold stands for (RFC 7230 3.2.4); `httparse` hands the value out unchanged, so the
//!   list parser's whitespace includes CR and LF (they cannot occur in a value otherwise). The
//!   101's `Upgrade` must be exactly `websocket` (RFC 6455 4.1), not a list containing it.
//! * **The client writes what RFC 3986 allows.** The `Host` is checked with the server's
//!   validator and refused with `InvalidHost`; no IDNA conversion is done (that needs tables
//!   this crate does not carry). The request target is percent-encoded rather than refused
//!   where it holds bytes outside the path and query grammar, the way browsers send a URL typed
//!   with spaces or non-ASCII; existing `%XX` sequences are kept so an encoded target goes out
//!   as given, and a stray `%` becomes `%25`. A `#` is still refused: it starts a fragment, which
//!   a WebSocket URI may not have.
//! * **`httparse` is a public dependency.** [`handshake::Header`](crate::handshake::Header) is its
//!   type, so a header array needs no conversion.
//!
//! # Handshakes another HTTP stack carries
//!
//! [`handshake::upgraded`](crate::handshake::upgraded) serves RFC 8441 (HTTP/2) and RFC 9220
//! (HTTP/3) extended CONNECT, and HTTP/1.1 upgrades parsed by a server the user already has.
//! The decisions:
//!
//! * **Header pairs in, header pairs out.** A request comes as `&[Header]` (`httparse`'s
//!   `name: &str, value: &[u8]`, already the crate's header type), pseudo-header fields first:
//!   an `h2`/`http` user makes five pairs from the method, URI and `Protocol` extension and maps
//!   the header map; an HTTP/3 or hand-rolled HPACK/QPACK decoder has the flat list already.
//!   A slice rather than an iterator, because the validated request keeps borrowing it (for
//!   `protocols()`, `extensions()`, `header()`), as `Request` borrows its header array. The
//!   response is a [`ResponseHead`](crate::handshake::upgraded::ResponseHead): a status and an
//!   iterator of pairs borrowing the `Accept` and static strings, holding the one computed
//!   value (the 28-byte `sec-websocket-accept`) itself. No caller array and no
//!   `BufferTooSmall`: the stack copies the pairs into its own response type anyway. The client's
//!   request is an iterator too, and repeats `sec-websocket-protocol` and
//!   `sec-websocket-extensions` once per offer instead of joining them, which needs no buffer
//!   and which RFC 6455 11.3.2 and 11.3.4 allow in a request; a server reads them joined.
//! * **One validation per protocol.** `Request::from_parsed` goes through the same function as
//!   `ServerHandshake::parse` (and `accept_head` through the same accept checks as `accept`),
//!   so a hyper-parsed request is judged exactly as a raw one (a unit test compares them head
//!   by head). Extended CONNECT has its own rules, checked in one pass like the HTTP/1.1 ones,
//!   with the `Host` validator, the list grammar and the accept checks shared.
//! * **Peer faults and local misuse stay apart.** `ConnectRequest::validate` fails with
//!   [`ConnectError`](crate::handshake::upgraded::ConnectError), each variant with its status
//!   and response fields; `accept` (a subprotocol not offered, a header that cannot be sent)
//!   fails with `HandshakeError`, as `Request::accept` does. A new type rather than new
//!   `HandshakeError` variants because most causes exist only in HTTP/2 (pseudo-header
//!   fields, connection-specific fields, `:protocol`) and `MethodNotGet` would be wrong for a
//!   CONNECT; it converts into `io::Error` under `std`.
//! * **Statuses.** A version other than 13 is 400 with `sec-websocket-version: 13`, not 426:
//!   RFC 6455 4.2.2 asks for "an appropriate HTTP error code (such as 426)" naming the version,
//!   and a 426 must carry `Upgrade`, which HTTP/2 forbids. A method other than `CONNECT` is 405
//!   with `allow: CONNECT`; a `CONNECT` without `:protocol` (a tunnel request) is 400; another
//!   `:protocol` is 501. The fields that make an HTTP/2 request malformed (RFC 9113 8.2 and 8.3:
//!   misplaced, repeated or unknown pseudo-header fields, uppercase names, control bytes,
//!   connection-specific fields, `te` other than `trailers`) are checked although HTTP/2
//!   stacks refuse most of them first: the helper also serves stacks that do not.
//! * **Comparisons.** `:method` is case-sensitive (RFC 9110 9.1). `:protocol` is compared
//!   ASCII case-insensitively: RFC 8441 4 takes its values from the Upgrade Token Registry,
//!   whose tokens RFC 9110 7.8 says to match case-insensitively, as RFC 6455 4.2.1 does for
//!   `Upgrade: websocket`. `:scheme` too (RFC 3986 3.1). A `host` field, if sent, must name the
//!   `:authority` (RFC 9113 8.3.1).
//! * **No key, no accept.** A `sec-websocket-key` in an extended CONNECT is ignored, not
//!   refused: RFC 8441 5 says implementations "do not do the processing" of the key and the
//!   accept, so a client that sends one anyway is not wrong, and nothing is answered to it.
//! * **Success is 2xx for the client.** The server sends 200; the client accepts any 2xx,
//!   because RFC 9110 9.3.6 says any 2xx to a CONNECT opens the tunnel.
//! * **The connection is the same.** Both paths end in `Connection::server` or
//!   `Connection::client` with the bits of `Accept::extension` or of the client's extension
//!   check, so a permessage-deflate layer plugs in the way it does over HTTP/1.1. The
//!   extended-CONNECT client draws no randomness for the handshake (there is no key), so its
//!   `RandomSource` comes with `finish`. Over HTTP/2 the end of the stream (END_STREAM) stands
//!   for TCP's FIN: the server ends its side after the closing handshake, and keeps reading
//!   until the client ends its side (an `h2` server that drops the stream earlier resets it).
//!
//! # One UTF-8 pass
//!
//! The connection validates text as it streams (failing at the first invalid byte), so
//! [`message::Assembler`](crate::message::Assembler) must not validate it again to recover a
//! `&str`: that second pass was 46% of the time of 16-byte messages and about 40% of 64 KiB
//! ones. [`Assembler::receive`](crate::message::Assembler::receive) therefore calls
//! `Connection::receive` itself, so every text piece it stores is known to come from a
//! connection's validator, and hands the text out with `core::str::from_utf8_unchecked`, in
//! `src/unchecked.rs`, the only module allowed `unsafe` (the crate root is
//! `#![deny(unsafe_code)]`).
//!
//! What makes it sound, in brief (the whole argument is beside the block):
//!
//! * A piece from the connection is a run of a text the validator accepted up to the run's end;
//!   the assembler checks where runs join, and the bytes of the carried character, so a run taken
//!   from the middle of another text (a driver that receives some pieces by hand, or mixes
//!   connections) fails with 1007 instead of joining. These checks read at most 8 bytes a piece.
//! * Anything handed to [`Assembler::push`](crate::message::Assembler::push) (pieces from
//!   elsewhere) is validated in full, as it arrives.
//! * [`MessageBuffer`](crate::message::MessageBuffer) is sealed (`Vec<u8>` and `ArrayVec<u8, N>`),
//!   so the buffer returns exactly what was appended; `buffer_mut` drops a message in progress.
//! * Debug builds check every conversion with `core::str::from_utf8`, and a differential fuzz
//!   target (`fuzz/fuzz_targets/assembler.rs`) compares the assembler with `from_utf8` on the
//!   joined payload, including drivers that bypass it.
//!
//! The guarantee rests on the connection's: text on [`Event::Data`](crate::Event::Data) has been
//! validated up to the end of the piece. A layer that hands the connection's pieces on
//! transformed (for example inflated) must not report them to the assembler as validated, and
//! does not: only `Assembler::receive` and `deflate::Deflate::receive` take pieces as validated,
//! both straight from their own `Connection::receive` call and only without extension bits;
//! inflated text goes through `Assembler::push`, which validates it.
//!
//! # Masking keys
//!
//! A client draws a 4-byte masking key per frame. [`OsRandom`](crate::OsRandom) draws 256 bytes
//! from the operating system per system call and hands each byte out once, so a million client
//! sends cost one call per 64 frames (about 15,600 calls) instead of a million; the keys are the
//! operating system's bytes, as unpredictable as before (RFC 6455 10.3). The block lives in the
//! source, so `size_of::<Connection<OsRandom>>()` is 448 bytes on 64-bit targets against 192 for a
//! server's `Connection`. Alternatives weighed: a boxed block would need `alloc` and an allocation
//! per connection to save 250 bytes; a user-space CSPRNG seeded from the OS (ChaCha) keeps about as
//! much state (a 32-byte key plus a 64-byte output block) and adds a cipher to trust, for a
//! difference of nanoseconds per frame. A clone starts empty, so two sources never share keys.
//!
//! # No panic paths
//!
//! The library code is linted with `deny` for `clippy::indexing_slicing`, `clippy::panic`,
//! `clippy::unwrap_used`, `clippy::expect_used`, `clippy::unreachable`, `clippy::todo` and
//! `clippy::unimplemented` (tests are exempt), so a panic path cannot be added silently: every
//! access goes through `get`, `split_at_mut` after a length check, or a fixed-size array with a
//! constant index.
//!
//! `clippy::arithmetic_side_effects` is deliberately left out. Its hits are sums of header sizes
//! (at most 14) and of lengths already checked against a buffer; the one sum fed by the peer (a
//! message's total length) uses `checked_add`. Overflow is caught dynamically instead: the tests
//! and the fuzzers run with overflow checks on (`cargo fuzz run -a`), so an overflow on any
//! reachable path panics under fuzzing and would be found.
//!
//! # Performance notes
//!
//! * Receive unmasks in place, a machine word at a time, and copies nothing.
//! * Text is validated by `simdutf8` (AVX2 or SSE4.2 chosen at run time under `std`) with an ASCII
//!   fast path; only a character split between pieces goes through a 3-byte carry.
//! * Sending a whole message copies and masks in one pass; streaming sends mask in place.
//! * No allocation anywhere in the connection or the handshake (`tests/allocations.rs` counts them
//!   with a global allocator); reassembly grows one `Vec` and reuses it.
//! * Reassembled text is not validated a second time (see [One UTF-8 pass](#one-utf-8-pass)), and a
//!   client's masking keys cost no system call per frame (see [Masking keys](#masking-keys)).
//! * **Short paths for the common frame.** `Connection::receive` first tries one short inlined
//!   path for a whole unfragmented data frame of at most 65,535 bytes (no RSV bits, masked as the
//!   role requires, within the limits, no message in progress, complete in the input), and
//!   `Connection::send` one for a server's data message of at most 125 bytes with nothing owed.
//!   Everything else, every error included, goes to the general path unchanged (invalid text is
//!   masked back first, so the general path delivers its valid prefix and fails as before): the
//!   short paths decide only *how fast*, never *what*. Measured with callgrind on 200,000 masked
//!   16-byte text frames through `Assembler::receive`: 349 instructions a frame before, 196 after;
//!   a 16-byte server send is 16 instructions including the copy. That copy is done in fixed-size
//!   overlapping steps of 16, 8 or 4 bytes (`copy_short`): with the length known only at run
//!   time, `copy_from_slice` became a `memcpy` call, and the send took 1.6x a hand-written
//!   fixed-size copy in peerbench's W5a (789 against 427 us; after, 529 to 621 us).
//! * **SHA-1 in hardware where there is some.** A server handshake was a third SHA-1 with
//!   `sha1_smol` (perf on W6). On x86 and x86-64 the accept key uses RustCrypto's `sha1` (no_std,
//!   SHA-NI detected at run time through CPUID, its portable code otherwise) with the two padded
//!   blocks of a 24-byte key laid out directly; every other target keeps `sha1_smol`, which is
//!   dependency-free and has no hardware path to lose there, so the embedded build is unchanged.
//!   A unit test compares the two for keys of every length up to 256 bytes.
//! * **Base64 by hand, for two sizes.** The key (16 bytes) and the accept value (20 bytes) are the
//!   only base64 in the protocol; a general engine's set-up cost more than the work (perf on W6:
//!   the crate's encode and decode were about 10% of a handshake), so `src/handshake/base64.rs`
//!   encodes with the standard alphabet and checks a key by table, and a unit test holds both to
//!   the `base64` crate (now a dev-dependency) on random inputs and 20,000 mutated keys. The
//!   response's length is counted up front, so it is written in one pass.
//! * **One pass over a head that arrives whole.** `ServerHandshake::parse` hands the first call's
//!   input to httparse directly; only a head that is unfinished, malformed or too large goes
//!   through the incremental scanner (which then looks at each byte once), so results are the
//!   same in every chunking. Host and key stay bytes (ASCII by their grammars) until asked for.
//! * **No SIMD masking.** Measured in one run (`benches/RESULTS.md`, C1-L2): on cache-resident
//!   data, where a decoder unmasks (the bytes were just read into its buffer), the word loop runs
//!   at 44.6 GB/s and AVX2 at 44.5 GB/s. Only over 16 MiB streamed from memory (C1) does AVX2 win
//!   (1.16x), and no decoder unmasks that way; a copy-and-mask into a 64 KiB buffer runs at memcpy
//!   speed. No measured win pays for a second `unsafe` module, so masking stays portable.
//! * **Masking from a 16-byte boundary.** A payload sits behind a header of 2 to 14 bytes, so it
//!   seldom starts on one, and the word loop's vector accesses then straddle cache lines: a
//!   64 KiB unmask in L2 took 1.85 us at every unaligned start tried against 1.42 us aligned, and
//!   a 64 KiB copy-and-mask 3.2 against 2.4 us with the output unaligned (the input's alignment
//!   mattered less). `mask_long` and `copy_masked` first mask the few bytes up to the boundary
//!   (of the output, for the copy); still portable and safe (`align_offset`).
//! * **Whole messages, asked for in the configuration.** With the documented 64 KiB receive
//!   buffer a 64 KiB message never lay whole in it, so the assembler copied every one; and a
//!   driver that asked [`Connection::whole_frame_len`](crate::Connection::whole_frame_len) first
//!   decoded each header twice. [`Config::whole_messages_up_to`](crate::Config::whole_messages_up_to)
//!   moves the choice into `receive`: a message sent in one frame of at most that many bytes is
//!   delivered only when all of it is in the input (`NeedInput`, nothing consumed, until then),
//!   after its header has passed every check, so no rule or limit waits for a payload. It is a
//!   count, not a flag, because only the driver knows its buffer, and a frame larger than the
//!   buffer must stream. The frames of a fragmented message are not held back: the first version
//!   held every short frame, and in W4 (64 KiB messages in 4 KiB fragments) that cost 11%
//!   (3.74 against 3.36 ms), because a fragment cut by the end of a read was moved to the front
//!   of the buffer and then copied again into the message. It costs 4 bytes of state, paid for by
//!   packing three booleans and whether a Close is queued into one byte of flags, so `Connection`
//!   stays at 192 bytes. Default 0, so a driver that never reads more than it must (an embedded
//!   one with a 139-byte buffer) sees no change.
