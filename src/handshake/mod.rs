//! The opening handshake (RFC 6455 section 4).
#[allow(dead_code)]
mod list;
