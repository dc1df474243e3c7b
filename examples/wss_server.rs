//! A `wss://` echo server: the same sockless server as `echo_server`, inside TLS (rustls, with
//! the ring crypto provider), on blocking `std::net`, one thread per connection.
//!
//! ```text
//! cargo run --release --example wss_server -- [ADDR] [--max-message BYTES] [--protocol NAME]...
//!     [--cert PATH --key PATH | --cert-out PATH] [--allow-origin ORIGIN]...
//! ```
//!
//! * `ADDR`, `--max-message`, `--protocol` and `--allow-origin`: as for `echo_server`. Once bound,
//!   the server prints `listening on IP:PORT` on stdout.
//! * `--cert PATH --key PATH`: the certificate chain (PEM, the server's own certificate first) and
//!   its private key (PEM: PKCS#8, PKCS#1 or SEC1).
//! * Otherwise the server makes a self-signed certificate at start, for `localhost`, `127.0.0.1`,
//!   `::1` and the address it listens on, and with `--cert-out PATH` writes it there (PEM) before
//!   it prints `listening on`, so that a client can trust it (`wss_client --ca PATH`, or Python's
//!   `ssl.create_default_context(cafile=PATH)`).
//!
//! A request that is not a WebSocket upgrade gets its error status (426 for a plain `GET`).
//!
//! Why rustls' blocking [`StreamOwned`] and not its `unbuffered` API: sockless already is the
//! sans-IO part, and the driver wants a byte stream under it. `StreamOwned` is that stream, so
//! the WebSocket loop is the one of a plain TCP server, unchanged (`common/stream_echo.rs`, shared
//! with `wss_client`). The unbuffered API would make this file a second state machine of TLS
//! records, buffers and `discard` counts in front of sockless's own, for no gain in a blocking
//! driver: both copy each byte once (TLS decrypts into its buffer, from which we read; we encode
//! into ours, which TLS encrypts).
//!
//! This is a compact example, not the hardened `echo_server`: its timeouts are per read and per
//! write (10 s for the TLS and HTTP handshakes, 60 s when open), and it does not cap connections.

use std::io::{self, Write};
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use sockless::handshake::{Accept, ServerHandshake, EMPTY_HEADER};
use sockless::{Config, Status};

#[path = "common/cli.rs"]
mod cli;
#[path = "common/limits.rs"]
mod limits;
#[path = "common/origin.rs"]
mod origin;
#[path = "common/stream_echo.rs"]
mod stream_echo;
use stream_echo::{Result, Wire, RBUF_LEN, WBUF_LEN};

const USAGE: &str = "usage: wss_server [ADDR] [--max-message BYTES] [--protocol NAME]...\n\
     \x20                 [--cert PATH --key PATH | --cert-out PATH] [--allow-origin ORIGIN]...\n\
     \n  ADDR                   address to listen on (default 127.0.0.1:9443)\
     \n  --max-message BYTES    largest message and frame accepted (default 16777216)\
     \n  --protocol NAME        a subprotocol to support; may repeat\
     \n  --cert PATH            certificate chain, PEM (with --key)\
     \n  --key PATH             private key, PEM (with --cert)\
     \n  --cert-out PATH        without --cert: write the self-signed certificate made at start here\
     \n  --allow-origin ORIGIN  an origin whose pages may connect (403 for others); may repeat;\
     \n                         requests without Origin are served (default: allow all)";

/// The timeout of each read and write until the WebSocket is open (TLS and HTTP handshakes).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The timeout of each read and write once it is open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server waits for the client's FIN after its own.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// The most bytes read and dropped while waiting for that FIN.
const MAX_DRAIN: usize = 1 << 20;

/// The command line.
struct Options {
    addr: String,
    max_message: u64,
    protocols: Vec<String>,
    identity: Identity,
    /// `--allow-origin`: empty means every origin is allowed.
    allow_origins: Vec<String>,
}

/// Where the server's certificate comes from.
enum Identity {
    /// `--cert PATH --key PATH`.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate made at start, written to the path if there is one.
    SelfSigned { cert_out: Option<PathBuf> },
}

fn parse_args(mut args: impl Iterator<Item = String>) -> std::result::Result<Options, String> {
    let mut addr = None;
    let mut max_message = limits::DEFAULT_MAX_MESSAGE;
    let mut protocols = Vec::new();
    let (mut cert, mut key, mut cert_out) = (None, None, None);
    let mut allow_origins = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--max-message" => {
                max_message = limits::max_message(&value()?)?;
            }
            "--protocol" => protocols.push(value()?),
            "--cert" => cert = Some(PathBuf::from(value()?)),
            "--key" => key = Some(PathBuf::from(value()?)),
            "--cert-out" => cert_out = Some(PathBuf::from(value()?)),
            "--allow-origin" => allow_origins.push(origin::allow_origin(value()?)?),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ if addr.is_some() => return Err(format!("unexpected argument {arg:?}")),
            _ => addr = Some(arg),
        }
    }
    let identity = match (cert, key, cert_out) {
        (Some(cert), Some(key), None) => Identity::Files { cert, key },
        (None, None, cert_out) => Identity::SelfSigned { cert_out },
        (Some(_), Some(_), Some(_)) => return Err("--cert-out goes without --cert".to_owned()),
        _ => return Err("--cert and --key go together".to_owned()),
    };
    Ok(Options {
        addr: addr.unwrap_or_else(|| "127.0.0.1:9443".to_owned()),
        max_message,
        protocols,
        identity,
        allow_origins,
    })
}

fn main() -> ExitCode {
    let opts = match cli::parse("wss_server", USAGE, parse_args) {
        Ok(opts) => opts,
        Err(status) => return status,
    };
    match run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wss_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: Options) -> Result<()> {
    let listener = TcpListener::bind(&opts.addr)
        .map_err(|e| format!("cannot listen on {}: {e}", opts.addr))?;
    let local = listener.local_addr()?;
    let tls = Arc::new(tls_config(&opts.identity, local.ip())?);
    // The certificate is written before this line: a client that read it can trust the file.
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {local}")?;
    stdout.flush()?;
    drop(stdout);

    let config = limits::config(opts.max_message);
    let site = Arc::new(Site {
        config,
        protocols: opts.protocols,
        allow_origins: opts.allow_origins,
    });
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                // Out of file descriptors, say: pause instead of spinning.
                eprintln!("wss_server: accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let (tls, site) = (Arc::clone(&tls), Arc::clone(&site));
        thread::spawn(move || {
            let peer = stream
                .peer_addr()
                .map_or_else(|_| "unknown peer".to_owned(), |a| a.to_string());
            match serve(stream, tls, &site) {
                Ok(outcome) => eprintln!("{peer}: {outcome}"),
                Err(e) => eprintln!("{peer}: error: {e}"),
            }
        });
    }
    Ok(())
}

/// The rustls server configuration, with the ring provider and the certificate of `identity`.
fn tls_config(identity: &Identity, ip: IpAddr) -> Result<ServerConfig> {
    let (chain, key) = match identity {
        Identity::Files { cert, key } => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(Iterator::collect::<std::result::Result<Vec<_>, _>>)
                .map_err(|e| format!("{}: {e}", cert.display()))?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
            (chain, key)
        }
        Identity::SelfSigned { cert_out } => {
            let mut names = vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ];
            if !ip.is_unspecified() && !ip.is_loopback() {
                names.push(ip.to_string());
            }
            let mut params = rcgen::CertificateParams::new(names)?;
            params.distinguished_name = rcgen::DistinguishedName::new();
            params.distinguished_name.push(
                rcgen::DnType::CommonName,
                "sockless wss_server (self-signed)",
            );
            let key_pair = rcgen::KeyPair::generate()?;
            let cert = params.self_signed(&key_pair)?;
            match cert_out {
                Some(path) => std::fs::write(path, cert.pem())
                    .map_err(|e| format!("--cert-out {}: {e}", path.display()))?,
                None => eprintln!(
                    "wss_server: serving a self-signed certificate (--cert-out PATH saves it)"
                ),
            }
            let key = PrivatePkcs8KeyDer::from(key_pair.serialize_der());
            (vec![cert.der().clone()], key.into())
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(config)
}

/// What every connection is served with.
struct Site {
    config: Config,
    protocols: Vec<String>,
    allow_origins: Vec<String>,
}

type Tls = StreamOwned<ServerConnection, TcpStream>;

/// Runs one connection from the TLS handshake to the TCP close. Returns how it ended.
fn serve(tcp: TcpStream, tls: Arc<ServerConfig>, site: &Site) -> Result<String> {
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    tcp.set_write_timeout(Some(HANDSHAKE_TIMEOUT))?;
    // The TLS handshake happens within the first reads and writes.
    let stream = StreamOwned::new(ServerConnection::new(tls)?, tcp);
    let mut wire = Wire::new(stream, vec![0u8; WBUF_LEN]);
    let mut rbuf = vec![0u8; RBUF_LEN];

    // The opening handshake: append reads to rbuf until the head is complete.
    let mut handshake = ServerHandshake::new(site.config);
    let mut filled = 0;
    let (mut conn, protocol, head_len) = loop {
        match stream_echo::read(&mut wire.stream, &mut rbuf[filled..]) {
            Ok(0) => return Ok("closed during the handshake".to_owned()),
            Ok(n) => filled += n,
            Err(e) => return Err(format!("TLS or HTTP handshake: {e}").into()),
        }
        let mut headers = [EMPTY_HEADER; 64];
        match handshake.parse(&rbuf[..filled], &mut headers) {
            Ok(Status::Partial) => continue,
            Ok(Status::Complete(req)) => {
                let allowed: Vec<&str> = site.allow_origins.iter().map(String::as_str).collect();
                if !allowed.is_empty() && !req.origin_allowed(&allowed) {
                    wire.encode(|buf| req.reject(403, buf))?;
                    wire.flush()?;
                    let origin = String::from_utf8_lossy(req.header("origin").unwrap_or_default());
                    let outcome = format!("refused with 403: Origin {origin:?} is not allowed");
                    close(wire.stream, &mut rbuf);
                    return Ok(outcome);
                }
                // The first subprotocol the client offers that we support.
                let protocol = req
                    .protocols()
                    .find(|offered| site.protocols.iter().any(|p| p == offered));
                let (n, conn) = req.accept(&Accept::new().protocol(protocol), wire.spare()?)?;
                wire.commit(n);
                break (conn, protocol.map(str::to_owned), req.len());
            }
            Err(e) => {
                wire.encode(|buf| handshake.write_error(e, buf))?;
                wire.flush()?;
                close(wire.stream, &mut rbuf);
                return Ok(format!("handshake refused with {}: {e}", e.status()));
            }
        }
    };
    wire.flush()?;
    // Bytes after the head are the client's first frames.
    rbuf.copy_within(head_len..filled, 0);
    filled -= head_len;

    wire.stream.sock.set_read_timeout(Some(IDLE_TIMEOUT))?;
    wire.stream.sock.set_write_timeout(Some(IDLE_TIMEOUT))?;
    let result = stream_echo::echo(&mut conn, &mut wire, &mut rbuf, filled);
    // Closing handshake over, or failed: the server closes first (TLS close_notify, then FIN).
    close(wire.stream, &mut rbuf);
    let outcome = format!("closed: client sent {}", result?);
    Ok(match protocol {
        Some(p) => format!("[{p}] {outcome}"),
        None => outcome,
    })
}

/// Ends the connection: TLS close_notify, then our FIN, then read and drop what the client still
/// sends until its FIN (or a timeout), since closing a socket with unread input resets the
/// connection, which can destroy the last records in flight.
fn close(mut stream: Tls, buf: &mut [u8]) {
    stream.conn.send_close_notify();
    let _ = stream.flush();
    let tcp = &mut stream.sock;
    let _ = tcp.shutdown(Shutdown::Write);
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    let mut drained = 0;
    while drained < MAX_DRAIN {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || tcp.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream_echo::read(tcp, buf) {
            Ok(n) if n > 0 => drained += n,
            _ => break,
        }
    }
}
