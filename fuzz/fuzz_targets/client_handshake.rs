//! The client handshake's response parsing, fed in chunks: never panics, same result as whole.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sockless::handshake::{ClientHandshake, ClientRequest, EMPTY_HEADER};
use sockless::{Config, RandomError, Status};

fn run(data: &[u8], cut: usize) -> Result<Option<(u16, usize, bool)>, sockless::HandshakeError> {
    let rng = |d: &mut [u8]| -> Result<(), RandomError> {
        d.fill(0x42);
        Ok(())
    };
    let mut out = [0u8; 512];
    let req = ClientRequest::new("localhost", "/").protocols(&["chat", "superchat"]);
    let (mut hs, _) = ClientHandshake::new(req, Config::default(), rng, &mut out).expect("request fits");
    let cut = cut.min(data.len());
    let mut headers = [EMPTY_HEADER; 32];
    if cut < data.len() {
        if let Status::Complete(resp) = hs.parse(&data[..cut], &mut headers)? {
            let status = resp.status();
            let len = resp.len();
            return Ok(Some((status, len, hs.finish(&resp).is_ok())));
        }
    }
    let mut headers = [EMPTY_HEADER; 32];
    match hs.parse(data, &mut headers)? {
        Status::Partial => Ok(None),
        Status::Complete(resp) => {
            let status = resp.status();
            let len = resp.len();
            Ok(Some((status, len, hs.finish(&resp).is_ok())))
        }
    }
}

fuzz_target!(|input: &[u8]| {
    // The first byte picks the cut point; the rest is the response.
    let [cut, data @ ..] = input else { return };
    let cut = usize::from(*cut) * data.len() / 255;
    assert_eq!(run(data, cut), run(data, usize::MAX));
});
