//! The write loop `echo_client` and `client` share: a frame's pieces (what is batched, a header, a
//! payload) written with as few vectored writes as the kernel allows. Each includes it with
//! `#[path = "common/write.rs"] mod write;`.

use std::io::{self, IoSlice, Write};

/// Writes every byte of `slices`; empty slices are skipped.
pub fn write_all_vectored(
    stream: &mut impl Write,
    mut slices: &mut [IoSlice<'_>],
) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match stream.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
