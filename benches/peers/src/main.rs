//! peerbench: side-by-side, interleaved performance harness for Rust
//! WebSocket (RFC 6455) codecs. See README.md.
mod ceilings;
mod check;
mod gen;
mod harness;
mod mem;
mod peers;

use check::{extract_accept, ref_decode, Check};
use gen::{DecodeInput, EncodeInput, Rng};
use harness::{render, run_workload, Contender, Unit};
use peers::{embedded, fastws, sansio, tokio_ws, tung};
#[cfg(feature = "ours")]
use peers::ours;
use std::hint::black_box;
use std::time::Instant;
use tokio::runtime::Runtime;

const REF: &str = "tungstenite";

struct Opts {
    rounds: usize,
    only: Vec<String>,
}

fn opts() -> Opts {
    let mut o = Opts { rounds: 25, only: vec![] };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => o.rounds = it.next().and_then(|v| v.parse().ok()).expect("--rounds N"),
            "--only" => o.only = it.next().expect("--only W1,W2,..").split(',').map(|s| s.trim().to_uppercase()).collect(),
            "-h" | "--help" => {
                eprintln!("peerbench [--rounds N] [--only W1,W2,W3,W4,W5,W6,C1,C2]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

fn timed<'a>(f: impl Fn() -> Result<Check, String> + 'a) -> impl FnMut() -> Result<(std::time::Duration, Check), String> + 'a {
    move || {
        let t = Instant::now();
        let c = f()?;
        Ok((t.elapsed(), black_box(c)))
    }
}

fn decode_contenders<'a>(inp: &'a DecodeInput, rt: &'a Runtime, fragmented: bool) -> Vec<Contender<'a>> {
    let n = inp.messages;
    let b: &'a [u8] = &inp.bytes;
    let mut v = vec![
        Contender::new("tungstenite", timed(move || tung::decode(black_box(b), n))),
        Contender::new("tokio-websockets", timed(move || rt.block_on(tokio_ws::decode(black_box(b), n)))),
    ];
    if !fragmented {
        v.push(Contender::new("fastwebsockets", timed(move || rt.block_on(fastws::decode_frames(black_box(b), n)))));
    }
    v.push(Contender::new("fastwebsockets+FragmentCollector", timed(move || rt.block_on(fastws::decode_collect(black_box(b), n)))));
    let mut e = embedded::Decoder::new();
    v.push(Contender::new("embedded-websocket (+simdutf8 in adapter)", move || {
        let t = Instant::now();
        let c = e.decode(black_box(b), n)?;
        Ok((t.elapsed(), black_box(c)))
    }));
    let mut s = sansio::Decoder::new();
    v.push(Contender::new("websocket-sans-io (+simdutf8 in adapter)", move || {
        let t = Instant::now();
        let c = s.decode(black_box(b), n)?;
        Ok((t.elapsed(), black_box(c)))
    }));
    #[cfg(feature = "ours")]
    if ours::AVAILABLE {
        let mut d = ours::Decoder::new();
        v.push(Contender::new("ours (sockless)", move || {
            let t = Instant::now();
            let c = d.decode(black_box(b), n)?;
            Ok((t.elapsed(), black_box(c)))
        }));
        // PEERBENCH_OURS_VARIANTS=1: alternative uses of sockless, to show what
        // the reassembly layer and the buffer strategy cost (see ours.rs).
        if std::env::var("PEERBENCH_OURS_VARIANTS").as_deref() == Ok("1") {
            let mut d = ours::Decoder::new();
            v.push(Contender::new("ours variant: hand Vec reassembly (no Assembler), 64 KiB rbuf", move || {
                let t = Instant::now();
                let c = d.variant_hand(black_box(b), n, false)?;
                Ok((t.elapsed(), black_box(c)))
            }));
            let mut d = ours::Decoder::new();
            v.push(Contender::new("ours variant: Assembler::push fed text as Binary (skips its UTF-8 check), 64 KiB rbuf", move || {
                let t = Instant::now();
                let c = d.variant_asm(black_box(b), n, false, true)?;
                Ok((t.elapsed(), black_box(c)))
            }));
            let mut d = ours::Decoder::with_rbuf(64 * 1024);
            v.push(Contender::new("ours variant: Assembler::receive, 64 KiB rbuf, pieces received as they lie (no whole_messages_up_to)", move || {
                let t = Instant::now();
                let c = d.decode_filled(black_box(b), n, false, false)?;
                Ok((t.elapsed(), black_box(c)))
            }));
            let mut d = ours::Decoder::with_rbuf(16 * 1024);
            v.push(Contender::new("ours variant: Assembler::receive, 16 KiB rbuf", move || {
                let t = Instant::now();
                let c = d.decode_filled(black_box(b), n, false, true)?;
                Ok((t.elapsed(), black_box(c)))
            }));
            let mut d = ours::Decoder::with_rbuf(256 * 1024);
            v.push(Contender::new("ours variant: Assembler::receive, 256 KiB rbuf filled by 4 reads", move || {
                let t = Instant::now();
                let c = d.decode_filled(black_box(b), n, true, true)?;
                Ok((t.elapsed(), black_box(c)))
            }));
            let mut d = ours::Decoder::with_rbuf(256 * 1024);
            v.push(Contender::new("ours variant: Assembler::push, 256 KiB rbuf filled by 4 reads", move || {
                let t = Instant::now();
                let c = d.variant_asm(black_box(b), n, true, false)?;
                Ok((t.elapsed(), black_box(c)))
            }));
            let mut d = ours::Decoder::with_rbuf(256 * 1024);
            v.push(Contender::new("ours variant: hand Vec reassembly, 256 KiB rbuf filled by 4 reads", move || {
                let t = Instant::now();
                let c = d.variant_hand(black_box(b), n, true)?;
                Ok((t.elapsed(), black_box(c)))
            }));
        }
    }
    v
}

/// Every decoder must reject a text frame with invalid UTF-8 (proves that the
/// W3/W4 numbers include validation).
fn preflight(rt: &Runtime) {
    let bad = gen::invalid_utf8_stream(&mut Rng::new(99));
    let mut results: Vec<(&str, Result<Check, String>)> = vec![
        ("tungstenite", tung::decode(&bad, 2)),
        ("tokio-websockets", rt.block_on(tokio_ws::decode(&bad, 2))),
        ("fastwebsockets", rt.block_on(fastws::decode_frames(&bad, 2))),
        ("fastwebsockets+FragmentCollector", rt.block_on(fastws::decode_collect(&bad, 2))),
        ("embedded-websocket", embedded::Decoder::new().decode(&bad, 2)),
        ("websocket-sans-io", sansio::Decoder::new().decode(&bad, 2)),
    ];
    #[cfg(feature = "ours")]
    if ours::AVAILABLE {
        results.push(("ours (sockless)", ours::Decoder::new().decode(&bad, 2)));
        if std::env::var("PEERBENCH_OURS_VARIANTS").as_deref() == Ok("1") {
            results.push(("ours variant hand", ours::Decoder::new().variant_hand(&bad, 2, false)));
            results.push(("ours variant hand fill", ours::Decoder::with_rbuf(256 * 1024).variant_hand(&bad, 2, true)));
            results.push(("ours variant asm fill", ours::Decoder::with_rbuf(256 * 1024).variant_asm(&bad, 2, true, false)));
            results.push(("ours variant receive fill", ours::Decoder::with_rbuf(256 * 1024).decode_filled(&bad, 2, true, true)));
            results.push(("ours variant receive 16k", ours::Decoder::with_rbuf(16 * 1024).decode_filled(&bad, 2, false, true)));
            results.push(("ours variant asm as binary", ours::Decoder::new().variant_asm(&bad, 2, false, true)));
        }
    }
    for (name, r) in results.drain(..) {
        if r.is_ok() {
            harness::abort("preflight", name, "accepted a text frame with invalid UTF-8");
        }
    }
    eprintln!("preflight: all decoders reject invalid UTF-8");
}

fn encode_contenders<'a>(inp: &'a EncodeInput, client: bool, rt: &'a Runtime) -> Vec<Contender<'a>> {
    let cap = inp.count * (inp.len + 14);
    fn mk<'a>(
        name: &str,
        cap: usize,
        client: bool,
        mut f: impl FnMut(Vec<u8>) -> Result<Vec<u8>, String> + 'a,
    ) -> Contender<'a> {
        let mut buf: Vec<u8> = Vec::with_capacity(cap);
        Contender::new(name, move || {
            let b = std::mem::take(&mut buf); // adapters clear / size it themselves
            let t = Instant::now();
            let out = f(black_box(b))?;
            let dt = t.elapsed();
            let c = ref_decode(&out, client)?; // untimed verification
            buf = out;
            Ok((dt, c))
        })
    }
    #[allow(unused_mut)]
    let mut v = vec![
        mk("tungstenite", cap, client, move |b| tung::encode(inp, client, b)),
        mk("tokio-websockets", cap, client, move |b| rt.block_on(tokio_ws::encode(inp, client, b))),
        mk("fastwebsockets", cap, client, move |b| rt.block_on(fastws::encode(inp, client, b))),
        mk("embedded-websocket", cap, client, move |b| embedded::encode(inp, client, b)),
        mk("websocket-sans-io", cap, client, move |b| sansio::encode(inp, client, b)),
    ];
    v.push(mk("(floor, no state, no masking) hand-written header + memcpy", cap, client, move |b| {
        ceilings::encode_floor(inp, client, b)
    }));
    #[cfg(feature = "ours")]
    if ours::AVAILABLE {
        v.push(mk("ours (sockless)", cap, client, move |b| ours::encode(inp, client, b)));
        if client && std::env::var("PEERBENCH_OURS_VARIANTS").as_deref() == Ok("1") {
            v.push(mk("ours variant: send_header + memcpy + send_payload (mask in place)", cap, client, move |b| {
                ours::variant_encode_streamed(inp, client, b)
            }));
        }
    }
    v
}

fn handshake_contenders<'a>(reqs: &'a [Vec<u8>], rt: &'a Runtime) -> Vec<Contender<'a>> {
    #[allow(unused_mut)]
    let mut v = vec![
        Contender::new("tungstenite", timed(move || {
            let mut c = Check::default();
            for r in reqs {
                let resp = tung::handshake(black_box(r))?;
                c.add(extract_accept(&resp)?);
            }
            Ok(c)
        })),
        Contender::new("tokio-websockets (sha1_smol backend)", timed(move || {
            let b = tokio_websockets::ServerBuilder::new();
            rt.block_on(async {
                let mut c = Check::default();
                for r in reqs {
                    let resp = tokio_ws::handshake(&b, black_box(r)).await?;
                    c.add(extract_accept(&resp)?);
                }
                Ok(c)
            })
        })),
    ];
    let mut buf = vec![0u8; 1024];
    v.push(Contender::new("embedded-websocket (httparse + read_http_header + server_accept)", move || {
        let t = Instant::now();
        let mut c = Check::default();
        for r in reqs {
            let n = embedded::handshake(black_box(r), &mut buf)?;
            c.add(extract_accept(&buf[..n])?);
        }
        Ok((t.elapsed(), c))
    }));
    let mut out = Vec::with_capacity(256);
    v.push(Contender::new("(baseline) httparse + sha1 + base64, hand-written", move || {
        let t = Instant::now();
        let mut c = Check::default();
        for r in reqs {
            ceilings::baseline_handshake(black_box(r), &mut out)?;
            c.add(extract_accept(&out)?);
        }
        Ok((t.elapsed(), c))
    }));
    #[cfg(feature = "ours")]
    if ours::AVAILABLE {
        // sockless writes the 101 into a caller buffer: reuse one, as for embedded-websocket.
        let mut buf = vec![0u8; 1024];
        v.push(Contender::new("ours (sockless)", move || {
            let t = Instant::now();
            let mut c = Check::default();
            for r in reqs {
                let n = ours::handshake(black_box(r), &mut buf)?;
                c.add(extract_accept(&buf[..n])?);
            }
            Ok((t.elapsed(), c))
        }));
    }
    v
}

fn main() {
    let o = opts();
    let want = |w: &str| o.only.is_empty() || o.only.iter().any(|x| x == w);
    let rt = peers::rt();
    let mut md = String::new();
    let emit = |md: &mut String, s: String| {
        print!("{s}");
        md.push_str(&s);
    };
    emit(
        &mut md,
        format!(
            "CPU features detected at run time: avx2={} avx512f={}; build: release, lto=fat, codegen-units=1, no target-cpu flags. \
             `ours` adapter: {}.\n\n",
            ceilings::has_avx2(),
            ceilings::has_avx512(),
            if cfg!(feature = "ours") { "compiled in" } else { "not built (feature `ours` off)" }
        ),
    );
    preflight(&rt);
    let rounds = o.rounds;
    let na_sansio_fastws = [("fastwebsockets (raw frames)", "fragmented input: raw frames are not messages; see FragmentCollector row")];

    let mut rng = Rng::new(0x50C4_1E55_BE4C_0001);
    // Generate all inputs up front (deterministic regardless of --only).
    let w1 = gen::w1_small(&mut rng);
    let w2 = gen::w2_binary(&mut rng);
    let w3 = gen::w3_text(&mut rng);
    let w4 = gen::w4_fragmented(&mut rng);
    let w5a = gen::encode_input(&mut rng, 200_000, 16);
    let w5b = gen::encode_input(&mut rng, 256, 64 * 1024);
    let w6 = gen::handshakes(&mut rng, 100_000);

    if want("W1") {
        let mut c = decode_contenders(&w1, &rt, false);
        let rows = run_workload("W1", w1.expected, &mut c, rounds);
        emit(&mut md, render("W1 decode: 200,000 masked 16-byte text frames", &format!("{} bytes of input; per-frame overhead (incl. UTF-8 check of 16 B).", w1.bytes.len()), Unit::MPerSec(w1.frames as f64, "frames"), &rows, REF, &[]));
    }
    if want("W2") {
        let mut c = decode_contenders(&w2, &rt, false);
        c.push(ceilings::pipeline_contender(&w2, false));
        c.push(ceilings::floor_contender(&w2, 64 * 1024, false));
        c.push(ceilings::floor_contender(&w2, 16 * 1024, false));
        let rows = run_workload("W2", w2.expected, &mut c, rounds);
        emit(&mut md, render("W2 decode: 256 masked binary frames of 64 KiB", "Unmask throughput; GB/s of payload.", Unit::GBps(w2.payload_bytes as f64), &rows, REF, &[]));
    }
    if want("W3") {
        let mut c = decode_contenders(&w3, &rt, false);
        c.push(ceilings::pipeline_contender(&w3, true));
        c.push(ceilings::floor_contender(&w3, 64 * 1024, true));
        c.push(ceilings::floor_contender(&w3, 16 * 1024, true));
        let rows = run_workload("W3", w3.expected, &mut c, rounds);
        emit(&mut md, render("W3 decode: 256 masked text frames of 64 KiB valid UTF-8 (~70% ASCII chars)", "Unmask + UTF-8 validation; GB/s of payload. Characters are mixed at random per character, so ASCII runs are short: worst case for std::str::from_utf8 (see C2), which tungstenite uses.", Unit::GBps(w3.payload_bytes as f64), &rows, REF, &[]));
    }
    if want("W4") {
        let mut c = decode_contenders(&w4, &rt, true);
        let rows = run_workload("W4", w4.expected, &mut c, rounds);
        emit(&mut md, render("W4 decode: 256 text messages of 64 KiB, each 16 masked fragments of 4 KiB", "Reassembly + streaming UTF-8 validation; GB/s of payload.", Unit::GBps(w4.payload_bytes as f64), &rows, REF, &na_sansio_fastws));
    }
    if want("W5") {
        let mut c = encode_contenders(&w5a, false, &rt);
        let rows = run_workload("W5a", w5a.expected, &mut c, rounds);
        emit(&mut md, render("W5a encode (server, unmasked): 200,000 binary frames of 16 bytes into a buffer", "Output verified (untimed) by an independent decoder.", Unit::MPerSec(w5a.count as f64, "frames"), &rows, REF, &[]));
        let mut c = encode_contenders(&w5b, true, &rt);
        let rows = run_workload("W5b", w5b.expected, &mut c, rounds);
        emit(&mut md, render("W5b encode (client, masked): 256 binary frames of 64 KiB", "Includes each crate's own mask generation; GB/s of payload.", Unit::GBps((w5b.count * w5b.len) as f64, ), &rows, REF, &[]));
    }
    if want("W6") {
        let mut c = handshake_contenders(&w6.requests, &rt);
        let rows = run_workload("W6", w6.expected, &mut c, rounds);
        emit(&mut md, render("W6 server handshake: parse 100,000 client upgrade requests, produce the 101 response", "Each request has Host, User-Agent, Upgrade, Connection, Sec-WebSocket-Key/Version, Origin (~330 bytes).", Unit::KPerSec(w6.requests.len() as f64, "handshakes"), &rows, REF, &[
            ("fastwebsockets", "server handshake only via hyper (upgrade::upgrade takes a hyper::Request + OnUpgrade); no socket-free parse API"),
            ("websocket-sans-io", "frame codec only, no handshake"),
        ]));
    }
    if want("C1") {
        let mut c = ceilings::unmask_contenders(&w2);
        let rows = run_workload("C1", w2.expected, &mut c, rounds);
        emit(&mut md, render("C1 ceilings: copy / unmask / checksum over the W2 payload (256 × 64 KiB, 16 MiB)", "In-place kernels run over the whole 16 MiB (L3/DRAM-bound: this is what a decoder sees, since the input streams from memory); C1-L2 below is the compute-bound version. The W2/W3 \"minimal pipeline\" rows copy each 64 KiB payload into one cache-resident buffer.", Unit::GBps(w2.payload_bytes as f64), &rows, "memcpy (payload → buffer)", &[]));
    }
    if want("C1") {
        let (mut c, expected) = ceilings::unmask_l2_contenders(&w2);
        let rows = run_workload("C1-L2", expected, &mut c, rounds);
        emit(&mut md, render("C1-L2 ceilings: compute-bound unmask, one cache-resident 64 KiB block × 256 masks (16 MiB of work)", "", Unit::GBps(w2.payload_bytes as f64), &rows, "memcpy 64 KiB → 64 KiB (cache-resident), ×256", &[]));
    }
    if want("C2") {
        let (mut c, expected) = ceilings::utf8_contenders(&w3);
        let rows = run_workload("C2", expected, &mut c, rounds);
        emit(&mut md, render("C2 ceilings: UTF-8 validation over the W3 payload (256 × 64 KiB)", "", Unit::GBps(w3.payload_bytes as f64), &rows, "std::str::from_utf8", &[]));
    }
    let _ = md;
}
