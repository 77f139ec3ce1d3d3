"""Single-neuron edge cases against NEST 3.10 (tests/reference/nest_edge_cases.json).

Made by tests/reference/make_nest_edge_cases.py: t_ref off the dt grid, delays on a
half step, V_min above V_reset, V_m set above threshold while refractory.  Spike
times identical on the grid; V_m within 1e-9 mV for the current-based models, within
the conductance-model tolerance of test_nest_reference.py for iaf_cond_exp (NEST's
RKF45 against the closed form).
"""

import json
import os

import numpy as np
import pytest
import yaml

import neurosim
from tests.conftest import ROOT
from tests.test_nest_reference import TOL_COND

REF = json.load(open(os.path.join(ROOT, "tests", "reference", "nest_edge_cases.json")))


def _doc(case, duration):
    pops = {"N": {"size": 1, "model": case["model"], "params": dict(case["params"])}}
    projections = []
    if "spike" in case:
        sp = case["spike"]
        pops["G"] = {"model": "spike_generator", "params": {"spike_times": sp["times"]}}
        projections.append(
            {
                "pre": "G",
                "post": "N",
                "rule": "all_to_all",
                "weight": sp["weight"],
                "delay": sp["delay"],
            }
        )
    return {
        "simulation": {"dt": REF["dt"], "duration": duration},
        "populations": pops,
        "projections": projections,
        "record": {
            "spikes": ["N"],
            "state": [{"population": "N", "variables": ["V_m"], "interval": REF["dt"]}],
        },
    }


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("case", REF["cases"], ids=[c["name"] for c in REF["cases"]])
def test_edge_case_against_nest(case, backend, tmp_path):
    segments = case["segments"]
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(_doc(case, sum(d for d, _ in segments))))
    out = tmp_path / "out.h5"
    sim = neurosim.Simulation(neurosim.load(path), output=out, backend=backend)
    for dur, state in segments:
        sim.run(dur)
        if state:
            sim.set("N", **state)
    sim.close()
    with neurosim.open(out) as rec:
        t_spk, _ = rec.spikes("N")
        times, v, _ = rec.report("N", "V_m")
    ref_t, ref_v = np.asarray(case["times"]), np.asarray(case["V_m"])
    assert np.allclose(times, ref_t, rtol=0, atol=1e-9)
    assert np.allclose(t_spk, case["spike_times"], rtol=0, atol=1e-9), (t_spk, case["spike_times"])
    tol = TOL_COND if "cond" in case["model"] else 1e-9
    assert np.max(np.abs(v[:, 0] - ref_v)) <= tol, np.max(np.abs(v[:, 0] - ref_v))
