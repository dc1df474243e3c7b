#!/usr/bin/env bash
# sockless beside its peers, interleaved in one process, checksums verified; writes the report
# to benches/RESULTS.md. From the project root:
#   bash benches/peers/run.sh                 # every workload, 41 rounds
#   bash benches/peers/run.sh --only W1,W3    # any peerbench arguments
#   PEERBENCH_OURS_VARIANTS=1 bash benches/peers/run.sh   # plus other ways of driving sockless
set -euo pipefail
cd "$(dirname "$0")"
[ "$#" -gt 0 ] || set -- --rounds 41
cargo build --release 2>&1 | tail -n 3 >&2
cpu="$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -1)"
out=../RESULTS.md
{
    echo "# sockless beside its peers"
    echo
    echo "Written by \`bash benches/peers/run.sh $*\` (the harness of \`/work/shared/bench/peerbench\`, its"
    echo "sockless adapter driving this checkout the way the docs say)."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "- machine: ${cpu:-unknown}, $(nproc) CPUs; $(rustc --version)"
    echo "- load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- sockless: $(git -C ../.. log -1 --format='%h %s' 2>/dev/null || echo 'not a git checkout')"
    echo "- peers (Cargo.lock): $(awk '/^name = /{n=$3} /^version = /{v=$3; gsub(/"/,"",n); gsub(/"/,"",v); if (n ~ /^(tungstenite|tokio-websockets|fastwebsockets|embedded-websocket|websocket-sans-io|simdutf8|tokio)$/) printf "%s %s, ", n, v}' Cargo.lock | sed 's/, $//')"
    echo "- method: all implementations of a workload run interleaved round-robin in one process; median of the timed rounds; speed ratio = reference median / row median (>1 = faster). Every run's output checksum must match or the run aborts."
    echo
    ./target/release/peerbench "$@"
    echo
    echo "- load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out.tmp"
mv "$out.tmp" "$out"
