"""A network with STDP (E->E) and tsodyks_synapse (E->I) gives the same weights and
spikes on 1, 2 and 3 ranks (numba backend; mpiexec as tests/parallel does)."""

import glob
import sys
from pathlib import Path

import numpy as np
import pytest

import neurosim

from ..parallel.test_mpi import launch

pytestmark = pytest.mark.mpi
HERE = Path(__file__).parent


def _weights(d):
    parts = [np.load(f) for f in sorted(glob.glob(f"{d}/w.rank*.npz"))]
    out = {}
    for key in ("EE", "EI"):
        pre = np.concatenate([p[f"{key}_pre"] for p in parts])
        post = np.concatenate([p[f"{key}_post"] for p in parts])
        w = np.concatenate([p[f"{key}_w"] for p in parts])
        o = np.lexsort((pre, post))
        out[key] = (pre[o], post[o], w[o])
    return out


def test_same_weights_on_1_2_3_ranks(tmp_path):
    res = {}
    for n in (1, 2, 3):
        d = tmp_path / f"r{n}"
        d.mkdir()
        p = launch(n, sys.executable, "-m", "tests.plasticity.mpi_stdp", str(d), "numba")
        assert p.returncode == 0, p.stderr[-3000:]
        res[n] = (_weights(d), neurosim.open(str(d / "o.h5")).spikes("E"))
    w1, s1 = res[1]
    assert len(s1[0]) > 100  # the network spikes
    pre, post, w = w1["EE"]
    assert len(w) == 80 * 12 and np.any(np.abs(w - 0.5) > 1e-3)  # weights moved
    for n in (2, 3):
        wn, sn = res[n]
        for key in ("EE", "EI"):
            for a, b in zip(w1[key], wn[key], strict=True):
                np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(s1[0], sn[0])
        np.testing.assert_array_equal(s1[1], sn[1])
