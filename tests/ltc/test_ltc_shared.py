"""Shared synapse parameters (activation tables) of LTC networks: the same bits as
per-synapse storage, numpy == numba, any thread count, tiles, the ltc_1m network."""

import numba
import numpy as np
import pytest
import yaml

import neurosim
from neurosim.backends.ltc_numba import LtcNumbaBackend
from neurosim.backends.ltc_numpy import LtcNumpyBackend, ltc_record_plan
from neurosim.ltc.build import B_TAB, TILE, build_ltc
from tests.conftest import network, run_cli


def _mixed_net(tmp_path, method="closed_form", na=300, nb=200, T=12, big=0):
    """Two populations and an input; every kind of projection: shared with a constant w
    (folded into the table), shared with a drawn w (float32), shared with per-synapse
    E_rev, per-synapse gamma, rules that walk sources, gap junctions.  ``big`` adds a
    presynaptic population of that size (several tiles) projecting all-to-all."""
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "seq.npz", inputs=rng.normal(size=(T, 3)))
    pops = {
        "inp": {"model": "time_series", "params": {"file": "seq.npz", "key": "inputs"}},
        "A": {
            "size": na,
            "model": "ltc_neuron",
            "params": {
                "c_m": {"uniform": [0.4, 0.6]},
                "g_leak": {"uniform": [0.1, 1]},
                "v_leak": {"uniform": [-0.2, 0.2]},
                "I_ext": 0.05,
            },
            "initial": {"v": {"uniform": [-0.5, 0.5]}},
            "integrator": {"method": method, "substeps": 2},
        },
        "B": {
            "size": nb,
            "model": "ltc_neuron",
            "params": {"c_m": 0.5, "g_leak": 0.3, "v_leak": 0.0},
            "initial": {"v": {"uniform": [-0.5, 0.5]}},
            "integrator": {"method": "exp_midpoint", "substeps": 1},
        },
    }

    def syn(**p):
        return {"model": "ltc_synapse", "params": p}

    projs = [
        {
            "pre": "inp",
            "post": ["A", "B"],
            "rule": {"fixed_indegree": {"k": 2}},
            "synapse": syn(w=0.3, gamma=2.0, mu=0.0, E_rev=1.0),
        },
        {
            "pre": "A",
            "post": ["A", "B"],
            "rule": {"fixed_indegree": {"k": 20}},
            "synapse": syn(w={"uniform": [0.01, 0.05]}, gamma=4.0, mu=0.1, E_rev=1.0),
        },
        {
            "pre": "B",
            "post": "A",
            "rule": {"pairwise_bernoulli": {"p": 0.1}},
            "synapse": syn(w=0.02, gamma=3.0, mu=-0.1, E_rev=-1.0),
        },
        {
            "pre": "B",
            "post": "B",
            "rule": {"fixed_total_number": {"n": 2000}},
            "synapse": syn(
                w={"uniform": [0.01, 0.05]}, gamma=3.0, mu=-0.1, E_rev={"uniform": [-1.0, 1.0]}
            ),
        },
        {
            "pre": "B",
            "post": "A",
            "rule": {"fixed_outdegree": {"k": 3}},
            "synapse": syn(w=0.04, gamma=3.0, mu=-0.1, E_rev=-1.0),
        },
        {
            "pre": "A",
            "post": "A",
            "rule": {"fixed_indegree": {"k": 3}},
            "synapse": syn(w=0.03, gamma=4.0, mu=0.1, E_rev={"normal": [0.0, 0.5]}),
        },
        {
            "pre": "A",
            "post": "B",
            "rule": {"fixed_indegree": {"k": 5}},
            "synapse": syn(w=0.05, gamma={"uniform": [2.0, 6.0]}, mu=0.0, E_rev=1.0),
        },
        {
            "pre": "A",
            "post": "A",
            "rule": {"fixed_indegree": {"k": 2}},
            "synapse": {"model": "gap_junction", "params": {"g": 0.1}},
        },
    ]
    if big:
        pops["C"] = {
            "size": big,
            "model": "ltc_neuron",
            "params": {"I_ext": 0.3},
            "initial": {"v": {"uniform": [-0.5, 0.5]}},
        }
        projs += [
            {
                "pre": "C",
                "post": "B",
                "rule": "all_to_all",
                "synapse": syn(w=1e-5, gamma=3.0, mu=0.2, E_rev=-1.0),
            },
            {
                "pre": "C",
                "post": "A",
                "rule": {"fixed_indegree": {"k": 30}},
                "synapse": syn(
                    w={"uniform": [0.001, 0.01]},
                    gamma={"uniform": [2.0, 4.0]},
                    mu=0.1,
                    E_rev={"uniform": [-1.0, 1.0]},
                ),
            },
            {
                "pre": "A",
                "post": "C",
                "rule": {"fixed_indegree": {"k": 2}},
                "synapse": syn(w=0.1, gamma=3.0, mu=0.2, E_rev=1.0),
            },
        ]
    doc = {
        "simulation": {"dt": 1.0, "duration": float(T), "seed": 7},
        "populations": pops,
        "projections": projs,
        "record": {"state": [{"population": "A", "variables": ["v"]}]},
    }
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _run_built(spec, b, backend, nsteps):
    cls = LtcNumbaBackend if backend == "numba" else LtcNumpyBackend
    be = cls(b, ltc_record_plan(b, spec.record_state))
    be.run(0, nsteps)
    return be.V.copy()


@pytest.mark.parametrize("method", ["closed_form", "exp_midpoint", "euler", "rk4", "ltc_fused"])
def test_shared_equals_per_synapse(tmp_path, method):
    """Activation tables give the bits of per-synapse storage of the same values, and
    the numpy reference gives the bits of the numba backend."""
    spec = neurosim.load(_mixed_net(tmp_path, method))
    shared = build_ltc(spec)
    persyn = build_ltc(spec, share=False)
    tabs = shared.blk[:, B_TAB]
    assert (tabs >= 0).sum() == 8 and (tabs < 0).sum() == 1  # A->B has per-synapse gamma
    # tables: inp (w folded), A, B (w 0.02 folded), B, B (w 0.04 folded), A (w folded)
    assert len(shared.tab_i) == 6
    # summation order: by projection, then by presynaptic index within a target
    f = shared.flat(0, shared.n_neurons)
    key = np.lexsort((f["xsrc"], f["blk"], f["tgt"]))
    assert np.array_equal(key, np.arange(len(key)))
    assert (persyn.blk[:, B_TAB] < 0).all() and persyn.n_S == 0
    assert shared.n_synapses == persyn.n_synapses
    a = _run_built(spec, shared, "numba", 12)
    b = _run_built(spec, persyn, "numba", 12)
    c = _run_built(spec, shared, "numpy", 12)
    d = _run_built(spec, persyn, "numpy", 12)
    assert np.array_equal(a, b) and np.array_equal(a, c) and np.array_equal(a, d)
    assert np.all(np.isfinite(a)) and np.ptp(a) > 0.05


def test_shared_equals_file_arrays(tmp_path):
    """The same synapses given as connection files with per-synapse arrays (w, gamma,
    mu, E_rev; one file per projection, targets shuffled) give the same bits; the drawn w
    (float32) are exact float32 in the files, so they stay as they are."""
    path = _mixed_net(tmp_path)
    spec = neurosim.load(path)
    b = build_ltc(spec)
    f = b.flat(0, b.n_neurons)
    doc = yaml.safe_load(path.read_text())
    gaps = [p for p in doc["projections"] if p["synapse"]["model"] == "gap_junction"]
    projs = []
    rng = np.random.default_rng(0)
    for bi, proj in enumerate(p for p in spec.projections if p.synapse == "ltc_synapse"):
        sel = np.nonzero(f["blk"] == bi)[0]
        # targets in random order; a target's rows in order (multapses: file order)
        sel = sel[np.argsort(rng.permutation(b.n_neurons)[f["tgt"][sel]], kind="stable")]
        lp, lq = b.layouts[proj.pre], b.layouts[proj.post]
        np.savez(
            tmp_path / f"p{bi}.npz",
            pre=f["xsrc"][sel] - lp.n0,
            post=f["tgt"][sel] - lq.n0,
            w=f["w"][sel],
            gamma=f["gamma"][sel],
            mu=f["mu"][sel],
            E_rev=f["E"][sel],
        )
        projs.append(
            {"pre": proj.pre, "post": proj.post, "rule": {"from_file": {"path": f"p{bi}.npz"}}}
        )
    doc["projections"] = projs + gaps
    (tmp_path / "file.yaml").write_text(yaml.safe_dump(doc))
    spec2 = neurosim.load(tmp_path / "file.yaml")
    b2 = build_ltc(spec2)
    f2 = b2.flat(0, b2.n_neurons)
    for name in ("tgt", "xsrc", "w", "gamma", "mu", "E", "blk"):
        assert np.array_equal(f[name], f2[name]), name
    # constant-valued arrays are shared again (tables); the varying gamma is not
    assert np.array_equal(b.blk[:, B_TAB] >= 0, b2.blk[:, B_TAB] >= 0)
    assert b2.wp.dtype == np.float64 or b.wp.dtype == np.float32
    v1 = _run_built(spec, b, "numba", 12)
    for v in (
        _run_built(spec2, b2, "numba", 12),
        _run_built(spec2, b2, "numpy", 12),
        _run_built(spec2, build_ltc(spec2, share=False), "numba", 12),
    ):
        assert np.array_equal(v1, v)


def test_threads_and_tiles(tmp_path):
    """A pre population of several tiles (cells over 65535 synapses: uint32 counts),
    a population large enough for the parallel path: 1 and 2 threads, numpy and numba,
    shared and per-synapse storage all give the same bits."""
    spec = neurosim.load(_mixed_net(tmp_path, "closed_form", na=5000, nb=3, T=4, big=TILE + 4500))
    b = build_ltc(spec)
    assert b.cnt.dtype == np.uint32 and b.max_cell == TILE
    assert b.blk[:, 4].max() == 2  # two tiles
    out = []
    old = numba.get_num_threads()
    try:
        for th in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(th)
            out.append(_run_built(spec, b, "numba", 4))
            out.append(_run_built(spec, build_ltc(spec, share=False), "numba", 4))
    finally:
        numba.set_num_threads(old)
    out.append(_run_built(spec, b, "numpy", 4))
    for v in out[1:]:
        assert np.array_equal(out[0], v)
    assert np.all(np.isfinite(out[0])) and np.ptp(out[0]) > 0.05


def test_ltc_1m_scaled_down(tmp_cwd):
    """networks/ltc_1m.yaml at 1/100 scale: runs from the command line, numpy == numba,
    about 6 bytes per synapse (uint16 offsets, float32 w, no per-synapse gamma/mu/E)."""
    ov = ["populations.E.size=8000", "populations.I.size=2000"]
    proc = run_cli(
        "run",
        network("ltc_1m"),
        "-o",
        "small.h5",
        "--duration",
        "5 ms",
        "--quiet",
        *[x for o in ov for x in ("--set", o)],
    )
    assert proc.returncode == 0, proc.stderr
    with neurosim.open(tmp_cwd / "small.h5") as rec:
        _t, v, _ids = rec.report("E", "v")
    assert v.shape == (5, 8) and np.all(np.isfinite(v))
    spec = neurosim.load(network("ltc_1m"), ov)
    b = build_ltc(spec)
    assert b.n_synapses == 100 * 10000
    assert b.wp.dtype == np.float32 and len(b.gp) == 0 and len(b.Ep) == 0
    assert len(b.wp) == 99 * 10000  # the input projection's constant w is in its table
    assert b.synapse_bytes() / b.n_synapses < 7.0
    v1 = _run_built(spec, b, "numba", 6)
    v2 = _run_built(spec, b, "numpy", 6)
    assert np.array_equal(v1, v2) and np.ptp(v1) > 0.05
