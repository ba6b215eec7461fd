#!/usr/bin/env bash
# The accuracy-against-time curve of one run (issue #13; issue #12's checkpoints): every
# snapshot RUN_DIR/snap-STEP.swav (as bench/study/longrun.sh keeps them) is exported with
# batch-norm statistics re-estimated on 10,000 full-size training images and scored with
# the standard probe (linear + kNN-20 on the real 60k/10k Fashion-MNIST), as
# bench/study/run.sh does; a snapshot already probed (its report exists) is skipped, so a
# stopped run of this script continues. Then bench/curve draws docs/NAME-curve.png and
# prints the table of the last point.
#
#   bench/study/probe-snapshots.sh RUN_DIR [NAME]
#
# The step of a snapshot is read from its header (not its file name). Its training
# seconds come from the run's metrics file and pretrain log (`curve seconds`: each
# session's cumulative images_per_sec counts from that session's start, so the log's
# sessions are needed for a resumed run) and are checked against the header's
# wall_seconds; where the log lacks a session the header's figure is used, with a warning.
# If RUN_DIR/report.json and RUN_DIR/model-bn.swav exist (longrun.sh's final export and
# probe) the final model is the last point.
#
# Outputs: RUN_DIR/snapshot-probes/{snap-STEP-bn.swav,report-STEP.json,*.log,points.tsv,table.md}
# (PROBE_DIR to put them elsewhere) and docs/NAME-curve.png (CURVE_PNG elsewhere).
# Environment: SWAV_EMBED (default out/swav-embed), CURVE (the bench/curve binary;
# default: built to out/curve), GOMAXPROCS, BASELINES=1 to add the raw-pixel and
# random-network lines (bench/methods/baselines.sh, cached in BASELINE_DIR, default
# out/baselines),
# PROBE_FLAGS (extra probe flags, for tests only).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:?usage: bench/study/probe-snapshots.sh RUN_DIR [NAME]}
dir=${dir%/}
name=${2:-$(basename "$dir")}
bin=${SWAV_EMBED:-$PWD/out/swav-embed}
fm=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
pdir=${PROBE_DIR:-$dir/snapshot-probes}
png=${CURVE_PNG:-docs/$name-curve.png}
read -r -a extra <<<"${PROBE_FLAGS:-}"
curve=${CURVE:-}
if [ -z "$curve" ]; then
  go build -o out/curve ./bench/curve
  curve=$PWD/out/curve
fi
mkdir -p "$pdir"

# header FIELD CHECKPOINT: the first integer value of "FIELD" in the checkpoint's header.
header() {
  local h
  h=$("$bin" inspect "$2") || return 1
  awk -v k="\"$1\":" '$1 == k { v = $2; gsub(/[^0-9]/, "", v); print v; exit }' <<<"$h"
}

# seconds STEP WALL: training seconds at STEP from the metrics and the log, checked
# against the header's wall_seconds WALL.
seconds() {
  local s
  if s=$("$curve" seconds -metrics "$dir/model.swav.metrics.jsonl" -log "$dir/pretrain.log" "$1" 2>"$pdir/curve.err" | cut -f2) && [ -n "$s" ]; then
    if [ -n "$2" ] && awk -v a="$s" -v b="$2" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(d > 30 + 0.02*b)}'; then
      echo "warning: step $1: $s s from the metrics, $2 s in the snapshot's header" >&2
    fi
    echo "$s"
  elif [ -n "$2" ]; then
    echo "warning: step $1: $(cat "$pdir/curve.err"); using the header's wall_seconds $2" >&2
    echo "$2"
  else
    cat "$pdir/curve.err" >&2
    return 1
  fi
}

data=(--train-idx "$fm/train-images-idx3-ubyte.gz" --test-idx "$fm/t10k-images-idx3-ubyte.gz" --knn)
points=$pdir/points.tsv
: >"$points.part"
if [ "${BASELINES:-0}" = 1 ]; then
  bench/methods/baselines.sh "${BASELINE_DIR:-out/baselines}" >>"$points.part"
fi
shopt -s nullglob
snaps=("$dir"/snap-*.swav)
[ ${#snaps[@]} -gt 0 ] || { echo "probe-snapshots: no $dir/snap-*.swav" >&2; exit 1; }
for snap in "${snaps[@]}"; do
  step=$(header step "$snap")
  [ -n "$step" ] || { echo "probe-snapshots: $snap: no training step in its header" >&2; exit 1; }
  rep=$pdir/report-$step.json
  if [ ! -s "$rep" ]; then
    echo "$(date -u +%H:%M:%S) $snap (step $step): export, probe" >&2
    rm -f "$pdir/snap-$step-bn.swav"
    "$bin" export "$snap" --out "$pdir/snap-$step-bn.swav" --bn-idx "$fm/train-images-idx3-ubyte.gz" >"$pdir/export-$step.log" 2>&1
    "$bin" probe --model "$pdir/snap-$step-bn.swav" "${data[@]}" "${extra[@]}" --report "$pdir/report-$step.part.json" >"$pdir/probe-$step.log" 2>&1
    mv "$pdir/report-$step.part.json" "$rep"
  fi
  secs=$(seconds "$step" "$(header wall_seconds "$snap")")
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$step" "$secs" "$rep" "snapshot, batch-norm re-estimated" >>"$points.part"
done
if [ -s "$dir/report.json" ] && [ -f "$dir/model-bn.swav" ]; then
  step=$(header step "$dir/model-bn.swav")
  if [ -n "$step" ] && ! grep -q "^$name	$step	" "$points.part"; then
    secs=$(seconds "$step" "$(header wall_seconds "$dir/model-bn.swav")")
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$step" "$secs" "$dir/report.json" "final export (float16, batch-norm re-estimated)" >>"$points.part"
  fi
fi
mv "$points.part" "$points"
"$curve" plot -points "$points" -out "$png" -title "$name: probe accuracy against training time"
"$curve" table -points "$points" -json "$pdir/results.json" | tee "$pdir/table.md"
echo "wrote $png, $pdir/table.md, $pdir/results.json" >&2
