#!/usr/bin/env bash
# The two untrained rows of issue #12's Table 1 (and of the issue #13 curve), probed with
# the standard probe (linear + kNN-20 on the real 60k/10k Fashion-MNIST):
#   raw pixels      swav-embed probe --raw-pixels (the [0,1] pixels, standardised by the probe)
#   random network  swav-embed init (the small ResNet, seed 31, initial batch-norm
#                   statistics kept: BENCHMARKS.md measured re-estimating them on a random
#                   network lowers its probe, 79.99 % → 72.04 %), then the probe
# Each report is written once, to DIR/raw-pixels.json and DIR/random-network.json, and
# skipped when present; the points lines (run, step 0, 0 s, report, notes) for
# bench/curve are printed on standard output.
#
#   bench/methods/baselines.sh [DIR]        # DIR default out/baselines
#
# Environment: SWAV_EMBED (the binary, default out/swav-embed), GOMAXPROCS, FASHION_MNIST
# (the directory of the IDX files, default /usr/share/datasets/fashion-mnist),
# PROBE_FLAGS (extra probe flags, for tests only: e.g. "--epochs 2"; empty for the table).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-out/baselines}
bin=${SWAV_EMBED:-$PWD/out/swav-embed}
fm=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
read -r -a extra <<<"${PROBE_FLAGS:-}"
mkdir -p "$dir"
exec 9>"$dir/.lock" # two lanes may ask at once: one probes, the other waits and reuses
flock 9
data=(--train-idx "$fm/train-images-idx3-ubyte.gz" --test-idx "$fm/t10k-images-idx3-ubyte.gz" --knn)
if [ ! -s "$dir/raw-pixels.json" ]; then
  "$bin" probe --raw-pixels "${data[@]}" "${extra[@]}" --report "$dir/raw-pixels.part.json" >"$dir/raw-pixels.log" 2>&1
  mv "$dir/raw-pixels.part.json" "$dir/raw-pixels.json"
fi
if [ ! -s "$dir/random-network.json" ]; then
  [ -f "$dir/random-network.swav" ] ||
    "$bin" init --idx "$fm/train-images-idx3-ubyte.gz" --arch small --seed 31 --out "$dir/random-network.swav" >"$dir/random-network.log" 2>&1
  "$bin" probe --model "$dir/random-network.swav" "${data[@]}" "${extra[@]}" --report "$dir/random-network.part.json" >>"$dir/random-network.log" 2>&1
  mv "$dir/random-network.part.json" "$dir/random-network.json"
fi
printf 'raw pixels\t0\t0\t%s\t784-d standardised pixels\n' "$dir/raw-pixels.json"
printf 'random network\t0\t0\t%s\tsmall ResNet, seed 31, untrained (initial batch-norm statistics)\n' "$dir/random-network.json"
