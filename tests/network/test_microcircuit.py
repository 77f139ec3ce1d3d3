"""The Potjans & Diesmann (2014) microcircuit (networks/microcircuit.yaml) and the
``scale`` section (neurosim/network/scaling.py) against NEST's example.

The NEST side is recomputed here from the numbers of NEST 3's
``pynest/examples/Potjans_2014/network_params.py`` with the formulas of its
``helpers.py`` and ``network.py`` (synapse numbers, PSP -> PSC, the DC compensation of
in-degree scaling), so the file and the scaling code are checked against an independent
transcription.  The activity test runs NEST's default reduced model (N and K scaled by
0.1: 7,717 neurons, 2.99 M synapses), 1.5 s, in a few seconds on one thread.
"""

import math

import numpy as np
import pytest

import neurosim
from neurosim.network.spec import SpecError, build_spec

from ..conftest import network

POPS = ["L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I"]
N_FULL = np.array([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948])
CONN_PROBS = np.array(  # [target, source]
    [
        [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
        [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
        [0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0],
        [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
        [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
        [0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0],
        [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
        [0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443],
    ]
)
K_EXT = np.array([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100])
FULL_MEAN_RATES = np.array([0.943, 3.026, 4.368, 5.882, 7.733, 8.664, 1.096, 7.851])
SCALE = 0.1  # N and K, NEST's default reduced model
TRANSIENT_MS, DURATION_MS = 500.0, 1500.0


def nest_full_synapses():
    """helpers.num_synapses_from_conn_probs at full scale, [target, source], unrounded."""
    prod = np.outer(N_FULL, N_FULL).astype(float)
    return np.log(1.0 - CONN_PROBS) / np.log((prod - 1.0) / prod)


def nest_psc_over_psp(C_m=250.0, tau_m=10.0, tau_syn=0.5):
    """helpers.postsynaptic_potential_to_current (pA per mV)."""
    sub = 1.0 / (tau_syn - tau_m)
    pre = tau_m * tau_syn / C_m * sub
    frac = (tau_m / tau_syn) ** sub
    return 1.0 / (pre * (frac**tau_m - frac**tau_syn))


def nest_dc(K_scaling, poisson_input):
    """network.py __derive_parameters + helpers.adjust_weights_and_input_to_synapse_scaling:
    the I_e (pA) of each population."""
    f = nest_psc_over_psp()
    psp = np.zeros((8, 8))
    psp[:, 0::2], psp[:, 1::2] = 0.15, 0.15 * -4
    psp[0, 2] = 0.3
    w, w_ext = psp * f, 0.15 * f
    dc = np.zeros(8) if poisson_input else 8.0 * K_EXT * w_ext * 0.5 * 0.001
    if K_scaling != 1:
        indeg = nest_full_synapses() / N_FULL[:, None]
        rec = np.sum(w * indeg * FULL_MEAN_RATES, axis=1)
        dc = dc + 0.001 * 0.5 * (1.0 - np.sqrt(K_scaling)) * rec
        if poisson_input:
            dc = dc + 0.001 * 0.5 * (1.0 - np.sqrt(K_scaling)) * w_ext * K_EXT * 8.0
    return dc


def load(*sets):
    return neurosim.load(network("microcircuit"), list(sets))


def scaled_sets(n=SCALE, k=SCALE):
    return [f"scale.N={n}", f"scale.K={k}"]


@pytest.fixture(scope="module")
def small_run():
    """NEST's reduced model (N = K = 0.1), 1.5 s, spikes in memory."""
    spec = load(*scaled_sets(), "simulation.seed=1")
    sim = neurosim.Simulation(spec, backend="numba")
    sim.run(DURATION_MS)
    return spec, sim


def test_full_scale_file_is_the_paper_model():
    spec = load()
    assert [p.size for p in spec.neuron_populations] == list(N_FULL)
    S = nest_full_synapses()
    expect = {
        f"{POPS[j]}->{POPS[i]}": round(S[i, j])
        for i in range(8)
        for j in range(8)
        if CONN_PROBS[i, j] > 0
    }
    got = {p.name: p.rule_args["n"] for p in spec.projections if p.rule == "fixed_total_number"}
    assert got == expect
    # NEST 3.10 reports 299,035,306 connections: these plus 77,169 Poisson and 77,169
    # spike-recorder connections
    assert sum(got.values()) == 298_880_968 == 299_035_306 - 2 * 77_169
    f = nest_psc_over_psp()
    for p in spec.projections:
        pre = p.pre
        if pre.startswith("bg_"):
            i = POPS.index(p.post)
            assert spec.populations[pre].params["rate"] == 8.0 * K_EXT[i]
            assert p.weight.args[0] == pytest.approx(0.15 * f, rel=1e-6)
            continue
        psp = 0.3 if (pre, p.post) == ("L4E", "L23E") else 0.15 if pre[-1] == "E" else -0.6
        mean, std, lo, hi = p.weight.args
        assert p.weight.kind == "normal"  # redrawn outside the bounds, as nest.math.redraw
        assert mean == pytest.approx(psp * f, rel=1e-6)
        assert std == pytest.approx(0.1 * abs(psp * f), rel=1e-6)
        assert (lo, hi) == ((0.0, math.inf) if psp > 0 else (-math.inf, 0.0))
        d_mean = 1.5 if pre[-1] == "E" else 0.75
        assert p.delay.args[:3] == (d_mean, 0.5 * d_mean, 0.1)
        assert p.allow_autapses and p.allow_multapses
    assert not any("I_e" in p.params for p in spec.neuron_populations)  # no DC at full scale


def test_scaled_sizes_and_synapse_counts_match_nest(small_run):
    spec, sim = small_run
    n_nest = np.round(N_FULL * SCALE).astype(int)
    assert [spec.populations[p].size for p in POPS] == list(n_nest)
    syn_nest = np.round(nest_full_synapses() * SCALE * SCALE).astype(int)
    built = {name: n for name, pre, post, n in sim.built.projection_info}
    for i, post in enumerate(POPS):
        for j, pre in enumerate(POPS):
            if CONN_PROBS[i, j] > 0:
                assert built[f"{pre}->{post}"] == syn_nest[i, j], (pre, post)
    recurrent = sum(n for name, pre, post, n in sim.built.projection_info if pre in POPS)
    assert recurrent == sim.built.n_synapses == syn_nest.sum() == 2_988_807
    for pop in POPS:  # one Poisson synapse per neuron
        assert built[f"bg_{pop}->{pop}"] == spec.populations[pop].size


@pytest.mark.parametrize("poisson_input", [True, False])
def test_dc_compensation_and_scaled_input_match_nest(poisson_input):
    sets = scaled_sets() + ([] if poisson_input else ["scale.poisson_as_dc=true"])
    spec = load(*sets)
    got = np.array([spec.populations[p].params["I_e"].args[0] for p in POPS])
    np.testing.assert_allclose(got, nest_dc(SCALE, poisson_input), rtol=1e-6)
    f = nest_psc_over_psp()
    if poisson_input:
        for i, pop in enumerate(POPS):  # rate 8 Hz x round(K_ext K), weight / sqrt(K)
            assert spec.populations[f"bg_{pop}"].params["rate"] == pytest.approx(
                8.0 * round(K_EXT[i] * SCALE)
            )
        bg = [p for p in spec.projections if p.pre.startswith("bg_")]
        assert len(bg) == 8
        assert bg[0].weight.args[0] == pytest.approx(0.15 * f / math.sqrt(SCALE), rel=1e-6)
    else:
        assert not any(p.pre.startswith("bg_") for p in spec.projections)
        assert not any(name.startswith("bg_") for name in spec.populations)
        assert [p.index for p in spec.projections] == list(range(len(spec.projections)))
    w = next(p for p in spec.projections if p.name == "L4E->L23E").weight
    assert w.args[0] == pytest.approx(0.3 * f / math.sqrt(SCALE), rel=1e-6)
    assert w.args[1] == pytest.approx(0.03 * f / math.sqrt(SCALE), rel=1e-6)


def test_dc_variant_at_full_scale_is_nest_poisson_input_false():
    spec = load("scale.poisson_as_dc=true")
    got = np.array([spec.populations[p].params["I_e"].args[0] for p in POPS])
    np.testing.assert_allclose(got, nest_dc(1, False), rtol=1e-6)
    assert spec.scale["removed"] == [f"bg_{p}" for p in POPS]


def test_rate_ordering_of_the_paper(small_run):
    """L2/3E lowest of the excitatory populations, inhibitory above excitatory in every
    layer, L5E highest excitatory (Potjans & Diesmann 2014, Fig. 6; NEST full scale:
    0.90 2.97 4.41 5.88 7.57 8.63 1.10 7.83 Hz).  Holds at N = K = 0.1 for seeds 1-8
    (the smallest margin, L5I over L5E, was 12 %); at 0.05 too, at 0.02 no longer
    (L4I falls below L4E), so the test stays at NEST's 0.1."""
    spec, sim = small_run
    window = (DURATION_MS - TRANSIENT_MS) * 1e-3
    rates = {}
    for pop in POPS:
        t, _ = sim.spikes(pop)
        rates[pop] = np.count_nonzero(t > TRANSIENT_MS) / spec.populations[pop].size / window
    E = [rates[p] for p in POPS[0::2]]
    I = [rates[p] for p in POPS[1::2]]
    assert rates["L23E"] == min(E), rates
    assert all(i > e for e, i in zip(E, I, strict=True)), rates
    assert rates["L5E"] == max(E), rates
    assert all(0.1 < r < 20.0 for r in rates.values()), rates


# ----------------------------------------------------------------------------- the grammar


def _doc(**scale):
    return {
        "populations": {
            "E": {"size": 400, "model": "iaf_psc_exp", "params": {"tau_syn_ex": 2.0}},
            "I": {"size": 100, "model": "iaf_psc_alpha"},
            "ext": {"model": "poisson_generator", "params": {"rate": 1000.0}},
        },
        "projections": [
            {"pre": "E", "post": ["E", "I"], "rule": {"fixed_indegree": {"k": 40}}, "weight": 10.0},
            {"pre": "I", "post": "E", "rule": {"pairwise_bernoulli": {"p": 0.1}}, "weight": -40},
            {"pre": "ext", "post": ["E", "I"], "rule": "all_to_all", "weight": 20.0},
        ],
        "scale": scale,
    }


def test_scale_section_on_other_rules():
    spec = build_spec(_doc(N=0.5, K=0.25, rates={"E": 4.0, "I": 10.0}))
    assert spec.populations["E"].size == 200 and spec.populations["I"].size == 50
    by = {p.name: p for p in spec.projections}
    assert by["E->E"].rule_args["k"] == 10 and by["E->I"].rule_args["k"] == 10
    assert by["I->E"].rule_args["p"] == pytest.approx(0.1 * 0.25 / 0.5)
    assert by["E->E"].weight.args[0] == pytest.approx(20.0)
    assert by["ext->E"].weight.args[0] == pytest.approx(40.0)
    assert spec.populations["ext"].params["rate"] == pytest.approx(250.0)
    # DC: (1 - sqrt K) sum w k r Q, Q = tau_syn (exp) or e tau_syn (alpha), in pA
    dc_E = 0.5 * 1e-3 * (10.0 * 40 * 4.0 * 2.0 + -40.0 * 0.1 * 100 * 10.0 * 2.0 + 20 * 1000 * 2.0)
    dc_I = 0.5 * 1e-3 * (10.0 * 40 * 4.0 * math.e * 2.0 + 20 * 1000 * math.e * 2.0)
    assert spec.populations["E"].params["I_e"].args[0] == pytest.approx(dc_E)
    assert spec.populations["I"].params["I_e"].args[0] == pytest.approx(dc_I)
    assert spec.scale["dc"]["E"] == pytest.approx(dc_E)


def test_scale_n_alone_keeps_weights_and_adds_no_current():
    spec = build_spec(_doc(N=0.5))
    assert spec.projections[0].weight.args[0] == 10.0
    assert "I_e" not in spec.populations["E"].params
    assert spec.populations["ext"].params["rate"] == 1000.0


@pytest.mark.parametrize(
    "scale, field, words",
    [
        ({"K": 0.5}, "scale.rates", "full-scale rate of 'E'"),
        ({"K": 0.5, "rates": {"E": 1.0, "X": 2.0}}, "scale.rates.X", "unknown"),
        ({"N": 0}, "scale.N", "> 0"),
        ({"N": "a lot"}, "scale.N", ""),
        ({"M": 1}, "scale.M", "unknown key"),
        ({"N": 0.001}, "scale.N", "would have none"),
        ({"N": 0.05}, "projections[1].rule", "> 1"),
        ({"poisson_as_dc": "yes"}, "scale.poisson_as_dc", "true or false"),
    ],
)
def test_scale_errors_name_the_field(scale, field, words):
    with pytest.raises(SpecError) as e:
        build_spec(_doc(**scale))
    assert e.value.field == field and words in e.value.message


def test_fixed_total_number_from_p_errors():
    doc = _doc()
    doc["projections"] = [
        {"pre": "E", "post": "I", "rule": {"fixed_total_number": {"p": 0.1, "n": 5}}}
    ]
    with pytest.raises(SpecError, match="not both"):
        build_spec(doc)
    doc["projections"][0]["rule"] = {"fixed_total_number": {"p": 1.0}}
    with pytest.raises(SpecError, match="p < 1"):
        build_spec(doc)
    doc["projections"][0]["rule"] = {"fixed_total_number": {"p": 0.1}}
    n = build_spec(doc).projections[0].rule_args["n"]
    assert n == round(math.log(0.9) / math.log(1 - 1 / (400 * 100)))


def test_conductance_targets_refuse_k_scaling():
    doc = _doc(K=0.5, rates={"E": 1.0, "I": 1.0})
    doc["populations"]["I"]["model"] = "iaf_cond_exp"
    with pytest.raises(SpecError, match="not a current"):
        build_spec(doc)
