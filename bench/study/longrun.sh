#!/usr/bin/env bash
# The long run of the recipe study (issue #13): the study's best recipe over the whole
# budget, a snapshot kept at every checkpoint (for the accuracy-vs-time curve), then the
# export (float16, batch-norm statistics re-estimated) and the standard probe.
#
#   nohup nice -n -10 bench/study/longrun.sh NAME EPOCHS [extra pretrain flags...] \
#     > out/study/NAME.out 2>&1 &
#   echo -10 > /proc/$!/autogroup   # priority over other sessions (see README)
#
# Resumable: run the same command again after a stop and it continues from the last
# checkpoint (the schedule is that of all EPOCHS). Snapshots: out/study/NAME/snap-STEP.swav;
# probe them with bench/study/probe-snapshots.sh (which reads each one's step from its
# header: the keeper may file the final checkpoint under the last multiple of 312).
# Environment: SWAV_EMBED (the binary; default out/swav-embed-study), GOMAXPROCS
# (threads; default 2, the whole machine), MIN_SCALE_CROPS (the crops' minimum area scales;
# default 0.3,0.05, long8's — a slice flag repeated among the extra flags would append to
# it, not replace it).
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1 epochs=$2; shift 2
bin=${SWAV_EMBED:-$PWD/out/swav-embed-study}
export GOMAXPROCS=${GOMAXPROCS:-2}
fm=/usr/share/datasets/fashion-mnist
dir=out/study/$name
mkdir -p "$dir"
# The study's best rows combined (BENCHMARKS.md "Recipe study"): no multi-crop (the two
# 28-px crops only: --nmb-crops 2,-1 drops the small ones), large crops from 0.3 of the
# image, 3000 prototypes; the rest is today's recipe with warmup 10 % and freezing 6.7 % of
# the run. A checkpoint every third of an epoch feeds the curve. `longrun.sh long8 8` is
# the default model (2026-12-03); long3 (2026-12-02) was this recipe with multi-crop, 2×28 +
# 4×16 (the script of commit 87752f1; a repeated slice flag appends, so --nmb-crops 2,4 given
# here would not replace 2,-1).
recipe=(--idx "$fm/train-images-idx3-ubyte.gz" --arch small --epochs "$epochs" --batch-size 64
  --base-lr 4.8 --warmup-epochs "$(awk "BEGIN{print 0.1*$epochs}")"
  --freeze-prototypes-niters "$((63 * epochs))" --size-crops 28,16 --queue-length 512
  --epoch-queue-starts 0 --seed 31 --min-scale-crops "${MIN_SCALE_CROPS:-0.3,0.05}" --nmb-prototypes 3000
  --nmb-crops 2,-1 --checkpoint-every 312)
# Keep each checkpoint as it lands (the trainer overwrites --out atomically).
(
  last=""
  while sleep 20; do
    [ -f "$dir/model.swav.metrics.jsonl" ] && [ -f "$dir/model.swav" ] || continue
    stamp=$(stat -c %Y "$dir/model.swav")
    [ "$stamp" = "$last" ] && continue
    last=$stamp
    step=$(tail -n 1 "$dir/model.swav.metrics.jsonl" | sed -n 's/.*"step":\([0-9]*\).*/\1/p')
    step=$(( step / 312 * 312 ))
    [ "$step" -gt 0 ] && [ ! -f "$dir/snap-$step.swav" ] && cp "$dir/model.swav" "$dir/snap-$step.swav"
  done
) &
keeper=$!
trap 'kill $keeper 2>/dev/null' EXIT
echo "$(date -u +%H:%M:%S) start $name: ${recipe[*]} $*"
$bin pretrain "${recipe[@]}" "$@" --out "$dir/model.swav" --resume >>"$dir/pretrain.log" 2>&1
echo "$(date -u +%H:%M:%S) trained"
$bin export "$dir/model.swav" --out "$dir/model-bn.swav" --float16 --bn-idx "$fm/train-images-idx3-ubyte.gz" >"$dir/export.log" 2>&1
$bin probe --model "$dir/model-bn.swav" --train-idx "$fm/train-images-idx3-ubyte.gz" \
  --test-idx "$fm/t10k-images-idx3-ubyte.gz" --knn --report "$dir/report.json" >"$dir/probe.log" 2>&1
echo "$(date -u +%H:%M:%S) probed"
tail -n 20 "$dir/probe.log"
