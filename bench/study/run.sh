#!/usr/bin/env bash
# One run of the recipe study (issue #13): pretrain with today's recipe plus the given
# flags on the real Fashion-MNIST, export with batch-norm statistics re-estimated,
# then the standard probe (linear + kNN-20 on 60k/10k). Appends one row to
# out/study/results.tsv: name, extra flags, steps, training seconds, linear, kNN-20.
#
#   bench/study/run.sh NAME [pretrain flags that override the base recipe...]
#
# Environment: SWAV_EMBED (the binary, default: go run ./cmd/swav-embed),
# STUDY_EPOCHS (default 1), GOMAXPROCS (threads; the study runs at 1 per run).
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1; shift
bin=${SWAV_EMBED:-"go run ./cmd/swav-embed"}
fm=/usr/share/datasets/fashion-mnist
dir=out/study/$name
mkdir -p "$dir"
epochs=${STUDY_EPOCHS:-1}
# Today's recipe (README, default model), its warmup and freezing scaled to the run's
# length: 0.5 of 5 epochs warmup → 10 % of the run; 313 of 4685 steps frozen → 6.7 %.
base=(--idx "$fm/train-images-idx3-ubyte.gz" --arch small --epochs "$epochs" --batch-size 64
  --base-lr 4.8 --warmup-epochs "$(awk "BEGIN{print 0.1*$epochs}")"
  --freeze-prototypes-niters "$((63 * epochs))" --size-crops 28,16 --queue-length 512
  --epoch-queue-starts 0 --seed 31 --checkpoint-every 200)
start=$(date +%s)
$bin pretrain "${base[@]}" "$@" --out "$dir/model.swav" --resume >>"$dir/pretrain.log" 2>&1
train_s=$(( $(date +%s) - start ))
steps=$(tail -n 1 "$dir/model.swav.metrics.jsonl" | sed -n 's/.*"step":\([0-9]*\).*/\1/p')
$bin export "$dir/model.swav" --out "$dir/model-bn.swav" --bn-idx "$fm/train-images-idx3-ubyte.gz" >"$dir/export.log" 2>&1
$bin probe --model "$dir/model-bn.swav" --train-idx "$fm/train-images-idx3-ubyte.gz" \
  --test-idx "$fm/t10k-images-idx3-ubyte.gz" --knn --report "$dir/report.json" >"$dir/probe.log" 2>&1
read -r lin knn < <(python3 -c '
import json, sys
reps = json.load(open(sys.argv[1]))
top1 = lambda pred: next((r["top1"] for r in reps if pred(r["method"].lower())), float("nan"))
print("%.2f %.2f" % (100 * top1(lambda m: m.startswith("linear")), 100 * top1(lambda m: "20" in m)))' "$dir/report.json")
printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$*" "$steps" "$train_s" "${lin:-?}" "${knn:-?}" >>out/study/results.tsv
echo "$name: steps $steps, ${train_s}s, linear ${lin:-?}, kNN-20 ${knn:-?}"
