#!/usr/bin/env bash
# Every GPU check of the cupy backend in one command (issue 9), under 5 minutes:
#
#   benchmarks/gpu_check.sh OUTDIR
#
# 1. the `gpu` tests (tests/gpu/test_gpu.py): cupy against the numpy references made on a
#    CPU (benchmarks/gpu/reference, benchmarks/gpu/make_reference.py): identical spike
#    trains on brunel2000 (scaled down), cuba, coba, a mixed network and the
#    microcircuit at N = K = 0.1; LTC trajectories within 1e-5; NEUROSIM_REQUIRE_GPU=1
#    turns a missing GPU into failures, never skips;
# 2. brunel2000 at full scale, 1 s (the first 100 ms compared with the CPU reference);
# 3. ltc_1m: time per tick against its bound;
# 4. the microcircuit at full scale, 1 s: real-time factor and rates;
# 5. where a step's time goes (benchmarks/gpu/profile_step.py).
# Each step has a time cap; OUTDIR gets tests.log, <network>.log, profile.log,
# results.jsonl, nvidia-smi.txt and summary.txt (8 files, the device tool's limit).
#
# On the device machine (no package index there): first, here, once,
#   benchmarks/gpu/prepare.sh          # wheels of pint & co into .gpu-wheels/
# then call the device tool's run with carry [".gpu-wheels"] and the command
#   bash benchmarks/gpu_check.sh $OUT
set -u
OUT=${1:?usage: benchmarks/gpu_check.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}
T0=$(date +%s)

# what the image lacks, from wheels carried in the working tree (offline)
if ! "$PY" -c "import pint" 2>/dev/null; then
  if ls .gpu-wheels/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/neurosim-site .gpu-wheels/*.whl || exit 2
    export PYTHONPATH=/tmp/neurosim-site
  else
    echo "pint is missing and .gpu-wheels/ is empty: run benchmarks/gpu/prepare.sh and carry .gpu-wheels"
    exit 2
  fi
fi
# numba refuses a numpy newer than it knows; prepare.sh also fetches a numpy it accepts
if ! "$PY" -c "import numba" 2>/dev/null && ls .gpu-wheels/fallback/*.whl >/dev/null 2>&1; then
  echo "numba does not import with the image's numpy; installing .gpu-wheels/fallback"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/neurosim-fallback .gpu-wheels/fallback/*.whl || exit 2
  export PYTHONPATH=/tmp/neurosim-fallback${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 NEUROSIM_REQUIRE_GPU=1
rm -f "$OUT/results.jsonl"
{
  nvidia-smi
  echo "nproc: $(nproc)"
  "$PY" -c "import sys, numpy, numba, h5py, cupy, pint; print(sys.version.split()[0], \
'numpy', numpy.__version__, 'numba', numba.__version__, 'h5py', h5py.__version__, \
'cupy', cupy.__version__, 'pint', pint.__version__)"
} > "$OUT/nvidia-smi.txt" 2>&1
STEPS=""

step() {  # step NAME CAP_SECONDS command...
  local name=$1 cap=$2 t rc
  shift 2
  t=$(date +%s)
  timeout "$cap" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  local line="$name: exit $rc, $(($(date +%s) - t)) s (cap $cap s)"
  [ "$rc" = 124 ] && line="$line TIMED OUT"
  echo "$line"
  STEPS="$STEPS$line"$'\n'
}

# one process on the one GPU; -o addopts= drops setup.cfg's "-n auto" (pytest-xdist is
# not on the device image)
step tests 100 "$PY" -m pytest -o addopts= -m gpu tests/gpu -q -rA -p no:cacheprovider
step brunel2000 40 "$PY" -m benchmarks.gpu.bench brunel2000 --out "$OUT"
step ltc_1m 45 "$PY" -m benchmarks.gpu.bench ltc_1m --out "$OUT"
step microcircuit 95 "$PY" -m benchmarks.gpu.bench microcircuit --out "$OUT"
step profile 60 "$PY" -m benchmarks.gpu.profile_step

{
  echo "neurosim GPU check, $(date -u +%Y-%m-%dT%H:%MZ), $(($(date +%s) - T0)) s in all"
  grep -m1 -o "NVIDIA [A-Za-z0-9 ]*" "$OUT/nvidia-smi.txt" || true
  printf "%s" "$STEPS"
  echo "gpu tests: $(tail -n 1 "$OUT/tests.log")"
  "$PY" -m benchmarks.gpu.bench summary --out "$OUT"
  echo "per step (us): $(grep -h '^{' "$OUT/profile.log" | tr '\n' ' ')"
} | tee "$OUT/summary.txt"
