"""stdp_synapse, its nearest-neighbour variants (stdp_nn_symm_synapse,
stdp_nn_restr_synapse, stdp_nn_pre_centered_synapse) and tsodyks_synapse against NEST
3.x (tests/reference/nest_plasticity.json, made by
tests/reference/make_nest_plasticity.py): spike pairs, bursts and Poisson trains imposed
through parrot neurons; final weights (stdp) and x, y, u and the target's V_m
(tsodyks) equal NEST's to 1e-9 relative."""

import json
from pathlib import Path

import numpy as np
import pytest

import neurosim
from neurosim.plasticity import get_weights, synapse_state

REF = json.loads((Path(__file__).parents[1] / "reference" / "nest_plasticity.json").read_text())
RTOL = 1e-9


def _stdp_network(cases):
    pops, projs = {}, []
    for i, c in enumerate(cases):
        pops[f"sa{i}"] = {"model": "spike_generator", "params": {"spike_times": c["pre"]}}
        pops[f"sb{i}"] = {"model": "spike_generator", "params": {"spike_times": c["post"]}}
        pops[f"A{i}"] = {"model": "parrot_neuron", "size": 1}
        pops[f"B{i}"] = {
            "model": "parrot_neuron",
            "size": 1,
            "params": {"tau_minus": c["tau_minus"]},
        }
        projs += [
            {"pre": f"sa{i}", "post": f"A{i}", "rule": "one_to_one", "delay": 1.0},
            {"pre": f"sb{i}", "post": f"B{i}", "rule": "one_to_one", "delay": 1.0},
            {
                "pre": f"A{i}",
                "post": f"B{i}",
                "rule": "one_to_one",
                "weight": c["w0"],
                "delay": c["delay"],
                "receptor": "in",
                "synapse": {"model": c.get("model", "stdp_synapse"), "params": c["params"]},
            },
        ]
    return {
        "simulation": {"dt": REF["dt"], "duration": REF["T"], "seed": 1},
        "populations": pops,
        "projections": projs,
        "record": {"spikes": [f"A{i}" for i in range(len(cases))]},
    }


def _tsodyks_network(cases):
    pops, projs, state = {}, [], []
    for i, c in enumerate(cases):
        pops[f"s{i}"] = {"model": "spike_generator", "params": {"spike_times": c["pre"]}}
        pops[f"A{i}"] = {"model": "parrot_neuron", "size": 1}
        pops[f"P{i}"] = {
            "model": "iaf_psc_exp",
            "size": 1,
            "params": {"tau_syn_ex": c["params"]["tau_psc"], "V_th": 1e6},
        }
        projs += [
            {"pre": f"s{i}", "post": f"A{i}", "rule": "one_to_one", "delay": 1.0},
            {
                "pre": f"A{i}",
                "post": f"P{i}",
                "rule": "one_to_one",
                "weight": c["weight"],
                "delay": c["delay"],
                "synapse": {"model": "tsodyks_synapse", "params": c["params"]},
            },
        ]
        state.append({"population": f"P{i}", "variables": ["V_m"], "interval": 1.0})
    return {
        "simulation": {"dt": REF["dt"], "duration": REF["T"], "seed": 1},
        "populations": pops,
        "projections": projs,
        "record": {"spikes": [f"A{i}" for i in range(len(cases))], "state": state},
    }


def _run(doc, tmp_path, backend):
    spec = neurosim.network.spec.build_spec(doc, path=str(tmp_path / "net.yaml"))
    sim = neurosim.Simulation(spec, output=str(tmp_path / f"{backend}.h5"), backend=backend)
    sim.run(f"{REF['T']} ms")
    return sim


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-300)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_stdp_weights_equal_nest(tmp_path, backend):
    cases = REF["stdp"]
    sim = _run(_stdp_network(cases), tmp_path, backend)
    worst = {}
    for i, c in enumerate(cases):
        pre, post, w = get_weights(sim, f"A{i}->B{i}")
        assert len(w) == 1 and pre[0] == 0 and post[0] == 0
        r = float(_rel(w[0], c["w_final"]))
        worst[c["kind"]] = max(worst.get(c["kind"], 0.0), r)
        assert r <= RTOL, (i, c["kind"], c["delay"], w[0], c["w_final"])
    # every protocol moved the weight
    assert all(abs(c["w_final"] - c["w0"]) > 1e-3 for c in cases)
    print("max relative difference per protocol:", worst)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_stdp_nearest_neighbour_weights_equal_nest(tmp_path, backend):
    cases = REF["stdp_nn"]
    sim = _run(_stdp_network(cases), tmp_path, backend)
    worst = {}
    final = {}
    for i, c in enumerate(cases):
        _pre, _post, w = get_weights(sim, f"A{i}->B{i}")
        r = float(_rel(w[0], c["w_final"]))
        key = (c["model"], c["kind"])
        worst[key] = max(worst.get(key, 0.0), r)
        final.setdefault((c["kind"], c["delay"], str(c["pre"][:3])), {})[c["model"]] = w[0]
        assert r <= RTOL, (i, c["model"], c["kind"], c["delay"], w[0], c["w_final"])
    assert all(abs(c["w_final"] - c["w0"]) > 1e-3 for c in cases)
    # the three pairings give different weights on bursts and Poisson trains
    differ = [len({round(v, 9) for v in f.values()}) == 3 for f in final.values() if len(f) == 3]
    assert sum(differ) >= 4
    print("max relative difference per (model, protocol):", worst)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_tsodyks_state_and_potential_equal_nest(tmp_path, backend):
    cases = REF["tsodyks"]
    sim = _run(_tsodyks_network(cases), tmp_path, backend)
    rec = neurosim.open(str(tmp_path / f"{backend}.h5"))
    for i, c in enumerate(cases):
        st = synapse_state(sim, f"A{i}->P{i}")
        for k in ("x", "y", "u"):
            assert _rel(st[k][0], c[k]) <= RTOL, (i, k, st[k][0], c[k])
        t, v, _ids = rec.report(f"P{i}", "V_m")
        ref_t = np.asarray(c["V_times"])
        idx = np.searchsorted(np.round(t, 6), np.round(ref_t, 6))
        assert np.allclose(t[idx], ref_t)
        got, ref = v[idx, 0], np.asarray(c["V_m"])
        # potentials relative to rest (-70 mV): the PSPs themselves
        dv = np.max(np.abs(got - ref) / np.maximum(np.abs(ref + 70.0), 1e-3))
        assert dv <= RTOL, (i, dv)
        assert np.max(np.abs(ref + 70.0)) > 0.5
        print(
            f"tsodyks {i}: max relative difference of x, y, u and V_m - E_L:",
            dv,
            [float(_rel(st[k][0], c[k])) for k in ("x", "y", "u")],
        )
