//! Running the built examples from a test, and talking to them over loopback.
//!
//! The binaries are the ones cargo builds beside the test, `target/<profile>/examples/NAME`.
//! Plain `cargo test` builds them first; `cargo test --test SUITE` alone does not, so a missing
//! binary, or one older than the sources the suite names, fails with a message saying so.
//!
//! A [`Running`] child is killed (by its own PID, through its `Child`) when dropped, and what it
//! wrote to stderr is printed if the test failed. A [`Server`] is one started on `127.0.0.1:0`
//! that printed `listening on IP:PORT` first. On Linux a test can also stop and resume a child
//! ([`Running::signal`], by its PID) and count its open file descriptors. Every wait here has a
//! timeout.
//!
//! And the small client side: [`connect`] with timeouts, [`read_some`] retrying `EINTR`,
//! [`read_head`] for an HTTP head, and [`frame`] / [`read_frame`] for raw frames.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a server has to print its `listening on` line.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a signal sent with [`Running::signal`] has to take effect.
pub const SIGNAL_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// The binaries
// ---------------------------------------------------------------------------------------------

/// What a built example must not be older than.
#[derive(Clone, Copy, Debug)]
pub enum Sources {
    /// Nothing: the binary only has to be there.
    Unchecked,
    /// `examples/NAME.rs` and these files (paths from the crate root).
    OwnAnd(&'static [&'static str]),
}

/// `target/<profile>/examples/NAME`, next to this test's `deps/` directory: checked to be there
/// and not older than `sources`.
pub fn example_path(name: &str, sources: Sources) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps/");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let suite = env!("CARGO_CRATE_NAME");
    assert!(
        path.is_file(),
        "{} is missing: `cargo test` builds it, `cargo test --test {suite}` alone does not; \
         run `cargo build --example {name}` (or `cargo build --examples`) first",
        path.display()
    );
    let Sources::OwnAnd(others) = sources else {
        return path;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let own = format!("examples/{name}.rs");
    for source in std::iter::once(own.as_str()).chain(others.iter().copied()) {
        let source = root.join(source);
        if let (Some(built), Some(edited)) = (modified(&path), modified(&source)) {
            assert!(
                built >= edited,
                "{} is older than {}: run `cargo build --example {name}` (or plain `cargo test`)",
                path.display(),
                source.display()
            );
        }
    }
    path
}

/// The command that runs the built example `name` (see [`example_path`]): stdin from
/// `/dev/null`, stdout and stderr piped. Change any of them on the command before [`Running::spawn`].
pub fn example(name: &str, sources: Sources) -> Command {
    let mut command = Command::new(example_path(name, sources));
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// [`example`] as a server: its first argument `127.0.0.1:0` (a port the system picks), then
/// `options`.
pub fn server_command(name: &str, sources: Sources, options: &[&str]) -> Command {
    let mut command = example(name, sources);
    command.arg("127.0.0.1:0").args(options);
    command
}

// ---------------------------------------------------------------------------------------------
// The processes
// ---------------------------------------------------------------------------------------------

/// What [`Running::signal`] sends.
#[derive(Clone, Copy, Debug)]
pub enum Signal {
    /// `SIGSTOP`: the process stops until `SIGCONT`; what is sent to its sockets waits for it.
    Stop,
    /// `SIGCONT`.
    Cont,
}

/// A child process, killed when dropped (a stopped one too: `SIGKILL` ends it); its stderr (if piped) is printed if the test failed.
pub struct Running {
    /// The program's file name, without `.exe`.
    pub name: String,
    child: Child,
    /// Its stdout, a line at a time, if piped (read to the end, so it never blocks on a pipe).
    lines: Option<Receiver<io::Result<String>>>,
    /// Its stderr, whole, if piped.
    log: Option<JoinHandle<String>>,
}

impl Running {
    /// Starts `command` (see [`example`]), reading its stdout and stderr on threads of their own
    /// where they are piped.
    pub fn spawn(command: &mut Command) -> Self {
        let program = Path::new(command.get_program());
        let name = program
            .file_stem()
            .unwrap_or(program.as_os_str())
            .to_string_lossy()
            .into_owned();
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let log = child
            .stderr
            .take()
            .map(|stderr| thread::spawn(move || io::read_to_string(stderr).unwrap_or_default()));
        let lines = child.stdout.take().map(|stdout| {
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let _ = tx.send(line);
                }
            });
            rx
        });
        Self {
            name,
            child,
            lines,
            log,
        }
    }

    /// The next line of its stdout, waiting at most `timeout`.
    pub fn line(&self, timeout: Duration) -> Result<io::Result<String>, mpsc::RecvTimeoutError> {
        let lines = self.lines.as_ref().expect("stdout piped");
        lines.recv_timeout(timeout)
    }

    /// Waits (bounded) for it to exit; `None` if it is still running after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let give_up = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() > give_up {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends it `signal` by its PID (with `kill`), and waits (for [`SIGNAL_TIMEOUT`] at most)
    /// until `/proc/PID/stat` shows it stopped, or running again.
    #[cfg(target_os = "linux")]
    pub fn signal(&self, signal: Signal) {
        let pid = self.pid().to_string();
        let (flag, want_stopped) = match signal {
            Signal::Stop => ("-STOP", true),
            Signal::Cont => ("-CONT", false),
        };
        let status = Command::new("kill")
            .args([flag, &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {flag} {pid}: {status}");
        let deadline = Instant::now() + SIGNAL_TIMEOUT;
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
            // "PID (COMM) STATE ...": the state follows the last ')'.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.trim().chars().next());
            if (state == Some('T')) == want_stopped {
                return;
            }
            assert!(Instant::now() < deadline, "kill {flag}: state {state:?}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// How many file descriptors it has open (`/proc/PID/fd`).
    #[cfg(target_os = "linux")]
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("the child's fds")
            .count()
    }

    /// Waits (for `timeout` at most) until it has `want` file descriptors open; `why` is for the
    /// message if it does not.
    #[cfg(target_os = "linux")]
    pub fn wait_for_fds(&self, want: usize, timeout: Duration, why: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            let fds = self.open_fds();
            if fds == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{why}: {} has {fds} file descriptors open after {timeout:?}, not {want}",
                self.name
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything it wrote to stderr (empty if that was not piped, or on a second call; the log
    /// is then not printed on failure either). Waits for the pipe to close:
    /// call it once the process has exited.
    pub fn stderr(&mut self) -> String {
        let log = self.log.take();
        log.map(|log| log.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Not if the test took it already.
        if let Some(log) = self.log.take() {
            let log = log.join().unwrap_or_default();
            if thread::panicking() {
                eprintln!("{}'s log:\n{log}", self.name);
            }
        }
    }
}

/// A running example server, listening where it said; killed when dropped.
pub struct Server {
    pub name: String,
    pub addr: SocketAddr,
    process: Running,
}

impl Server {
    /// Starts the example `name` with [`server_command`] and waits for its `listening on` line.
    pub fn start(name: &str, sources: Sources, options: &[&str]) -> Self {
        Self::spawn(&mut server_command(name, sources, options))
    }

    /// Starts `command`, a server with its stdout piped, and waits (for [`START_TIMEOUT`] at most)
    /// for its first line, `listening on IP:PORT`.
    pub fn spawn(command: &mut Command) -> Self {
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let mut process = Running::spawn(command);
        let line = match process.line(START_TIMEOUT) {
            Ok(Ok(line)) => line,
            other => {
                let status = process.child.try_wait();
                panic!(
                    "{} {args:?} printed no line ({other:?}; status {status:?})",
                    process.name
                )
            }
        };
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|addr| addr.trim().parse().ok())
            .unwrap_or_else(|| panic!("not a `listening on IP:PORT` line: {line:?}"));
        Self {
            name: process.name.clone(),
            addr,
            process,
        }
    }

    /// The running process (its PID, signals, open file descriptors).
    pub fn process(&self) -> &Running {
        &self.process
    }
}

// ---------------------------------------------------------------------------------------------
// The client side
// ---------------------------------------------------------------------------------------------

/// TCP_NODELAY, and read and write timeouts of `timeout`.
pub fn set_nodelay_and_timeouts(tcp: &TcpStream, timeout: Duration) {
    tcp.set_nodelay(true).expect("TCP_NODELAY");
    tcp.set_read_timeout(Some(timeout)).expect("read timeout");
    tcp.set_write_timeout(Some(timeout)).expect("write timeout");
}

/// Connects within `timeout`, then [`set_nodelay_and_timeouts`].
pub fn connect(addr: SocketAddr, timeout: Duration) -> TcpStream {
    let tcp = TcpStream::connect_timeout(&addr, timeout)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    set_nodelay_and_timeouts(&tcp, timeout);
    tcp
}

/// One `read`, retried when a signal interrupts it (std's `read` does not retry `EINTR`).
pub fn read_some(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Whether `e` is a read or write timeout.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reads an HTTP head (a request or a response), up to and including its blank line, a byte at
/// a time so that nothing past it is taken.
pub fn read_head(stream: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        assert!(head.len() < 8192, "HTTP head too long: {head:?}");
        match read_some(stream, &mut byte) {
            Ok(0) => panic!(
                "EOF inside the HTTP head: {:?}",
                String::from_utf8_lossy(&head)
            ),
            Ok(_) => head.push(byte[0]),
            Err(e) => panic!("reading the HTTP head: {e}"),
        }
    }
    String::from_utf8(head).expect("an ASCII head")
}

// ---------------------------------------------------------------------------------------------
// Raw frames
// ---------------------------------------------------------------------------------------------

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
/// The mask of every [`frame`].
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A final client frame, masked with [`MASK`].
pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    super::raw_frame(true, 0, opcode, Some(MASK), payload)
}

/// Parses one whole server frame (final, unmasked) from the front of `bytes`: its opcode, its
/// payload and its length on the wire, or `None` if `bytes` holds less than a frame.
pub fn parse_frame(bytes: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let (fin, opcode, payload, len) = parse_any_frame(bytes)?;
    assert!(fin, "a final frame");
    Some((opcode, payload.to_vec(), len))
}

/// Parses one whole server frame (unmasked, final or not) from the front of `bytes`: FIN, opcode,
/// payload and length on the wire; `None` if `bytes` holds less than a frame.
pub fn parse_any_frame(bytes: &[u8]) -> Option<(bool, u8, &[u8], usize)> {
    let (&b0, &b1) = (bytes.first()?, bytes.get(1)?);
    assert_eq!(b0 & 0x70, 0, "RSV bits in a server frame");
    assert_eq!(b1 & 0x80, 0, "the server must not mask");
    let (len, start) = match b1 & 0x7f {
        126 => (
            u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = bytes.get(start..start + len)?;
    Some((b0 & 0x80 != 0, b0 & 0x0f, payload, start + len))
}

/// Reads one whole server frame, and nothing past it.
pub fn read_frame(stream: &mut impl Read) -> (u8, Vec<u8>) {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some((opcode, payload, len)) = parse_frame(&bytes) {
            assert_eq!(len, bytes.len(), "bytes after the frame");
            return (opcode, payload);
        }
        assert!(bytes.len() < (1 << 20), "frame too long for this test");
        // Read no further than the header says, so that nothing past the frame is taken.
        let want = match bytes.len() {
            0 | 1 => 2 - bytes.len(),
            _ => 1,
        };
        match read_some(stream, &mut buf[..want]) {
            Ok(0) => panic!("EOF inside a frame after {} bytes", bytes.len()),
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading a frame: {e}"),
        }
    }
}

/// The code of a Close payload.
pub fn close_code(payload: &[u8]) -> u16 {
    assert!(payload.len() >= 2, "a Close without a code: {payload:?}");
    u16::from_be_bytes([payload[0], payload[1]])
}

// ---------------------------------------------------------------------------------------------
// A client that half-closes while the server still holds output for it (Linux: the queues are
// read from /proc/net/tcp)
// ---------------------------------------------------------------------------------------------

/// Binary messages sent ([`flood_until_stuck`]), or echoed ([`read_echoes`]); message `i` is
/// `len` bytes of `i as u8`.
#[derive(Debug, PartialEq)]
pub struct Echoed {
    /// Whole binary messages.
    pub messages: usize,
    /// Payload bytes (echoed: in every frame of those messages and of one cut short).
    pub payload: usize,
    /// The payload of the Close (sent, or the server's).
    pub close: Option<Vec<u8>>,
}

/// The messages [`flood_until_stuck`] sends go in bursts of this many.
const BURST: usize = 16;
/// The most it sends before it gives up finding the server's output stuck.
const MOST_FLOODED: usize = 64 << 20;

/// On an upgraded loopback connection (nothing read past the 101): sends binary messages of
/// `len` bytes, reading nothing, until the server has read all of them and holds output it has
/// not written: more payload was sent than the kernel holds for the client (in the server's send
/// queue and the client's receive queue, read from `/proc/net/tcp`) once those settle. Returns
/// what was sent; every wait is bounded by `timeout`.
#[cfg(target_os = "linux")]
pub fn flood_until_stuck(tcp: &mut TcpStream, len: usize, timeout: Duration) -> Echoed {
    let client = tcp.local_addr().expect("the client's address");
    let server = tcp.peer_addr().expect("the server's address");
    let give_up = Instant::now() + timeout;
    let mut sent = Echoed {
        messages: 0,
        payload: 0,
        close: None,
    };
    loop {
        for _ in 0..BURST {
            let message = vec![sent.messages as u8; len];
            tcp.write_all(&frame(OP_BINARY, &message))
                .expect("write a message");
            sent.messages += 1;
            sent.payload += len;
        }
        // Settled: the server has read everything, and its send queue no longer changes.
        let mut unsent = usize::MAX;
        loop {
            let (queued, unread) = tcp_queues(server, client);
            if unread == 0 && queued == unsent {
                break;
            }
            unsent = queued;
            assert!(
                Instant::now() < give_up,
                "the server stopped reading after {sent:?} ({unread} bytes unread), its output \
                 not found stuck"
            );
            thread::sleep(Duration::from_millis(5));
        }
        let (_, received) = tcp_queues(client, server);
        if sent.payload > unsent + received {
            return sent;
        }
        assert!(
            sent.payload < MOST_FLOODED,
            "{sent:?} sent and the server's output is not stuck"
        );
    }
}

/// Reads until the server's EOF (or a reset), checking each byte the server echoes of the
/// messages [`flood_until_stuck`] sent; returns what came back. Bounded by `timeout`.
pub fn read_echoes(tcp: &mut TcpStream, timeout: Duration) -> Echoed {
    let give_up = Instant::now() + timeout;
    let mut echoed = Echoed {
        messages: 0,
        payload: 0,
        close: None,
    };
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        assert!(
            Instant::now() < give_up,
            "no EOF within {timeout:?}: {echoed:?}"
        );
        let n = match read_some(tcp, &mut buf) {
            Ok(n) => n,
            Err(e) => panic!("reading the echoes: {e} after {echoed:?}"),
        };
        if n == 0 {
            // (Inside a frame, if the server dropped output it had: `echoed` then falls short.)
            return echoed;
        }
        bytes.extend_from_slice(&buf[..n]);
        let mut at = 0;
        while let Some((fin, opcode, payload, frame_len)) = parse_any_frame(&bytes[at..]) {
            at += frame_len;
            assert!(echoed.close.is_none(), "a frame after the Close");
            match opcode {
                OP_BINARY | OP_CONTINUATION => {
                    let want = echoed.messages as u8;
                    assert!(
                        payload.iter().all(|&b| b == want),
                        "message {} echoed wrong (after {echoed:?})",
                        echoed.messages
                    );
                    echoed.payload += payload.len();
                    echoed.messages += usize::from(fin);
                }
                OP_CLOSE => echoed.close = Some(payload.to_vec()),
                other => panic!("opcode {other:#x} in the echoes (after {echoed:?})"),
            }
        }
        bytes.drain(..at);
    }
}

/// The queues of the IPv4 TCP socket from `local` to `remote`, from `/proc/net/tcp`: bytes
/// written and not yet acknowledged, and bytes received and not yet read.
#[cfg(target_os = "linux")]
pub fn tcp_queues(local: SocketAddr, remote: SocketAddr) -> (usize, usize) {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    // "sl local_address rem_address st tx_queue:rx_queue ...", addresses as "0100007F:1F90".
    let port = |field: &str| {
        let hex = field.rsplit(':').next().unwrap_or_default();
        u16::from_str_radix(hex, 16).ok()
    };
    let queue = |hex: &str| usize::from_str_radix(hex, 16).expect("a queue length");
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, from, to, _, queues, ..] = fields[..] else {
            continue;
        };
        if port(from) == Some(local.port()) && port(to) == Some(remote.port()) {
            let (tx, rx) = queues.split_once(':').expect("tx_queue:rx_queue");
            return (queue(tx), queue(rx));
        }
    }
    panic!("no socket from {local} to {remote} in /proc/net/tcp")
}
