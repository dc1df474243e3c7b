//! An interactive client: every line typed is sent as a text message, and everything the server
//! sends is printed.
//!
//! ```text
//! cargo run --example client -- ws://HOST:PORT/
//! ```
//!
//! Received text prints as a line, binary as `<binary N bytes>`, pings, pongs and the Close as
//! `<ping ...>`, `<pong ...>` and `<close CODE REASON>`. At the end of input (Ctrl-D) the client
//! sends Close 1000 and waits up to 5 seconds for the server's Close. Exit status: 0 after a
//! closing handshake, 1 if the connection failed, 2 for bad arguments.
//!
//! Two threads share one [`Connection`]: this thread reads the socket, and a second one reads
//! stdin. Both only touch the connection under one mutex, and write what they encode to the socket
//! before letting go of it, so frames reach the socket whole and in the order they were encoded.
//! (Writing under the lock keeps this short. A program that sends a lot would rather hand the
//! encoded bytes to a writer thread, still under the lock, so that a slow write never holds up the
//! reading thread.)

use std::io::{self, BufRead, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use sockless::frame::{MAX_CONTROL_FRAME_LEN, MAX_HEADER_LEN};
use sockless::handshake::{ClientHandshake, ClientRequest, EMPTY_HEADER};
use sockless::{CloseCode, Config, Connection, DataKind, Event, OsRandom, Recv, State, Status};

#[path = "common/url.rs"]
mod url;
use url::{connect, parse_url, Url};
#[path = "common/write.rs"]
mod write;
use write::write_all_vectored;

const USAGE: &str = "usage: client ws://HOST[:PORT][/PATH]";

/// How long the server may take to answer the upgrade request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the server's answer to our Close, and for the server to close TCP.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a single write may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// For the setup and the messages shown to the user. The socket and connection code returns
/// `io::Result`: every sockless error converts into `io::Error` (`InvalidData` for what the
/// server got wrong), so `?` takes sockless calls and socket calls alike, without `map_err`.
type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = match args.as_slice() {
        [flag] if flag == "-h" || flag == "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        [url] => parse_url(url, "ws", 80),
        _ => Err("expected one ws:// URL".to_owned()),
    };
    let url = match url {
        Ok(url) => url,
        Err(msg) => {
            eprintln!("client: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&url) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("client: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The connection and the socket's write side, shared by both threads.
struct Shared {
    conn: Connection<OsRandom>,
    writer: TcpStream,
}

impl Shared {
    /// Writes everything the connection owes the server: automatic Pongs and the Close reply.
    fn flush_owed(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 512];
        loop {
            let n = self.conn.poll_transmit(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            self.writer.write_all(&buf[..n])?;
        }
    }

    /// Sends one line as a text message. The line is ours to change, so it needs no copy: encode
    /// the header, mask the payload in place, and write both with one vectored write.
    fn send_line(&mut self, line: &mut [u8]) -> io::Result<()> {
        // Room for a Pong still owed, which goes out in front of the header.
        let mut header = [0u8; MAX_CONTROL_FRAME_LEN + MAX_HEADER_LEN];
        let n = self
            .conn
            .send_header(DataKind::Text, line.len() as u64, true, &mut header)?;
        self.conn.send_payload(line)?;
        write_all_vectored(
            &mut self.writer,
            &mut [IoSlice::new(&header[..n]), IoSlice::new(line)],
        )
    }

    fn close(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 256];
        let n = self.conn.close(CloseCode::NORMAL, "", &mut buf)?;
        self.writer.write_all(&buf[..n])
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // Neither thread panics while holding the lock, but do not turn one panic into two.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

fn run(url: &Url) -> Result<()> {
    // The opening handshake, as in the echo_client example.
    let mut out = [0u8; 1024];
    let request = ClientRequest::new(&url.authority, &url.target);
    let (mut handshake, n) =
        ClientHandshake::new(request, Config::default(), OsRandom::new(), &mut out)?;
    let mut stream = connect(url)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.write_all(&out[..n])?;

    let mut rbuf = vec![0u8; 64 * 1024];
    let mut filled = 0;
    let (conn, head_len) = loop {
        let n = read(&mut stream, &mut rbuf[filled..])
            .map_err(|e| format!("no answer to the upgrade request: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection during the handshake".into());
        }
        filled += n;
        let mut headers = [EMPTY_HEADER; 64];
        let Status::Complete(response) = handshake.parse(&rbuf[..filled], &mut headers)? else {
            continue;
        };
        if response.status() != 101 {
            let (status, reason) = (response.status(), response.reason());
            return Err(format!("the server refused the upgrade: {status} {reason}").into());
        }
        let head_len = response.len();
        break (handshake.finish(&response)?, head_len);
    };
    rbuf.copy_within(head_len..filled, 0);
    filled -= head_len;
    // An interactive session may stay quiet for as long as the user likes.
    stream.set_read_timeout(None)?;
    eprintln!(
        "client: connected to {}; type lines to send, Ctrl-D to close",
        url.authority
    );

    let shared = Arc::new(Mutex::new(Shared {
        conn,
        writer: stream.try_clone()?,
    }));
    {
        let shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("stdin".to_owned())
            .spawn(move || stdin_thread(&shared))?;
    }
    read_loop(&shared, &mut stream, &mut rbuf, filled)?;

    // The closing handshake is over; the server closes TCP first (RFC 6455 7.1.1). Wait for that a
    // little, then close it ourselves.
    stream.set_read_timeout(Some(CLOSE_TIMEOUT))?;
    while let Ok(n) = read(&mut stream, &mut rbuf) {
        if n == 0 {
            break;
        }
    }
    Ok(())
}

/// Reads stdin and sends each line as a text message; at the end of input, sends Close 1000 and
/// gives the server a few seconds to answer.
fn stdin_thread(shared: &Mutex<Shared>) {
    let mut stdin = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {
                while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                    line.pop();
                }
                // A text message must be UTF-8.
                if std::str::from_utf8(&line).is_err() {
                    eprintln!("client: not sent: the line is not UTF-8");
                    continue;
                }
                // The line is masked in place: it is not used again.
                if let Err(e) = lock(shared).send_line(&mut line) {
                    eprintln!("client: not sent: {e}");
                    return;
                }
            }
            Err(e) => {
                eprintln!("client: cannot read stdin: {e}");
                break;
            }
        }
    }
    let sent = {
        let mut shared = lock(shared);
        match shared.conn.state() {
            State::Open => shared.close(),
            _ => return, // the server is closing already; the reading thread finishes up
        }
    };
    if let Err(e) = sent {
        eprintln!("client: cannot send Close: {e}");
        return;
    }
    // The reading thread sees the server's Close and ends the program. If it does not come in
    // time, stop waiting: shutting the socket down makes the reading thread's read return.
    thread::sleep(CLOSE_TIMEOUT);
    let shared = lock(shared);
    if shared.conn.state() != State::Closed {
        let _ = shared.writer.shutdown(Shutdown::Both);
    }
}

/// Reads the socket and hands the bytes to the connection until the closing handshake is over.
fn read_loop(
    shared: &Mutex<Shared>,
    stream: &mut TcpStream,
    rbuf: &mut [u8],
    mut filled: usize,
) -> Result<()> {
    let mut msg = Vec::new();
    loop {
        {
            // The lock is held while the bytes read are handled, not while reading.
            let mut shared = lock(shared);
            let mut pos = 0;
            let mut failure = None;
            while pos < filled {
                let r = shared.conn.receive(&mut rbuf[pos..filled]);
                pos += r.consumed;
                match r.result {
                    Ok(Recv::Event(event)) => print_event(event, &mut msg),
                    Ok(Recv::NeedFlush) => shared.flush_owed()?,
                    Ok(Recv::NeedInput | Recv::Closed) => break,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            rbuf.copy_within(pos..filled, 0);
            filled -= pos;
            shared.flush_owed()?;
            if let Some(e) = failure {
                return Err(format!("protocol error: {e}; sent close {}", e.close_code().0).into());
            }
            if shared.conn.state() == State::Closed {
                return Ok(());
            }
        }
        if filled == rbuf.len() {
            return Err("receive buffer full".into());
        }
        match read(stream, &mut rbuf[filled..]).map_err(|e| format!("connection lost: {e}"))? {
            0 if lock(shared).conn.state() == State::CloseSent => {
                return Err("the server did not answer our Close".into())
            }
            0 => return Err("the server closed TCP without a closing handshake".into()),
            n => filled += n,
        }
    }
}

/// Prints what the server sent. Text and binary messages are reassembled in `msg` first.
fn print_event(event: Event<'_>, msg: &mut Vec<u8>) {
    let mut stdout = io::stdout().lock();
    // Printing fails only if stdout is gone (a closed pipe); keep the connection going anyway.
    let _ = match event {
        Event::Data {
            kind,
            payload,
            message_done,
            ..
        } => {
            msg.extend_from_slice(payload);
            if !message_done {
                return;
            }
            let printed = match kind {
                DataKind::Text => writeln!(stdout, "{}", String::from_utf8_lossy(msg)),
                DataKind::Binary => writeln!(stdout, "<binary {} bytes>", msg.len()),
            };
            msg.clear();
            printed
        }
        Event::Ping(p) => writeln!(stdout, "<ping {:?}>", String::from_utf8_lossy(p)),
        Event::Pong(p) => writeln!(stdout, "<pong {:?}>", String::from_utf8_lossy(p)),
        Event::Close(Some(f)) if f.reason.is_empty() => writeln!(stdout, "<close {}>", f.code.0),
        Event::Close(Some(f)) => writeln!(stdout, "<close {} {:?}>", f.code.0, f.reason),
        Event::Close(None) => writeln!(stdout, "<close without a code>"),
    };
    let _ = stdout.flush();
}

/// One read; a timeout is an error here.
fn read(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}
