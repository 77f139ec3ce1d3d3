"""Generate device-timing references from NEST 3.x -> nest_devices.json.

Run with the peers venv (see tests/reference/README.md):

    OMP_WAIT_POLICY=PASSIVE /work/peers-venv/bin/python tests/reference/make_nest_devices.py

What NEST's stimulation devices emit and when, at resolution 0.1 ms, 1 thread:

* "current": a current device -> one iaf_psc_exp (the parameters in NEURON, all set
  explicitly), connection delay 1 ms unless the case says otherwise; V_m sampled every
  0.1 ms for 12 ms (sample t = the state at the end of the step (t - h, t]).  Cases:
  dc_generator with start 0 (NEST's default: acts as start = h), with start/stop on
  the grid; step_current_generator with amplitude_times and a start/stop window, and
  with an off-grid time (allow_offgrid_times: rounded up); noise_generator with std 0
  (its mean only: a deterministic current) and start 0.
* "spikes": a device -> 200 parrot_neurons (delay 0.1 ms); the sorted distinct
  spike times of the parrots.  poisson_generator at 5 kHz (each step has ~100 spikes
  among the parrots, so every step of the window shows up; the chance that one step
  has none is e^-100) with and without start/stop; spike_generator with a start/stop
  window, and with off-grid times (allow_offgrid_times).
* "multimeter_windows": the sample times of multimeters with start / stop (NEST: the
  multiples of the interval stamped start < t <= stop), for neurosim's record windows.
* "noise": the membrane variance of 200 iaf_psc_delta neurons (no threshold in reach)
  driven by NEST's noise_generator (std 100 pA, a new value every dt = 1 ms): neurosim's
  noise_generator with the same ``dt`` is NEST's process, so the variances agree within
  their standard errors.

Observed (NEST 3.10): a dc / noise generator with start 0 acts as with start 0.1;
poisson_generator's spikes lie at start + h < t <= stop + h (its documentation says
start < t <= stop); spike_generator emits its spikes at start < t <= stop; off-grid
times are rounded up.  tests/test_nest_devices.py runs the same cases in neurosim.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import nest  # noqa: E402

DT = 0.1
NEURON = {
    "C_m": 250.0,
    "tau_m": 10.0,
    "E_L": -70.0,
    "V_th": -55.0,
    "V_reset": -70.0,
    "t_ref": 2.0,
    "tau_syn_ex": 2.0,
    "tau_syn_in": 2.0,
    "I_e": 0.0,
    "V_m": -70.0,
}
CURRENT_T = 12.0
SPIKES_T = 30.0

CURRENT_CASES = [
    {"name": "dc_start0", "model": "dc_generator", "params": {"amplitude": 450.0}},
    {
        "name": "dc_window",
        "model": "dc_generator",
        "params": {"amplitude": 450.0, "start": 2.0, "stop": 6.5},
    },
    {
        "name": "dc_start0_delay01",
        "model": "dc_generator",
        "params": {"amplitude": 450.0, "stop": 5.0},
        "delay": 0.1,
    },
    {
        "name": "step_window",
        "model": "step_current_generator",
        "params": {
            "amplitude_times": [0.1, 2.0, 7.0],
            "amplitude_values": [300.0, -200.0, 500.0],
            "start": 1.0,
            "stop": 8.0,
        },
    },
    {
        "name": "step_offgrid",
        "model": "step_current_generator",
        "params": {
            "amplitude_times": [0.55, 3.01],
            "amplitude_values": [400.0, 0.0],
            "allow_offgrid_times": True,
        },
    },
    {
        "name": "noise_mean_only",
        "model": "noise_generator",
        "params": {"mean": 300.0, "std": 0.0, "stop": 4.0},
    },
]

SPIKE_CASES = [
    {
        "name": "poisson_window",
        "model": "poisson_generator",
        "params": {"rate": 5000.0, "start": 10.0, "stop": 20.0},
    },
    {
        "name": "poisson_default",
        "model": "poisson_generator",
        "params": {"rate": 5000.0, "stop": 3.0},
    },
    {
        "name": "spike_window",
        "model": "spike_generator",
        "params": {"spike_times": [5.0, 10.0, 10.1, 20.0, 20.1], "start": 10.0, "stop": 20.0},
    },
    {
        "name": "spike_offgrid",
        "model": "spike_generator",
        "params": {"spike_times": [2.04, 3.05, 4.15, 6.0], "allow_offgrid_times": True},
    },
]


NOISE = {
    "n": 200,
    "neuron": {"E_L": 0.0, "V_m": 0.0, "V_th": 1000.0, "V_reset": 0.0, "tau_m": 10.0, "C_m": 250.0},
    "params": {"mean": 0.0, "std": 100.0, "dt": 1.0},
    "T": 600.0,
    "t0": 100.0,
}


def run_noise():
    """Membrane variance of iaf_psc_delta neurons driven by NEST's noise_generator (a
    new N(mean, std^2) every dt, independent per target): V_m every 1 ms after t0; the
    variance per neuron, then its mean and standard error over the neurons."""
    _reset()
    g = nest.Create("noise_generator", params=NOISE["params"])
    n = nest.Create("iaf_psc_delta", NOISE["n"], params=NOISE["neuron"])
    mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": 1.0})
    nest.Connect(g, n, syn_spec={"delay": 1.0})
    nest.Connect(mm, n)
    nest.Simulate(NOISE["T"] + 5.0)
    ev = mm.get("events")
    keep = (ev["times"] > NOISE["t0"]) & (ev["times"] <= NOISE["T"])
    t, s, v = ev["times"][keep], ev["senders"][keep], ev["V_m"][keep]
    var = np.array([np.var(v[s == x]) for x in np.unique(s)])
    return {
        **NOISE,
        "samples_per_neuron": int(len(t) // NOISE["n"]),
        "var_mean": float(var.mean()),
        "var_se": float(var.std(ddof=1) / np.sqrt(len(var))),
        "mean_V": float(v.mean()),
    }


#: multimeter windows (interval, start, stop): NEST samples at multiples of the interval
#: stamped start < t <= stop
MULTIMETER_WINDOWS = [(1.0, 5.0, 10.0), (0.1, 5.0, 5.5), (0.3, 1.0, 3.0), (0.5, 0.0, 2.0)]


def run_multimeter_windows():
    _reset()
    n = nest.Create("iaf_psc_exp", params={"I_e": 300.0})
    mms = []
    for interval, start, stop in MULTIMETER_WINDOWS:
        mm = nest.Create(
            "multimeter",
            params={"record_from": ["V_m"], "interval": interval, "start": start, "stop": stop},
        )
        nest.Connect(mm, n)
        mms.append(mm)
    nest.Simulate(20.0)
    return [
        {
            "interval": iv,
            "start": st,
            "stop": sp,
            "times": np.round(mm.get("events")["times"], 6).tolist(),
        }
        for (iv, st, sp), mm in zip(MULTIMETER_WINDOWS, mms, strict=True)
    ]


def _reset():
    nest.ResetKernel()
    nest.set(resolution=DT, local_num_threads=1)


def run_current(case):
    _reset()
    g = nest.Create(case["model"], params=case["params"])
    n = nest.Create("iaf_psc_exp", params=NEURON)
    mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": DT})
    nest.Connect(g, n, syn_spec={"delay": case.get("delay", 1.0)})
    nest.Connect(mm, n)
    nest.Simulate(CURRENT_T)
    ev = mm.get("events")
    return {
        **case,
        "delay": case.get("delay", 1.0),
        "times": np.round(ev["times"], 6).tolist(),
        "V_m": [float(v) for v in ev["V_m"]],
    }


def run_spikes(case):
    _reset()
    g = nest.Create(case["model"], params=case["params"])
    p = nest.Create("parrot_neuron", 200)
    sr = nest.Create("spike_recorder")
    nest.Connect(g, p, syn_spec={"delay": 0.1})
    nest.Connect(p, sr)
    nest.Simulate(SPIKES_T)
    t = np.unique(np.round(sr.get("events")["times"], 6))
    return {**case, "delay": 0.1, "n_parrots": 200, "parrot_times": t.tolist()}


def main(out=None):
    out = out or Path(__file__).with_name("nest_devices.json")
    data = {
        "generated_by": "tests/reference/make_nest_devices.py",
        "nest_version": nest.__version__,
        "dt": DT,
        "neuron": NEURON,
        "current_T": CURRENT_T,
        "spikes_T": SPIKES_T,
        "current": [run_current(c) for c in CURRENT_CASES],
        "spikes": [run_spikes(c) for c in SPIKE_CASES],
        "noise": run_noise(),
        "multimeter_windows": run_multimeter_windows(),
    }
    with open(out, "w") as fh:
        json.dump(data, fh, indent=1)
    for c in data["spikes"]:
        print(c["name"], c["parrot_times"][:3], "...", c["parrot_times"][-3:])
    nz = data["noise"]
    print("noise: var(V)", nz["var_mean"], "+-", nz["var_se"], "mean", nz["mean_V"])
    print("wrote", out)


if __name__ == "__main__":
    main()
