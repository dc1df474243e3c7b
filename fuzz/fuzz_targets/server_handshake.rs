//! The server handshake fed in fuzzer-chosen chunks: never panics, and the result equals the one
//! from feeding the whole input at once.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sockless::handshake::{Accept, ServerHandshake, EMPTY_HEADER};
use sockless::{Config, Status};

#[derive(Debug, PartialEq)]
enum Outcome {
    Partial,
    Error(sockless::HandshakeError),
    Request { path: String, host: String, key: String, len: usize, protocols: Vec<String>, extensions: usize },
}

fn run(data: &[u8], cuts: &[usize]) -> Outcome {
    let mut hs = ServerHandshake::new(Config::default());
    let mut last = Outcome::Partial;
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(data.len())).collect();
    ends.push(data.len());
    ends.sort_unstable();
    for end in ends {
        let mut headers = [EMPTY_HEADER; 32];
        match hs.parse(&data[..end], &mut headers) {
            Ok(Status::Partial) => last = Outcome::Partial,
            Ok(Status::Complete(req)) => {
                assert!(req.len() <= end);
                let mut out = [0u8; 1024];
                let offered: Vec<&str> = req.protocols().collect();
                let accept = Accept::new().protocol(offered.first().copied());
                let (n, _conn) = req.accept(&accept, &mut out).expect("accept fits in 1 KiB");
                // `Expect: 100-continue` puts a 100 before the 101.
                let response = &out[..n];
                let response = response.strip_prefix(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap_or(response);
                assert!(response.starts_with(b"HTTP/1.1 101 "));
                return Outcome::Request {
                    path: req.path().into(),
                    host: req.host().into(),
                    key: req.key().into(),
                    len: req.len(),
                    protocols: offered.iter().map(|s| s.to_string()).collect(),
                    extensions: req.extensions().count(),
                };
            }
            Err(e) => {
                let mut out = [0u8; 256];
                let n = hs.write_error(e, &mut out).expect("error response fits");
                assert!(out[..n].starts_with(b"HTTP/1.1 4"));
                return Outcome::Error(e);
            }
        }
    }
    last
}

fuzz_target!(|input: &[u8]| {
    // The first byte seeds the cut points; the rest is the request.
    let [seed, data @ ..] = input else { return };
    let mut x = u32::from(*seed) | 1;
    let cuts: Vec<usize> = (0..8)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as usize % (data.len() + 1)
        })
        .collect();
    assert_eq!(run(data, &cuts), run(data, &[]));
});
