"""``simulation.dtype: float32``: state, ring buffer and arithmetic in single precision.

The numba kernels and the numpy reference still agree to the bit; the float32 exp is
accurate to 2 ulp; a driven neuron stays within a few µV of its float64 trajectory;
checkpoints, ranks and bad combinations behave as in float64.
"""

import math
import os
import textwrap

import numpy as np
import pytest

import neurosim
from neurosim import Simulation
from neurosim.backends.numpy_backend import pexp32 as np_pexp32
from tests.conftest import DATA, network, run_cli

from ..reliability._util import assert_same
from .test_parity import CASES, _record

F32 = ["simulation.dtype=float32"]


DRAWN = [  # per-neuron parameter tables instead of one row per population
    "populations.E.params.V_th={uniform: [-56 mV, -54 mV]}",
    "populations.I.params.g_L={uniform: [15 nS, 18 nS]}",
    "populations.A.params.tau_m={uniform: [8 ms, 12 ms]}",
]


@pytest.mark.parametrize("case", [*CASES, "mixed_drawn_params"])
def test_numba_equals_numpy_in_float32(case, tmp_path):
    if case == "mixed_drawn_params":
        path, overrides = CASES["mixed"][0], DRAWN
    else:
        path, overrides, _ = CASES[case]
    ref = _record(path, overrides + F32, "200 ms", "numpy", tmp_path / "np.h5")
    got = _record(path, overrides + F32, "200 ms", "numba", tmp_path / "nb.h5")
    n_spikes = 0
    for pop, (t, ids) in ref[0].items():
        t2, ids2 = got[0][pop]
        assert np.array_equal(t, t2) and np.array_equal(ids, ids2), pop
        n_spikes += len(t)
    assert n_spikes > 50
    for key, data in ref[1].items():
        assert np.array_equal(data, got[1][key]), key
    assert ref[2].dtype == np.float32
    assert np.array_equal(ref[2].view(np.int32), got[2].view(np.int32))


def test_pexp32_within_2_ulp_and_the_same_bits_in_numba():
    import numba as nb

    from neurosim.backends._numba_exp import pexp32

    @nb.njit
    def nb_exp(x):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = pexp32(x[i])
        return out

    rng = np.random.default_rng(3)
    x = np.concatenate(
        [
            rng.uniform(-87.0, 88.0, 400_000),
            rng.uniform(-0.5, 0.0, 100_000),
            [-87.0, -86.99, -1e-7, 0.0, 1e-7, 88.0, -87.01, -1e3, -np.inf],
        ]
    ).astype(np.float32)
    a = nb_exp(x)
    with np.errstate(invalid="ignore", over="ignore"):
        b = np_pexp32(x)
    assert np.array_equal(a.view(np.int32), b.view(np.int32))
    ok = (x >= -87.0) & (x <= 88.0)
    ref = np.exp(x[ok].astype(np.float64))
    ulp = np.abs(a[ok] - ref) / np.spacing(ref.astype(np.float32)).astype(np.float64)
    assert ulp.max() <= 2.0, ulp.max()
    assert (a[x < -87.0] == 0.0).all() and not np.signbit(a[x < -87.0]).any()
    assert a[-1] == 0.0  # -inf


SINGLE = textwrap.dedent(
    """\
    name: single
    simulation: {dt: 0.1 ms, duration: 300 ms, seed: 1}
    populations:
      D: {size: 1, model: iaf_psc_delta, params: {I_e: 450 pA}}
      X: {size: 1, model: iaf_psc_exp, params: {I_e: 450 pA}}
      A: {size: 1, model: iaf_psc_alpha, params: {I_e: 450 pA}}
      C: {size: 1, model: iaf_cond_exp, params: {I_e: 400 pA}}
      CA: {size: 1, model: iaf_cond_alpha, params: {I_e: 400 pA}}
      sg: {model: spike_generator, params: {spike_times: [12 ms, 40 ms, 40.3 ms, 133.7 ms]}}
    projections:
      - {pre: sg, post: D, rule: all_to_all, weight: 0.5 mV, delay: 1 ms}
      - {pre: sg, post: [X, A], rule: all_to_all, weight: 40 pA, delay: 1 ms}
      - {pre: sg, post: [C, CA], rule: all_to_all, weight: 3 nS, delay: 1 ms}
      - {pre: sg, post: X, rule: all_to_all, weight: -25 pA, delay: 2 ms}
      - {pre: sg, post: C, rule: all_to_all, weight: -2.5 nS, delay: 2 ms}
    record:
      spikes: [D, X, A, C, CA]
      state:
        - {population: D, variables: [V_m]}
        - {population: X, variables: [V_m]}
        - {population: A, variables: [V_m]}
        - {population: C, variables: [V_m]}
        - {population: CA, variables: [V_m]}
    """
)


def test_float32_trajectories_stay_within_microvolts_of_float64(tmp_path):
    """Driven single neurons, each model: the same spike steps, V_m within 2e-4 mV
    (float32 resolves 4e-6 mV at -60 mV; the error does not grow: each update
    contracts towards its fixed point)."""
    path = tmp_path / "single.yaml"
    path.write_text(SINGLE)
    recs = {}
    for dtype in ("float64", "float32"):
        out = tmp_path / f"{dtype}.h5"
        net = neurosim.load(path, [f"simulation.dtype={dtype}"])
        Simulation(net, output=out, backend="numba").run("300 ms").close()
        with neurosim.open(out) as rec:
            recs[dtype] = (
                {p: rec.spikes(p) for p in rec.spike_populations},
                {p: rec.report(p, "V_m")[1] for p in rec.report_populations},
            )
    n = 0
    for pop, (t, _) in recs["float64"][0].items():
        assert np.array_equal(t, recs["float32"][0][pop][0]), pop
        n += len(t)
    assert n > 20
    for pop, v64 in recs["float64"][1].items():
        v32 = recs["float32"][1][pop]
        assert np.abs(v64 - v32).max() < 2e-4, (pop, np.abs(v64 - v32).max())
        assert not np.array_equal(v64, v32)  # really computed in float32


def test_float32_resumed_equals_uninterrupted(tmp_path):
    mixed = os.path.join(DATA, "mixed.yaml")
    ref = tmp_path / "ref.h5"
    Simulation(neurosim.load(mixed, F32), output=ref).run("120 ms").close()
    out = tmp_path / "out.h5"
    sim = Simulation(neurosim.load(mixed, F32), output=out, checkpoint_every="25 ms")
    sim.run("60 ms")  # checkpoint at 50 ms, "crash" at 60 ms
    assert sim.backend.V.dtype == np.float32
    del sim
    sim = Simulation.resume(out)  # the --set override comes back from the checkpoint
    assert sim.backend.V.dtype == np.float32 and sim.step == 500
    sim.run("70 ms")
    sim.close()
    assert_same(ref, out)
    with neurosim.open(out) as rec:
        assert rec.attrs["dtype"] == "float32"


def test_rates_in_float32_match_float64_on_cuba(tmp_path):
    """Chaos separates single spike trains within tens of ms; population rates agree."""
    rates = {}
    for dtype in ("float64", "float32"):
        net = neurosim.load(network("cuba"), [f"simulation.dtype={dtype}"])
        sim = Simulation(net, output=None, backend="numba")
        sim.run("1000 ms")
        rates[dtype] = {p: s["rate_hz"] for p, s in sim.summary().items()}
    for p, r in rates["float64"].items():
        assert r > 2.0
        assert math.isclose(rates["float32"][p], r, rel_tol=0.1), (p, rates)


def test_cupy_and_ltc_refuse_float32(tmp_cwd):
    out = tmp_cwd / "o.h5"
    proc = run_cli(
        "run", network("cuba"), "-o", out, "--quiet", "--backend", "cupy",
        "--set", "simulation.dtype=float32",
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "simulation.dtype" in proc.stderr and "float64" in proc.stderr
    assert not out.exists()
    proc = run_cli("validate", network("celegans"), "--set", "simulation.dtype=float32")
    assert proc.returncode == 2 and "integrator.dtype" in proc.stderr


def test_parameters_set_between_segments_in_float32(tmp_path):
    """``Simulation.set`` recomputes the propagators in float64 and rounds them again."""
    mixed = os.path.join(DATA, "mixed.yaml")
    out = {}
    for backend in ("numpy", "numba"):
        sim = Simulation(neurosim.load(mixed, F32), output=None, backend=backend)
        sim.run("40 ms").set("E", I_e="150 pA", tau_m="15 ms").run("60 ms")
        out[backend] = (sim.spikes("E"), sim.get("E", "V_m"))
    (t0, i0), v0 = out["numpy"]
    (t1, i1), v1 = out["numba"]
    assert len(t0) > 20 and np.array_equal(t0, t1) and np.array_equal(i0, i1)
    assert v0.dtype == np.float32 and np.array_equal(v0.view(np.int32), v1.view(np.int32))
