//! The embedded echo served over TCP: the loop of `examples/embedded` (the same source file,
//! included below) with the same fixed buffers, 512 bytes to receive into and 160 to write into
//! per connection, and no allocation in the protocol path. Messages of any size are echoed piece
//! by piece.
//!
//! ```text
//! cargo run --example fixed_echo_server -- [ADDR] [--idle SECONDS]
//! ```
//!
//! * `ADDR`: where to listen, default `127.0.0.1:9002` (port 0 picks a free one). The address is
//!   printed as `listening on IP:PORT`.
//! * `--idle SECONDS`: a connection silent this long is closed with 1001 (going away), default 60.
//!
//! One thread per connection; the server closes TCP after the closing handshake (RFC 6455 7.1.1).
//! An upgrade request longer than 512 bytes gets 431.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

#[path = "embedded/src/echo.rs"]
mod echo;

use echo::{Buffers, Transport};

const USAGE: &str = "usage: fixed_echo_server [ADDR] [--idle SECONDS]";

impl Transport for TcpStream {
    type Error = io::Error;

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match Read::read(self, buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return result,
            }
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        Write::write_all(self, buf)
    }

    fn is_timeout(error: &io::Error) -> bool {
        // `WouldBlock` on Unix, `TimedOut` on Windows.
        matches!(
            error.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        )
    }
}

fn main() -> ExitCode {
    let mut addr = "127.0.0.1:9002".to_owned();
    let mut idle = Duration::from_secs(60);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--idle" => match args.next().and_then(|s| s.parse::<f64>().ok()) {
                Some(secs) if secs > 0.0 && secs.is_finite() => {
                    idle = Duration::from_secs_f64(secs);
                }
                _ => {
                    eprintln!(
                        "fixed_echo_server: --idle needs a positive number of seconds\n{USAGE}"
                    );
                    return ExitCode::from(2);
                }
            },
            flag if flag.starts_with('-') => {
                eprintln!("fixed_echo_server: unknown option {flag}\n{USAGE}");
                return ExitCode::from(2);
            }
            _ => addr = arg,
        }
    }
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("fixed_echo_server: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(local) => println!("listening on {local}"),
        Err(e) => {
            eprintln!("fixed_echo_server: {e}");
            return ExitCode::FAILURE;
        }
    }
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                thread::spawn(move || serve(stream, idle));
            }
            Err(e) => eprintln!("fixed_echo_server: accept failed: {e}"),
        }
    }
    ExitCode::SUCCESS
}

/// One connection: the embedded loop, then the server closes TCP first.
fn serve(mut stream: TcpStream, idle: Duration) {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    // Each frame goes out as soon as it is encoded; the idle limit bounds every read.
    if let Err(e) = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(Some(idle)))
        .and_then(|()| stream.set_write_timeout(Some(idle)))
    {
        eprintln!("fixed_echo_server: {peer}: {e}");
        return;
    }
    let mut buffers = Buffers::new();
    if let Err(e) = echo::serve(&mut stream, &mut buffers) {
        eprintln!("fixed_echo_server: {peer}: {e}");
    }
}
