"""Generate single-neuron edge cases from NEST 3.x -> nest_edge_cases.json.

Run with the peers venv (see tests/reference/README.md):

    OMP_WAIT_POLICY=PASSIVE /work/peers-venv/bin/python tests/reference/make_nest_edge_cases.py

What nest_single_neuron.json (default parameters) leaves out, at resolution 0.1 ms,
1 thread, one neuron, V_m sampled every 0.1 ms and the spike times recorded:

* "t_ref": t_ref off the grid (2.05 ms, 0.04 ms): NEST rounds the refractory count up
  (``Time::get_steps``), 21 and 1 steps; iaf_psc_exp and iaf_cond_exp driven by I_e.
* "delay": a spike_generator spike at 10 ms into iaf_psc_delta (2 mV) through a delay
  of 1.25 ms or 0.15 ms: NEST rounds delays half up (``Time::delay_ms_to_steps``),
  13 and 2 steps.
* "v_min": V_min above V_reset (iaf_psc_alpha, iaf_psc_delta) driven by I_e: NEST
  clamps V_m to V_min only in free steps.
* "set_refractory": iaf_cond_exp and iaf_psc_exp driven by I_e; after 4.5 ms (cond; its
  first spike is at 4.4 ms) or 5 ms (psc; 4.8 ms) V_m is set to -50 mV, above threshold,
  while the neuron is refractory, then 10 ms more: iaf_cond_* keep V_m at V_reset
  through the refractory period (no second spike); iaf_psc_* hold the value set and
  fire at once.

Each case stores the NEST parameters set explicitly (``params``), the segments
(``segments``: [duration, {state to set after it}]), the sample times, V_m and the spike
times.  tests/test_nest_reference.py runs the same cases in neurosim.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import nest  # noqa: E402

DT = 0.1
EXTRA = 5.0  # simulated past the end, then trimmed (NEST's multimeter lags a min delay)

CASES = [
    {
        "name": "t_ref_2.05_psc_exp",
        "model": "iaf_psc_exp",
        "params": {"t_ref": 2.05, "I_e": 1000.0},
        "T": 30.0,
    },
    {
        "name": "t_ref_0.04_psc_exp",
        "model": "iaf_psc_exp",
        "params": {"t_ref": 0.04, "I_e": 1000.0},
        "T": 30.0,
    },
    {
        "name": "t_ref_2.05_cond_exp",
        "model": "iaf_cond_exp",
        "params": {"t_ref": 2.05, "I_e": 1000.0},
        "T": 30.0,
    },
    {
        "name": "delay_1.25",
        "model": "iaf_psc_delta",
        "params": {},
        "spike": {"times": [10.0], "weight": 2.0, "delay": 1.25},
        "T": 15.0,
    },
    {
        "name": "delay_0.15",
        "model": "iaf_psc_delta",
        "params": {},
        "spike": {"times": [10.0], "weight": 2.0, "delay": 0.15},
        "T": 15.0,
    },
    {
        "name": "v_min_psc_alpha",
        "model": "iaf_psc_alpha",
        "params": {"V_min": -65.0, "I_e": 1000.0},
        "T": 20.0,
    },
    {
        "name": "v_min_psc_delta",
        "model": "iaf_psc_delta",
        "params": {"V_min": -65.0, "I_e": 1000.0},
        "T": 20.0,
    },
    {
        "name": "set_refractory_cond_exp",
        "model": "iaf_cond_exp",
        "params": {"I_e": 1000.0},
        "segments": [[4.5, {"V_m": -50.0}], [10.0, {}]],
    },
    {
        "name": "set_refractory_psc_exp",
        "model": "iaf_psc_exp",
        "params": {"I_e": 1000.0},
        "segments": [[5.0, {"V_m": -50.0}], [10.0, {}]],
    },
]


def run(case):
    nest.ResetKernel()
    nest.set(resolution=DT, local_num_threads=1)
    n = nest.Create(case["model"], params=case["params"])
    mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": DT})
    sr = nest.Create("spike_recorder")
    nest.Connect(mm, n)
    nest.Connect(n, sr)
    if "spike" in case:
        sp = case["spike"]
        g = nest.Create("spike_generator", params={"spike_times": sp["times"]})
        nest.Connect(g, n, syn_spec={"weight": sp["weight"], "delay": sp["delay"]})
    segments = case.get("segments", [[case.get("T", 20.0), {}]])
    for k, (dur, state) in enumerate(segments):
        last = k == len(segments) - 1
        nest.Simulate(dur + (EXTRA if last else 0.0))
        if state:
            n.set(state)
    T = sum(d for d, _ in segments)
    ev = mm.get("events")
    keep = ev["times"] <= T + 1e-9
    spikes = np.asarray(sr.get("events")["times"])
    return {
        **case,
        "segments": segments,
        "times": np.round(ev["times"][keep], 6).tolist(),
        "V_m": [float(v) for v in ev["V_m"][keep]],
        "spike_times": np.round(spikes[spikes <= T + 1e-9], 6).tolist(),
    }


def main(out=None):
    out = out or Path(__file__).with_name("nest_edge_cases.json")
    data = {
        "generated_by": "tests/reference/make_nest_edge_cases.py",
        "nest_version": nest.__version__,
        "dt": DT,
        "cases": [run(c) for c in CASES],
    }
    with open(out, "w") as fh:
        json.dump(data, fh, indent=1)
    for c in data["cases"]:
        print(c["name"], "spikes", c["spike_times"][:6])
    print("wrote", out)


if __name__ == "__main__":
    main()
