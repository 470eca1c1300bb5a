#!/usr/bin/env bash
# Success-path overhead over many processes: the `overhead` bench is run RUNS times (default 15),
# each a fresh process, and every variant's median, lowest and highest figure is reported, with
# the median over runs of its ratio to backon measured in the same process.
#
# Why: on a virtual machine one criterion run of a 30 ns call moves by 10 ns or more from one
# process to the next, for every wrapper alike (backon included): where the stack starts (it is
# randomised per process) decides how the call's future is aligned, and so how costly the copy
# of a freshly made future is. A single run can show either wrapper ahead; the median of the
# per-run ratio over many processes does not move much.
#
# Usage: scripts/overhead-runs.sh [RUNS] [FILTER]   (FILTER: criterion's regex over the names)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-15}
filter=${2:-'bare|defaults|budget|large|backon|tower retry'}
cd "$root"
# Cargo does not always notice that the proc macro changed (the bench uses it through
# `steadfast`), so its sources are touched first: the figures are of the expansion as it is.
touch macros/src/lib.rs
bench=$(cargo bench -p steadfast --bench overhead --no-run 2>&1 |
  sed -n 's/.*Executable benches\/overhead.rs (\(.*\))/\1/p')
[ -x "$bench" ] || { echo "could not build the overhead bench" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in $(seq 1 "$runs"); do
  echo "run $i of $runs" >&2
  "$bench" --bench "$filter" --warm-up-time 0.5 --measurement-time 1.5 2>/dev/null |
    awk -v run="$i" '/^success path\// { sub(/^success path\//, ""); name = $0; sub(/ +time:.*/, "", name) }
      /time:/ { print run "\t" name "\t" $(NF-3) }' >> "$out"
done
python3 - "$out" <<'PY'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
by_run, names = {}, []
for run, name, ns in rows:
    by_run.setdefault(run, {})[name] = float(ns)
    if name not in names:
        names.append(name)
backon = next((n for n in names if n.startswith("backon")), None)
print(f"{'variant':34} {'median':>8} {'lowest':>8} {'highest':>8} {'/ backon':>9}")
for name in names:
    values = [r[name] for r in by_run.values() if name in r]
    ratios = [r[name] / r[backon] for r in by_run.values() if backon and name in r and backon in r]
    ratio = f"{statistics.median(ratios):.2f}x" if ratios else "-"
    print(f"{name:34} {statistics.median(values):7.1f}n {min(values):7.1f}n {max(values):7.1f}n {ratio:>9}")
print(f"({len(by_run)} runs, ns per call)")
PY
