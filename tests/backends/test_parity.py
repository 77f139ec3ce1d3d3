"""numba (and any other available backend) against the numpy reference: identical bits."""

import numpy as np
import pytest

import neurosim
from tests.conftest import DATA, network

CASES = {
    "mixed": (f"{DATA}/mixed.yaml", [], "200 ms"),
    "cuba": (network("cuba"), [], "300 ms"),
    "coba": (network("coba"), [], "300 ms"),
    "brunel2000_small": (
        network("brunel2000"),
        [
            "populations.E.size=2000",
            "populations.I.size=500",
            "projections.0.rule.fixed_indegree.k=200",
            "projections.1.rule.fixed_indegree.k=50",
            "projections.0.weight=0.5 mV",
            "projections.1.weight=-2.5 mV",
        ],
        "300 ms",
    ),
}


def _record(path, overrides, duration, backend, out):
    net = neurosim.load(path, overrides)
    sim = neurosim.Simulation(net, output=out, backend=backend)
    half = neurosim.units.parse_quantity(duration, "time") / 2
    sim.run(half)
    first = sim.get(net.neuron_populations[0].name, "V_m")
    sim.run(half)
    with neurosim.open(out) as rec:
        spikes = {p: rec.spikes(p) for p in rec.spike_populations}
        reports = {
            (p, v): rec.report(p, v)[1] for p in rec.report_populations for v in rec.variables(p)
        }
    return spikes, reports, first


@pytest.mark.parametrize("case", list(CASES))
def test_numba_equals_numpy(case, tmp_path):
    path, overrides, duration = CASES[case]
    ref = _record(path, overrides, duration, "numpy", tmp_path / "np.h5")
    got = _record(path, overrides, duration, "numba", tmp_path / "nb.h5")
    n_spikes = 0
    for pop, (t, ids) in ref[0].items():
        t2, ids2 = got[0][pop]
        assert np.array_equal(t, t2) and np.array_equal(ids, ids2), pop
        n_spikes += len(t)
    assert n_spikes > 50  # the comparison means something only if neurons fire
    for key, data in ref[1].items():
        assert np.array_equal(data, got[1][key]), key
    assert np.array_equal(ref[2], got[2])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("defer", ["0", "1"])
def test_deferred_delivery_keeps_the_bits(defer, dtype, tmp_path, monkeypatch):
    """Synapses with their own delays (the microcircuit, small): the numba backend's
    immediate and deferred delivery both equal numpy, in spikes, state and in the
    ring a checkpoint takes in the middle of the run (queued input included)."""
    monkeypatch.setenv("NEUROSIM_DEFER_DELIVERY", defer)
    over = ["scale.N=0.03", "scale.K=0.1", "record.state=[]", f"simulation.dtype={dtype}"]
    states = {}
    for be in ("numpy", "numba"):
        spec = neurosim.load(network("microcircuit"), over)
        sim = neurosim.Simulation(spec, output=str(tmp_path / f"{be}.h5"), backend=be)
        if be == "numba":
            assert sim.backend._defer == (defer == "1")
        sim.run("40 ms")
        mid = sim.backend.get_state(sim.step)
        sim.run("40 ms")
        sim.close()
        states[be] = (mid, sim.backend.V.copy())
        with neurosim.open(str(tmp_path / f"{be}.h5")) as rec:
            states[be] += ({p: np.concatenate(rec.spikes(p)) for p in rec.spike_populations},)
    a, b = states["numpy"], states["numba"]
    assert a[0]["ring"].any()  # input was queued for later steps
    for key in ("V", "syn", "ring"):
        assert np.array_equal(a[0][key], b[0][key]), key
    assert np.array_equal(a[1], b[1])
    assert sum(len(x) for x in a[2].values()) > 50
    for pop in a[2]:
        assert np.array_equal(a[2][pop], b[2][pop]), pop


def test_generic_kernel_equals_numpy():
    """The per-neuron generic loop (models without a specialised update), forced on
    mixed.yaml's populations, gives numpy's bits too."""
    from neurosim.backends import numba_backend as nbk

    spec = neurosim.load(f"{DATA}/mixed.yaml")
    out = {}
    for be in ("numpy", "numba"):
        sim = neurosim.Simulation(spec, output=None, backend=be)
        if be == "numba":
            sim.backend._pop_kind[:] = nbk.K_GENERIC
        sim.run("100 ms")
        out[be] = (sim.backend.V.copy(), sim.backend.syn.copy(), sim.summary())
    assert sum(p["spikes"] for p in out["numpy"][2].values()) > 50
    assert np.array_equal(out["numpy"][0], out["numba"][0])
    assert np.array_equal(out["numpy"][1], out["numba"][1])
    assert out["numpy"][2] == out["numba"][2]


@pytest.mark.parametrize(
    "case, models, poisson",
    [
        ("cuba", {"iaf_psc_exp"}, False),
        ("coba", {"iaf_cond_exp"}, False),
        ("brunel2000_small", {"iaf_psc_delta"}, True),
        ("mixed", None, None),
    ],
)
def test_tick_loop_compiles_what_the_network_uses(case, models, poisson, tmp_path):
    """The numba tick loop's switches (neurosim/_numba_gate.py): a model update or the
    Poisson input is compiled only when the network has it."""
    from neurosim.backends.numba_backend import K_ALPHA, K_CALPHA, K_CEXP, K_DELTA, K_EXP

    path, overrides, _ = CASES[case]
    net = neurosim.load(path, overrides)
    sim = neurosim.Simulation(net, output=tmp_path / "o.h5", backend="numba")
    be = sim.backend
    kinds = {
        "iaf_psc_delta": K_DELTA,
        "iaf_psc_exp": K_EXP,
        "iaf_psc_alpha": K_ALPHA,
        "iaf_cond_exp": K_CEXP,
        "iaf_cond_alpha": K_CALPHA,
    }
    present = {p.model for p in net.neuron_populations}
    if models is not None:
        assert present == models
    order = (K_DELTA, K_EXP, K_ALPHA, K_CEXP, K_CALPHA)
    want = tuple(True if any(kinds.get(m) == k for m in present) else None for k in order)
    has_poisson = any(net.populations[p.pre].model == "poisson_generator" for p in net.projections)
    if poisson is not None:
        assert has_poisson == poisson
    assert be._use == want + (True if has_poisson else None,)
    sim.run("1 ms")
    sim.close()
