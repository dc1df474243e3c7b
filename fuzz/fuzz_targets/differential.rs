//! The optimized masking and UTF-8 paths against plain reference implementations.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sockless::frame::{apply_mask, copy_masked};
use sockless::utf8::Utf8Validator;

fuzz_target!(|input: (Vec<u8>, [u8; 4], u8, Vec<u16>)| {
    let (data, key, offset, cuts) = input;
    let offset = usize::from(offset);

    // Masking: in place and copying, whole and split at the cuts, against byte-at-a-time XOR.
    let reference: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ key[(i + offset) % 4]).collect();
    let mut whole = data.clone();
    apply_mask(&mut whole, key, offset);
    assert_eq!(whole, reference);
    let mut copied = vec![0u8; data.len()];
    copy_masked(&data, &mut copied, key, offset);
    assert_eq!(copied, reference);
    let mut points: Vec<usize> = cuts.iter().map(|&c| usize::from(c) % (data.len() + 1)).collect();
    points.push(0);
    points.push(data.len());
    points.sort_unstable();
    let mut split = data.clone();
    for w in points.windows(2) {
        apply_mask(&mut split[w[0]..w[1]], key, offset + w[0]);
    }
    assert_eq!(split, reference);

    // UTF-8: validity and the position of the first error, fed in the same pieces.
    let expect = std::str::from_utf8(&data).err().map(|e| e.valid_up_to());
    let mut v = Utf8Validator::new();
    let mut got = None;
    for w in points.windows(2) {
        if let Err(e) = v.feed(&data[w[0]..w[1]]) {
            got = Some(w[0] + e.valid_up_to - e.carried);
            break;
        }
    }
    if got.is_none() {
        got = v.finish().err().map(|e| data.len() + e.valid_up_to - e.carried);
    }
    assert_eq!(got, expect);
});
