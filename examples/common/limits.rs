//! The `--max-message` option every echo example and client takes: its default, its parsing, and
//! the configuration it makes. `echo_server`, `echo_client`, `wss_server` and `wss_client` include
//! it with `#[path = "common/limits.rs"] mod limits;`, and `common/mod.rs` (for `tokio_echo` and
//! `mio_echo`) with `mod limits;`.

use sockless::Config;

/// The default of `--max-message`: 16 MiB.
pub const DEFAULT_MAX_MESSAGE: u64 = 16 << 20;

/// Parses a `--max-message` value: a number of bytes that fits in `usize`.
pub fn max_message(value: &str) -> Result<u64, String> {
    value
        .parse()
        .ok()
        .filter(|&n: &u64| usize::try_from(n).is_ok())
        .ok_or_else(|| format!("bad --max-message value {value:?}"))
}

/// The default configuration, with messages and frames bounded by `max_message` bytes (past it,
/// the connection fails with close code 1009).
pub fn config(max_message: u64) -> Config {
    let mut config = Config::default();
    config.max_message_len = max_message;
    config.max_frame_len = max_message;
    config
}
