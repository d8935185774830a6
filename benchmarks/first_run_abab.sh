#!/usr/bin/env bash
# The offline suite's cold first run, old clone against new, A B A B: each run alone on the machine, one after
# the other, each with its own cold --cache and --out (the photos already fetched, in the plugins' cache).
#   benchmarks/first_run_abab.sh OLD_CLONE NEW_CLONE OUT_FOLDER
# Each clone needs its own .venv (./setup.sh). Per run, OUT_FOLDER/<tag>/ holds time.txt (/usr/bin/time -v),
# log.txt and out/timings-offline.json; tags are a1 b1 a2 b2 (a: OLD_CLONE, b: NEW_CLONE). Prints wall s, CPU s
# (user + sys), % CPU and peak RSS per run, then compares each new run's records with the first old run's
# (NEW_CLONE's benchmarks/compare_records.py, its float rules). Run it on a quiet machine: nothing else running.
set -uo pipefail
OLD=$(cd "$1" && pwd); NEW=$(cd "$2" && pwd); OUT=$3
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)

one_run() {  # CLONE TAG
    local dir="$OUT/$2"
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$1" && HF_HUB_OFFLINE=1 /usr/bin/time -v -o "$dir/time.txt" .venv/bin/benchsuite run --all --quiet \
        --out "$dir/out" --leaderboard "$dir/lb" --cache "$dir/cache" > "$dir/log.txt" 2>&1)
    echo "$2 exit status $?"
}

figures() {  # TAG: wall s, CPU s, % CPU, peak RSS GiB from /usr/bin/time -v
    awk -v tag="$1" -F': ' '
        /Elapsed \(wall clock\)/ { n = split($2, t, ":"); wall = (n == 3) ? t[1] * 3600 + t[2] * 60 + t[3] : t[1] * 60 + t[2] }
        /User time/ { cpu += $2 } /System time/ { cpu += $2 }
        /Percent of CPU/ { pct = $2 } /Maximum resident/ { rss = $2 / 1048576 }
        END { printf "%-4s wall %7.1f s  CPU %7.1f s  %5s CPU  peak RSS %5.2f GiB\n", tag, wall, cpu, pct, rss }' \
        "$OUT/$1/time.txt"
}

for tag in a1 b1 a2 b2; do
    case $tag in a*) one_run "$OLD" "$tag" ;; *) one_run "$NEW" "$tag" ;; esac
done
echo "old: $OLD ($(git -C "$OLD" rev-parse --short HEAD)); new: $NEW ($(git -C "$NEW" rev-parse --short HEAD))"
for tag in a1 b1 a2 b2; do figures "$tag"; done
for tag in a2 b1 b2; do
    echo "records of $tag against a1:"
    (cd "$NEW" && .venv/bin/python benchmarks/compare_records.py "$OUT/a1/out/results.json" \
        "$OUT/$tag/out/results.json" --ignore provenance.versions | tail -6)
done
