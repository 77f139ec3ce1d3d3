"""The same network on 1, 2, 3 and 4 ranks: identical recordings, disjoint partitions.

Each rank count runs every case of :mod:`tests.parallel.mpi_cases` once under
``mpiexec -n R`` (MPICH from pip runs 4 ranks on 2 cores), one numba thread per rank.
"""

import os
import re
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

import neurosim
from neurosim.parallel.partition import Partition, block

from ..conftest import ROOT
from ..network.test_build_partition import RULES_NET

pytestmark = pytest.mark.mpi

RANKS = (1, 2, 3, 4)
SPIKING = ("brunel2000", "cuba", "coba", "coba32", "mixed")
#: graded networks: celegans and random two-population networks, one per integrator
GRADED = (
    "celegans",
    "ltc_exp_midpoint",
    "ltc_rk4",
    "ltc_ltc_fused",
    "ltc_euler",
    "ltc_closed_form",
)
CASES = (*SPIKING, "rules", *GRADED)
#: run-time attributes, allowed to differ between runs
RUNTIME_ATTRS = {"ranks", "rank", "rank_files"}


def mpiexec():
    exe = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    exe = exe if os.path.exists(exe) else shutil.which("mpiexec")
    assert exe, "mpiexec not found: install with pip install -e '.[mpi,test]' (mpich)"
    return exe


def env():
    e = dict(os.environ, NUMBA_NUM_THREADS="1", PYTHONPATH=ROOT)
    # ranks that wait in a collective sleep now and then instead of spinning: on 2
    # cores with 4 ranks, spinning ranks would take the cores from working ones
    e.setdefault("MPIR_CVAR_CH4_PROGRESS_THROTTLE", "1")
    return e


def launch(n, *args, timeout=600, extra_env=None, **kw):
    return subprocess.run(
        [mpiexec(), "-n", str(n), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env(), **(extra_env or {})),
        **kw,
    )


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("rules")
    r = np.random.default_rng(0)
    pre, post = r.integers(0, 150, 400), r.integers(0, 50, 400)
    np.savez(
        d / "conn.npz",
        pre=pre,
        post=post,
        weight=r.uniform(1, 2, 400),
        delay=r.choice([0.5, 1.0, 2.5], 400),
    )
    np.savez(d / "plain.npz", pre=r.integers(0, 50, 300), post=r.integers(0, 150, 300))
    (d / "rules.yaml").write_text(
        RULES_NET.replace("duration: 10 ms", "duration: 100 ms")
        + "record: {spikes: all, state: [{population: I, variables: [V_m, g_in],"
        + " neurons: [49, 3, 20, 21, 0], interval: 0.2 ms}]}\n"
    )
    return d


@pytest.fixture(scope="module")
def ltc_dir(tmp_path_factory):
    """Random graded networks (every kind of projection, gap junctions, an input series)
    whose populations span several chunks of targets, one per integrator."""
    from ..ltc.test_ltc_shared import _mixed_net

    d = tmp_path_factory.mktemp("ltc")
    paths = {}
    for case in GRADED[1:]:
        sub = d / case
        sub.mkdir()
        method = case.removeprefix("ltc_")
        paths[case] = _mixed_net(sub, method=method, na=300, nb=260, T=40)
    return paths


@pytest.fixture(scope="module")
def runs(tmp_path_factory, rules_dir, ltc_dir):
    out = {}
    script = os.path.join(ROOT, "tests", "parallel", "mpi_cases.py")
    for n in RANKS:
        d = tmp_path_factory.mktemp(f"ranks{n}")
        t = time.perf_counter()
        cases = [*SPIKING, "celegans", f"rules={rules_dir / 'rules.yaml'}"]
        cases += [f"{c}={p}" for c, p in ltc_dir.items()]
        p = launch(n, sys.executable, script, str(d), *cases)
        assert p.returncode == 0, p.stderr[-3000:]
        out[n] = (d, time.perf_counter() - t)
    return out


def _datasets(f):
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = obj

    f.visititems(visit)
    return out


@pytest.mark.parametrize("n", RANKS[1:])
@pytest.mark.parametrize("case", CASES)
def test_merged_file_equals_one_rank(runs, case, n):
    with (
        h5py.File(runs[1][0] / f"{case}.h5", "r") as a,
        h5py.File(runs[n][0] / f"{case}.h5", "r") as b,
    ):
        da, db = _datasets(a), _datasets(b)
        assert sorted(da) == sorted(db)
        kind = "report/" if case in GRADED else "spikes/"
        assert any(k.startswith(kind) and v.shape[0] > 0 for k, v in da.items())
        for name, x in da.items():
            y = db[name]
            assert x.dtype == y.dtype, name
            # bit for bit (NaN-safe): the same spikes, times, ids and traces
            np.testing.assert_array_equal(x[()], y[()], err_msg=f"{case}: {name}")
        for k in set(a.attrs) | set(b.attrs):
            if k not in RUNTIME_ATTRS:
                assert np.array_equal(a.attrs[k], b.attrs[k]), k
        assert b.attrs["ranks"] == n and b.attrs["complete"]
        if any(k.startswith("report/") for k in db):
            assert any(v.is_virtual for v in db.values())
    # what users call reads the merged file unchanged
    with neurosim.open(runs[n][0] / f"{case}.h5") as rec:
        assert rec.spike_populations or rec.report_populations


@pytest.mark.parametrize("case", ("brunel2000", "cuba", "coba"))
def test_exchange_loop_in_python_or_compiled(runs, case, tmp_path):
    """Across ranks the interval loop runs in compiled code (MPI called from the
    kernel); with ``NEUROSIM_NATIVE_MPI=0`` it runs in Python: same spikes either way."""
    for r in range(2):
        assert np.load(runs[2][0] / f"{case}.part{r}.npz")["native"]
    script = os.path.join(ROOT, "tests", "parallel", "mpi_cases.py")
    p = launch(
        2, sys.executable, script, str(tmp_path), case, extra_env={"NEUROSIM_NATIVE_MPI": "0"}
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert not np.load(tmp_path / f"{case}.part0.npz")["native"]
    with (
        h5py.File(runs[2][0] / f"{case}.h5", "r") as a,
        h5py.File(tmp_path / f"{case}.h5", "r") as b,
    ):
        for pop in a["spikes"]:
            for ds in ("timestamps", "node_ids"):
                np.testing.assert_array_equal(a["spikes"][pop][ds][()], b["spikes"][pop][ds][()])
        assert a["spikes"][pop]["timestamps"].shape[0] > 0


@pytest.mark.parametrize("native", ["1", "0"])
def test_stop_on_one_rank_stops_every_rank_at_the_same_step(tmp_path, native):
    script = os.path.join(ROOT, "tests", "parallel", "mpi_stop.py")
    p = launch(2, sys.executable, script, str(tmp_path), extra_env={"NEUROSIM_NATIVE_MPI": native})
    assert p.returncode == 0, p.stderr[-3000:]
    got = [(tmp_path / f"rank{r}.txt").read_text().splitlines() for r in range(2)]
    # 5 ms run, then one exchange interval of min_delay = 1.5 ms (15 steps) before the stop
    assert got[0] == ["65 stop requested on another rank", "85 after"], got
    assert got[1] == ["65 test stop", "85 after"], got


def test_stop_on_one_rank_stops_a_graded_network_on_every_rank(tmp_path):
    """celegans on 2 ranks (neurons exchanged every step inside the backend): a stop
    asked on rank 1 before a run stops both ranks there; a later run goes on."""
    script = os.path.join(ROOT, "tests", "parallel", "mpi_stop.py")
    p = launch(2, sys.executable, script, str(tmp_path), "ltc", timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    got = [(tmp_path / f"rank{r}.txt").read_text().splitlines() for r in range(2)]
    assert got[0] == ["50 stop requested on another rank", "70 after"], got
    assert got[1] == ["50 test stop", "70 after"], got


@pytest.mark.parametrize("n", RANKS[1:])
@pytest.mark.parametrize("case", CASES)
def test_state_between_segments(runs, case, n):
    a = np.load(runs[1][0] / f"{case}.npz")
    b = np.load(runs[n][0] / f"{case}.npz")
    np.testing.assert_array_equal(a["V_m"], b["V_m"])
    assert str(a["summary"]) == str(b["summary"])


@pytest.mark.parametrize("n", RANKS)
@pytest.mark.parametrize("case", CASES)
def test_ranks_hold_disjoint_blocks(runs, case, n):
    one = np.load(runs[1][0] / f"{case}.part0.npz")
    parts = [np.load(runs[n][0] / f"{case}.part{r}.npz") for r in range(n)]
    gids = np.concatenate([p["neuron_gid"] for p in parts])
    # disjoint and covering, in rank order
    np.testing.assert_array_equal(np.sort(gids), one["neuron_gid"])
    assert len(np.unique(gids)) == len(gids)
    assert sum(int(p["n_synapses"]) for p in parts) == int(one["n_synapses"])
    for p in parts:
        # a rank keeps rows only for sources with local targets
        assert set(p["src_gids"].tolist()) <= set(one["src_gids"].tolist())
    if n > 1 and len(one["neuron_gid"]) > 128 * n:
        assert max(len(p["neuron_gid"]) for p in parts) < len(one["neuron_gid"])


def test_rank_files_must_stay_beside_the_output(runs, tmp_path):
    d = runs[3][0]
    for f in d.glob("cuba*.h5"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "cuba.rank1.h5").unlink()
    with pytest.raises(OSError, match="cuba.rank1.h5 is missing"):
        neurosim.open(tmp_path / "cuba.h5")


def test_block_partition():
    for size in (0, 1, 5, 12500):
        for n in (1, 2, 3, 4, 7):
            blocks = [block(size, r, n) for r in range(n)]
            assert blocks[0][0] == 0 and blocks[-1][1] == size
            assert all(blocks[r][1] == blocks[r + 1][0] for r in range(n - 1))
            lens = [b - a for a, b in blocks]
            assert max(lens) - min(lens) <= 1
            ids = np.arange(size)
            for r in range(n):
                owner = Partition(r, n).owner(size, ids)
                np.testing.assert_array_equal(ids[owner == r], np.arange(*blocks[r]))


def test_bad_file_on_one_rank_ends_every_rank(rules_dir, tmp_path):
    """Rank 2 alone is given a connection file that does not exist (MPMD launch)."""
    cmd = [sys.executable, "-m", "neurosim.cli", "run", str(rules_dir / "rules.yaml")]
    cmd += ["-o", str(tmp_path / "x.h5"), "--quiet"]
    bad = [*cmd, "--set", "projections.9.rule.from_file.path=nowhere.npz"]
    t = time.perf_counter()
    p = launch(2, *cmd, ":", "-n", "1", *bad, timeout=120)
    wall = time.perf_counter() - t
    assert p.returncode == 2, p.stderr[-2000:]
    assert "rank 2" in p.stderr and "nowhere.npz" in p.stderr
    assert "Traceback" not in p.stderr
    assert wall < 60
    assert not (tmp_path / "x.h5").exists()


def test_nan_on_one_rank_ends_every_rank(tmp_path):
    script = tmp_path / "nan.py"
    script.write_text(
        "import numpy as np, neurosim\n"
        "from neurosim.parallel.comm import get_comm\n"
        f"net = neurosim.load({os.path.join(ROOT, 'networks', 'cuba.yaml')!r})\n"
        f"sim = neurosim.Simulation(net, output={str(tmp_path / 'n.h5')!r})\n"
        "if get_comm().rank == 1:\n"
        "    sim.backend.V[5] = np.nan\n"
        "sim.run('50 ms')\n"
    )
    t = time.perf_counter()
    p = launch(3, sys.executable, str(script), timeout=120)
    assert p.returncode != 0
    assert time.perf_counter() - t < 60
    lo = block(3200, 1, 3)[0]
    assert f"error on rank 1: E: neuron {lo + 5}, variable V_m is not finite" in p.stderr, p.stderr[
        -2000:
    ]
    # the rank's recording up to the last flush stays readable
    with neurosim.open(tmp_path / "n.rank1.h5") as rec:
        assert not rec.complete


def test_nan_in_a_graded_network_on_one_rank_ends_every_rank(tmp_path):
    script = tmp_path / "nan_ltc.py"
    script.write_text(
        "import numpy as np, neurosim\n"
        "from neurosim.parallel.comm import get_comm\n"
        f"net = neurosim.load({os.path.join(ROOT, 'networks', 'celegans.yaml')!r})\n"
        f"sim = neurosim.Simulation(net, output={str(tmp_path / 'n.h5')!r})\n"
        "if get_comm().rank == 1:\n"
        "    sim.backend.V[260] = np.nan\n"
        "sim.run('5 ms')\n"
    )
    t = time.perf_counter()
    p = launch(2, sys.executable, str(script), timeout=120)
    assert p.returncode != 0
    assert time.perf_counter() - t < 60
    # checked once per chunk: by then the NaN has spread through the synapses, so the
    # message names the first non-finite neuron of a rank, not necessarily 260
    pattern = r"error on rank \d: neurons: neuron \d+, variable v is not finite"
    assert re.search(pattern, p.stderr), p.stderr[-2000:]
