//! Frame header decoding: never panics; whatever decodes re-encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sockless::frame::FrameHeader;
use sockless::Status;

fuzz_target!(|data: &[u8]| {
    if let Ok(Status::Complete((header, len))) = FrameHeader::decode(data) {
        assert!((2..=14).contains(&len));
        assert_eq!(header.encoded_len(), len);
        let mut out = [0u8; 14];
        assert_eq!(header.encode(&mut out), Ok(len));
        // Minimal length encoding is enforced on decode, so the bytes round-trip exactly.
        assert_eq!(&out[..len], &data[..len]);
        // Every prefix is Partial (or the same error-free path).
        for i in 0..len {
            assert_eq!(FrameHeader::decode(&data[..i]), Ok(Status::Partial));
        }
    }
});
