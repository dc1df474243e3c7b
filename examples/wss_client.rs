//! A `wss://` echo client: the same sockless client as `echo_client`, inside TLS (rustls, with the
//! ring crypto provider), on a blocking `TcpStream`. It sends every message the server sends
//! back to it, until the server closes.
//!
//! ```text
//! cargo run --release --example wss_client -- wss://HOST:PORT/PATH [--max-message BYTES]
//!     [--protocol NAME]... [--ca PATH]
//! ```
//!
//! * The URL: `wss://` only; the host may be a name, an IPv4 address or `[IPv6]`, and the server's
//!   certificate must be valid for it; the port defaults to 443.
//! * `--max-message BYTES`, `--protocol NAME`: as for `echo_client`.
//! * `--ca PATH`: trust the certificates in this PEM file (`wss_server --cert-out PATH` writes
//!   one) instead of the system's roots.
//!
//! Exit status: 0 after a closing handshake, 1 if the connection failed (TLS, refused upgrade,
//! protocol error, closed without a Close, timeout), 2 for bad arguments.
//!
//! The frame loop is `common/stream_echo.rs`, shared with `wss_server`; rustls' `StreamOwned`
//! is the byte stream under it (`wss_server`'s docs say why that and not `unbuffered`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use sockless::handshake::{ClientHandshake, ClientRequest, EMPTY_HEADER};
use sockless::{OsRandom, Status};

#[path = "common/stream_echo.rs"]
mod stream_echo;
use stream_echo::{Result, Wire, RBUF_LEN, WBUF_LEN};
#[path = "common/cli.rs"]
mod cli;
#[path = "common/limits.rs"]
mod limits;
#[path = "common/url.rs"]
mod url;
use url::{connect, parse_url, Url};

const USAGE: &str = "usage: wss_client wss://HOST[:PORT][/PATH] [--max-message BYTES] \
     [--protocol NAME]... [--ca PATH]\n\
     \n  --max-message BYTES  largest message and frame accepted (default 16777216)\
     \n  --protocol NAME      a subprotocol to offer; may repeat (most preferred first)\
     \n  --ca PATH            trust the certificates in this PEM file, not the system's roots";

/// The timeout of each read and write.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the client waits for the server to close after the closing handshake.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The command line.
struct Options {
    url: Url,
    max_message: u64,
    protocols: Vec<String>,
    ca: Option<PathBuf>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> std::result::Result<Options, String> {
    let (mut url, mut ca) = (None, None);
    let mut max_message = limits::DEFAULT_MAX_MESSAGE;
    let mut protocols = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--max-message" => {
                max_message = limits::max_message(&value()?)?;
            }
            "--protocol" => protocols.push(value()?),
            "--ca" => ca = Some(PathBuf::from(value()?)),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ if url.is_some() => return Err(format!("unexpected argument {arg:?}")),
            _ => url = Some(parse_url(&arg, "wss", 443)?),
        }
    }
    Ok(Options {
        url: url.ok_or("missing the wss:// URL")?,
        max_message,
        protocols,
        ca,
    })
}

fn main() -> ExitCode {
    let opts = match cli::parse("wss_client", USAGE, parse_args) {
        Ok(opts) => opts,
        Err(status) => return status,
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wss_client: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The rustls client configuration: the ring provider, and the roots in `ca` or the system's.
fn tls_config(ca: Option<&PathBuf>) -> Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("--ca {}: {e}", path.display()))?
            {
                roots.add(cert.map_err(|e| format!("--ca {}: {e}", path.display()))?)?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(format!("no system roots found ({:?}); use --ca", found.errors).into());
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

fn run(opts: &Options) -> Result<()> {
    let config = limits::config(opts.max_message);
    let tls = Arc::new(tls_config(opts.ca.as_ref())?);
    let server_name = ServerName::try_from(opts.url.host.clone())
        .map_err(|e| format!("{}: {e}", opts.url.host))?;

    let tcp = connect(&opts.url)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    // The TLS handshake happens within the first write and reads.
    let stream = StreamOwned::new(ClientConnection::new(tls, server_name)?, tcp);
    let mut wire = Wire::new(stream, vec![0u8; WBUF_LEN]);

    // The opening handshake: write the request, read until the response head is complete.
    let protocols: Vec<&str> = opts.protocols.iter().map(String::as_str).collect();
    let request = ClientRequest::new(&opts.url.authority, &opts.url.target).protocols(&protocols);
    let (mut handshake, n) = ClientHandshake::new(request, config, OsRandom::new(), wire.spare()?)?;
    wire.commit(n);
    wire.flush()?;
    let mut rbuf = vec![0u8; RBUF_LEN];
    let mut filled = 0;
    let (mut conn, head_len) = loop {
        match stream_echo::read(&mut wire.stream, &mut rbuf[filled..]) {
            Ok(0) => return Err("the server closed the connection during the handshake".into()),
            Ok(n) => filled += n,
            Err(e) => return Err(format!("TLS or HTTP handshake: {e}").into()),
        }
        let mut headers = [EMPTY_HEADER; 64];
        let Status::Complete(response) = handshake.parse(&rbuf[..filled], &mut headers)? else {
            continue;
        };
        if response.status() != 101 {
            return Err(format!(
                "the server refused the upgrade: {} {}",
                response.status(),
                response.reason()
            )
            .into());
        }
        if let Some(p) = response.protocol() {
            eprintln!("wss_client: subprotocol {p}");
        }
        let head_len = response.len();
        break (handshake.finish(&response)?, head_len);
    };
    rbuf.copy_within(head_len..filled, 0);
    filled -= head_len;

    let peer_close = stream_echo::echo(&mut conn, &mut wire, &mut rbuf, filled)?;
    eprintln!("wss_client: the server sent {peer_close}");

    // The server closes first (RFC 6455 7.1.1): wait for its close_notify or FIN, then send
    // ours. Whatever ends the wait (a peer that closes TCP without close_notify, a reset, the
    // timeout) loses nothing now that the closing handshake is over.
    let stream = &mut wire.stream;
    stream.sock.set_read_timeout(Some(CLOSE_TIMEOUT))?;
    let mut drained = 0;
    while let Ok(n @ 1..) = stream_echo::read(stream, &mut rbuf) {
        drained += n;
        if drained > 1 << 20 {
            break;
        }
    }
    stream.conn.send_close_notify();
    let _ = stream.flush();
    Ok(())
}
