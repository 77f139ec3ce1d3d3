#!/usr/bin/env bash
# Run here (a machine with PyPI) before a GPU visit: downloads into .gpu-wheels/ (ignored
# by git) the wheels of what neurosim needs and the GPU machine's image lacks (pint and
# its dependencies; numpy, numba, h5py, PyYAML, tqdm, scipy, pytest and cupy-cuda13x are
# in the image).  Pure-Python wheels, about 0.5 MB, and a
# numpy wheel (16 MB) used only if the image's numba refuses its own numpy.  The device tool's `run` then takes
#   carry: [".gpu-wheels"]
# and benchmarks/gpu_check.sh installs them offline (pip --no-index --target).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEST="$ROOT/.gpu-wheels"
PY=${PYTHON:-python3}
mkdir -p "$DEST"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
  -d "$DEST" "pint==0.25.3" "flexcache==0.3" "flexparser==0.4" "platformdirs==4.14.8"
# installed there only if the image's numba refuses the image's numpy (gpu_check.sh)
mkdir -p "$DEST/fallback"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
  -d "$DEST/fallback" "numpy==2.2.6"
ls -l "$DEST"
