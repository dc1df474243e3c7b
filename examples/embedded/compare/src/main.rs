//! `../src/bin/firmware.rs` with embedded-websocket 0.9 in place of sockless: the same job (server
//! handshake, then echo every message piece by piece through a 512-byte receive buffer, answer
//! Pings and the Close) over the same opaque transport, built with the same profile, so that
//! `.text` and RAM can be compared:
//!
//! ```text
//! cargo build --release --target thumbv7em-none-eabihf
//! llvm-size -A target/thumbv7em-none-eabihf/release/firmware
//! ```
//!
//! embedded-websocket does less for the same flash: it checks neither the RSV bits nor the
//! masking direction, nor UTF-8, control frame rules or close codes; it copies each payload
//! piece into a second buffer (and then a third, behind the frame header, to send it), and its
//! handshake takes the `Upgrade` header and the key without the other RFC 6455 4.2.1 checks.
//!
//! Not part of CI: it exists to reproduce the comparison in `../README.md`. Only built, never run.

#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod firmware {
    use core::hint::black_box;

    use embedded_websocket::{
        read_http_header, Error, WebSocketReceiveMessageType as Rx, WebSocketSendMessageType as Tx,
        WebSocketServer, WebSocketState,
    };

    const RX_LEN: usize = 512;
    /// Where `read` copies each payload piece.
    const PIECE_LEN: usize = 512;
    /// A piece behind its frame header; also the 101 response.
    const TX_LEN: usize = PIECE_LEN + 14;

    /// The transport of `../src/bin/firmware.rs`.
    fn read(buf: &mut [u8]) -> usize {
        let len = buf.len();
        black_box(buf);
        black_box(len).min(len)
    }

    fn write(buf: &[u8]) {
        black_box(buf);
    }

    struct Buffers {
        rx: [u8; RX_LEN],
        piece: [u8; PIECE_LEN],
        tx: [u8; TX_LEN],
    }

    fn serve(b: &mut Buffers) -> Option<()> {
        let mut ws = WebSocketServer::new_server();
        // The handshake: read until httparse has the whole head.
        let mut filled = 0;
        let head_len = loop {
            let n = read(b.rx.get_mut(filled..)?);
            if n == 0 {
                return None;
            }
            filled += n;
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(b.rx.get(..filled)?).ok()? {
                httparse::Status::Partial => continue,
                httparse::Status::Complete(len) => {
                    let context =
                        read_http_header(request.headers.iter().map(|h| (h.name, h.value)))
                            .ok()??;
                    let n = ws
                        .server_accept(&context.sec_websocket_key, None, &mut b.tx)
                        .ok()?;
                    write(b.tx.get(..n)?);
                    break len;
                }
            }
        };
        b.rx.copy_within(head_len..filled, 0);
        filled -= head_len;
        // The frame loop.
        loop {
            let mut pos = 0;
            while pos < filled {
                let r = match ws.read(b.rx.get(pos..filled)?, &mut b.piece) {
                    Ok(r) => r,
                    Err(Error::ReadFrameIncomplete) => break,
                    Err(_) => return None,
                };
                pos += r.len_from;
                let piece = b.piece.get(..r.len_to)?;
                let reply = match r.message_type {
                    Rx::Text => Some(Tx::Text),
                    Rx::Binary => Some(Tx::Binary),
                    Rx::Ping => Some(Tx::Pong),
                    Rx::CloseMustReply => Some(Tx::CloseReply),
                    Rx::Pong | Rx::CloseCompleted => None,
                };
                if let Some(kind) = reply {
                    let n = ws.write(kind, r.end_of_message, piece, &mut b.tx).ok()?;
                    write(b.tx.get(..n)?);
                }
                if ws.state == WebSocketState::Closed {
                    return Some(());
                }
                if r.len_from == 0 && r.len_to == 0 {
                    break;
                }
            }
            b.rx.copy_within(pos..filled, 0);
            filled -= pos;
            let n = read(b.rx.get_mut(filled..)?);
            if n == 0 {
                return None;
            }
            filled += n;
        }
    }

    /// The entry point: serve one connection after another.
    #[no_mangle]
    pub extern "C" fn _start() -> ! {
        let mut buffers = Buffers {
            rx: [0; RX_LEN],
            piece: [0; PIECE_LEN],
            tx: [0; TX_LEN],
        };
        loop {
            black_box(serve(&mut buffers));
        }
    }

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
        loop {
            core::hint::spin_loop();
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "firmware is a bare-metal binary: cargo build --release --target thumbv7em-none-eabihf"
    );
    std::process::exit(2);
}
