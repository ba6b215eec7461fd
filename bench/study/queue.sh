#!/usr/bin/env bash
# Runs the study's queue: every "NAME flags..." line of out/study/queue.txt (read as the
# queue advances, so lines may be appended while it runs) through run.sh, one at a time,
# one thread each, skipping names already in out/study/results.tsv.
#
#   nohup nice -n -10 bench/study/queue.sh > out/study/queue.log 2>&1 &
#   echo -10 > /proc/$!/autogroup   # priority over other sessions (see README)
#
# Environment: SWAV_EMBED (the binary; default out/swav-embed-study, a copy so that
# rebuilding out/swav-embed does not change a running study).
set -uo pipefail
cd "$(dirname "$0")/../.."
export GOMAXPROCS=1 SWAV_EMBED=${SWAV_EMBED:-$PWD/out/swav-embed-study}
while read -r name flags; do
  [ -z "$name" ] && continue
  grep -q "^$name	" out/study/results.tsv 2>/dev/null && continue
  echo "$(date -u +%H:%M:%S) start $name $flags"
  # shellcheck disable=SC2086 # flags are words
  bench/study/run.sh "$name" $flags
  echo "$(date -u +%H:%M:%S) done $name"
done < out/study/queue.txt
