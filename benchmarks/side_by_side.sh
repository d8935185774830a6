#!/usr/bin/env bash
# Two clones' cold `benchsuite run --all`, side by side on one machine, neither ever alone on it:
# the NEW clone's run is started again each time it ends, until the OLD clone's run ends.
#   benchmarks/side_by_side.sh OLD_CLONE NEW_CLONE OUT_FOLDER
# Each clone needs its own .venv (./setup.sh). Per run, OUT_FOLDER/<tag>/ holds time.txt (/usr/bin/time -v),
# log.txt and out/timings-offline.json; tags are "old" and "new-1", "new-2", ... (the first is the one to report).
set -uo pipefail
OLD=$1; NEW=$2; OUT=$3

one_run() {  # CLONE TAG
    local dir="$OUT/$2"
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$1" && HF_HUB_OFFLINE=1 /usr/bin/time -v -o "$dir/time.txt" .venv/bin/benchsuite run --all --quiet \
        --out "$dir/out" --leaderboard "$dir/lb" --cache "$dir/cache" > "$dir/log.txt" 2>&1)
}

one_run "$OLD" old &
old=$!
i=1
while kill -0 "$old" 2>/dev/null; do
    one_run "$NEW" "new-$i"
    i=$((i + 1))
done
wait "$old"
