"""A network with STDP (E->E) and tsodyks_synapse (E->I) gives the same weights and
spikes on 1, 2 and 3 ranks (numba backend; mpiexec as tests/parallel does); the merged
recording holds the same final and sampled weights, and a run on 2 ranks starts from
the 1-rank run's final weights exactly."""

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


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The network run on 1, 2 and 3 ranks: {ranks: folder}."""
    out = {}
    for n in (1, 2, 3):
        d = tmp_path_factory.mktemp(f"r{n}")
        p = launch(n, sys.executable, "-m", "tests.plasticity.mpi_stdp", str(d), "numba")
        assert p.returncode == 0, p.stderr[-3000:]
        out[n] = d
    return out


def test_same_weights_on_1_2_3_ranks(runs):
    res = {n: (_weights(d), neurosim.open(str(d / "o.h5")).spikes("E")) for n, d in runs.items()}
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
    # the recording: final weights of every rank, in (post, pre) order, and samples
    files = {n: neurosim.open(str(d / "o.h5")) for n, d in runs.items()}
    for key, name in (("EE", "E->E"), ("EI", "E->I")):
        pre, post, w = w1[key]
        fp, fq, fw = files[1].weights(name)
        np.testing.assert_array_equal(fp, pre)
        np.testing.assert_array_equal(fq, post)
        np.testing.assert_array_equal(fw, w)
        series = files[1].weight_series(name)
        for n in (2, 3):
            for a, b in zip(files[n].weights(name), (fp, fq, fw), strict=True):
                np.testing.assert_array_equal(a, b)
            for a, b in zip(files[n].weight_series(name), series, strict=True):
                np.testing.assert_array_equal(a, b)
    t, sp, sq, sw = files[1].weight_series("E->E")
    assert len(t) == 120 and t[0] == 2.5 and t[-1] == 300.0
    np.testing.assert_array_equal(sw[-1], fw_ee := files[1].weights("E->E")[2][5:900:11])
    np.testing.assert_array_equal(sp, files[1].weights("E->E")[0][5:900:11])
    assert np.any(sw[0] != fw_ee)  # the samples follow the weights
    assert files[1].weight_series("E->I")[3].shape == (3000, 4)


def test_start_from_learned_weights_on_2_ranks(runs, tmp_path):
    path = str(runs[1] / "o.h5")
    learned = neurosim.open(path)
    d = tmp_path / "again"
    d.mkdir()
    p = launch(2, sys.executable, "-m", "tests.plasticity.mpi_stdp", str(d), "numba", path)
    assert p.returncode == 0, p.stderr[-3000:]
    got = _weights(d)
    for key, name in (("EE", "E->E"), ("EI", "E->I")):
        for a, b in zip(got[key], learned.weights(name), strict=True):
            np.testing.assert_array_equal(a, b)
    assert np.any(np.abs(got["EE"][2] - 0.5) > 1e-3)  # learned, not the file's 0.5 mV


def test_checkpoint_on_2_ranks_resumes_on_3(tmp_path):
    """Weights, traces and spike histories in the checkpoint: a run checkpointed on 2
    ranks and resumed on 3 ends with the spikes, final weights and weight samples of
    one uninterrupted process (tests/reliability/mpi_resume.py: checkpoints every 50 ms,
    a crash at 130 ms, the resume runs to 200 ms)."""
    import copy

    import yaml

    from neurosim import Simulation

    from .mpi_stdp import NET

    script = str(HERE.parent / "reliability" / "mpi_resume.py")
    net = tmp_path / "net.yaml"
    net.write_text(yaml.safe_dump(copy.deepcopy(NET)))
    ref = tmp_path / "ref.h5"
    Simulation(str(net), output=str(ref)).run("200 ms").close()
    out = tmp_path / "out.h5"
    p = launch(2, sys.executable, script, "checkpoint", str(out), str(net), timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    p = launch(3, sys.executable, script, "resume", str(out), timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    a, b = neurosim.open(str(ref)), neurosim.open(str(out))
    for x, y in zip(a.spikes("E"), b.spikes("E"), strict=True):
        np.testing.assert_array_equal(x, y)
    for name in ("E->E", "E->I"):
        for x, y in zip(a.weights(name), b.weights(name), strict=True):
            np.testing.assert_array_equal(x, y)
        for x, y in zip(a.weight_series(name), b.weight_series(name), strict=True):
            np.testing.assert_array_equal(x, y)
    assert len(b.weight_series("E->E")[0]) == 80 and b.attrs["ranks"] == 3
