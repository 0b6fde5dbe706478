#!/usr/bin/env bash
# Side-by-side benchmarks against peers; `make bench` runs this. See docs/benchmarks.md.
#
#   bash benchmarks/run.sh                    # all three
#   bash benchmarks/run.sh ingest launch      # some of them (ingest, launch, widget_freshness)
#
# The project's interpreter is .venv (made by `make install`). MLflow, the ingestion
# benchmark's denominator, is never a dependency of the package: it lives in its own
# virtualenv, .venv-bench, made here once and reused (delete it to rebuild), and the benchmark
# drives it as a subprocess. Results go to benchmarks/results/*.json (gitignored).
set -euo pipefail

cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
BASE_PYTHON=${BASE_PYTHON:-python3}
BENCH_VENV=${BENCH_VENV:-.venv-bench}
PEERS=("mlflow>=3,<4")
export HANZO_ML_BENCH_RESULTS=${HANZO_ML_BENCH_RESULTS:-benchmarks/results}
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x "$PY" ]; then
  echo "benchmarks: $PY not found; run \`make install\` first (or set PY=...)" >&2
  exit 2
fi

# The peers' virtualenv: rebuilt only when missing or when PEERS changed.
stamp="$BENCH_VENV/.peers"
if [ ! -x "$BENCH_VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${PEERS[*]}" ]; then
  echo "== installing the peers into $BENCH_VENV: ${PEERS[*]} (once; a few minutes)"
  rm -rf "$BENCH_VENV"
  "$BASE_PYTHON" -m venv "$BENCH_VENV"
  "$BENCH_VENV/bin/pip" install -q --upgrade pip
  "$BENCH_VENV/bin/pip" install -q "${PEERS[@]}"
  printf '%s' "${PEERS[*]}" >"$stamp"
fi
HANZO_ML_BENCH_PEER_PYTHON="$(cd "$BENCH_VENV" && pwd)/bin/python"
export HANZO_ML_BENCH_PEER_PYTHON

all=(ingest launch widget_freshness)
which=("$@")
[ ${#which[@]} -eq 0 ] && which=("${all[@]}")

start=$SECONDS
for name in "${which[@]}"; do
  case " ${all[*]} " in
    *" $name "*) ;;
    *) echo "benchmarks: unknown benchmark '$name' (one of: ${all[*]})" >&2; exit 2 ;;
  esac
  echo
  echo "== $name"
  "$PY" "benchmarks/$name.py"
done

echo
echo "== summary ($(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg), $((SECONDS - start)) s)"
"$PY" - "$HANZO_ML_BENCH_RESULTS" "${which[@]}" <<'EOF'
import json
import sys
from pathlib import Path

out, names = Path(sys.argv[1]), sys.argv[2:]


def load(name):
    path = out / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


if "ingest" in names and (r := load("ingest")):
    ours = r["ours"]["points_per_second_median"]
    batch = r["mlflow_log_batch"]["points_per_second_median"]
    fluent = r["mlflow_log_metric"]["points_per_second_median"]
    print(f"  ingestion  ours {ours:,.0f} pts/s | MLflow log_batch {batch:,.0f} pts/s"
          + (f" | mlflow.log_metric {fluent:,.0f} pts/s" if fluent else "")
          + f" | ours/MLflow {r['ratio_ours_over_mlflow_log_batch']:.1f}x (goal >= 10x)")
if "launch" in names and (r := load("launch")):
    print(f"  launch     ours {r['ours_median_ms']:.0f} ms | bare python {r['bare_median_ms']:.0f}"
          f" ms | ours/bare {r['ratio_ours_over_bare']:.1f}x (goal <= 1.5x)")
if "widget_freshness" in names and (r := load("widget_freshness")):
    for reader, s in r["results"].items():
        a, e = s["accepted_to_widget"], s["logged_to_widget"]
        print(f"  freshness  {reader:<21} accepted->widget p50 {a['p50_ms']:.0f} ms, "
              f"p99 {a['p99_ms']:.0f} ms | logged->widget p50 {e['p50_ms']:.0f} ms, "
              f"p99 {e['p99_ms']:.0f} ms")
EOF
