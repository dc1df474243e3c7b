//! The echo linked into a bare-metal `thumbv7em-none-eabihf` binary, to measure the flash it
//! costs:
//!
//! ```text
//! cargo build --release --target thumbv7em-none-eabihf --bin firmware
//! llvm-size target/thumbv7em-none-eabihf/release/firmware     # or arm-none-eabi-size
//! ```
//!
//! The transport is a stand-in for a UART or TCP driver: `black_box` hides what it reads and
//! writes from the optimizer, so every path of the echo stays in the binary. There is no vector
//! table or linker script; a real board adds its runtime crate (for example `cortex-m-rt`), which
//! costs a few hundred bytes more.
//!
//! On a host this binary only says how to build it.

#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod firmware {
    use core::hint::black_box;

    use sockless_embedded::{serve, Buffers, Transport};

    /// A transport the optimizer cannot see through.
    struct Opaque;

    impl Transport for Opaque {
        type Error = ();

        fn read(&mut self, buf: &mut [u8]) -> Result<usize, ()> {
            let len = buf.len();
            black_box(buf);
            Ok(black_box(len))
        }

        fn write_all(&mut self, buf: &[u8]) -> Result<(), ()> {
            black_box(buf);
            Ok(())
        }
    }

    /// The entry point: serve one connection after another.
    #[no_mangle]
    pub extern "C" fn _start() -> ! {
        let mut buffers = Buffers::new();
        loop {
            let _ = black_box(serve(&mut Opaque, &mut buffers));
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
        "firmware is a bare-metal binary: cargo build --release --target thumbv7em-none-eabihf --bin firmware"
    );
    std::process::exit(2);
}
