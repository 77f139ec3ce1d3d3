"""Generate single-neuron reference traces from NEST 3.x -> nest_single_neuron.json.

Run with the peers venv (see tests/reference/README.md):

    OMP_WAIT_POLICY=PASSIVE /work/peers-venv/bin/python tests/reference/make_nest_single_neuron.py

Models: iaf_psc_delta, iaf_psc_exp, iaf_psc_alpha, iaf_cond_exp, iaf_cond_alpha, all with
NEST's DEFAULT neuron parameters (nothing is changed; "params" in each case lists only what
was set explicitly, i.e. I_e in the "dc_Ie" case; "model_params" lists the full defaults).
Firing in the "spikes" case is obtained through the input weights, not by changing the neuron.

Cases (resolution 0.1 ms, 200 ms each, one neuron, 1 thread):

* "spikes": one excitatory spike_generator (positive weight, delay 1.0 ms) and one
  inhibitory spike_generator (negative weight, delay 2.3 ms), on-grid spike times.
  Weights (all exactly representable in float32):
  psc models pA, iaf_psc_delta mV (jump of V_m), cond models nS (conductance jump; a
  negative weight goes into g_in with magnitude |w|).
* "dc_Ie": constant I_e = 450 pA, no other input.
* "dc_generator": dc_generator, amplitude 450 pA, start 20 ms, stop 120 ms, connection
  delay 1.0 ms.

The multimeter records at 0.1 ms; its first sample is at t = 0.1 ms (the initial state at
t = 0 is not recorded, it is stored under "initial").  A sample labelled t is the state at
the END of the step (t - h, t].  Spike recorder times are on-grid step ends.

NEST timing conventions observed in the generated data (NEST 3.10.0, h = 0.1 ms); the
script re-derives them from the data and stores them under "conventions" in the JSON.
Notation: sample "t" = state at the end of step (t - h, t].

1. Spike delivery.  A spike_generator spike at time t with delay d "arrives" at T = t + d and
   is added to the synaptic state at the END of the step (T - h, T], i.e. sample T already
   contains the jump:
   - iaf_psc_delta: V_m(T) = (leak-propagated V_m) + w.  A jump that crosses V_th spikes in the
     same step (spike stamped T, V_m(T) shows V_reset).
   - iaf_psc_exp / iaf_cond_exp: I_syn_ex(T) resp. g_ex(T) include + w (sample T shows
     I_syn_ex = 1250.0 for a single 1250 pA spike); V_m first deviates at sample T + h (the new
     synaptic state is integrated over (T, T + h]).
   - iaf_psc_alpha / iaf_cond_alpha: the derivative state (dI/dt, dg_ex) jumps at T by
     w * e / tau_syn, so I_syn_ex / g_ex are still unchanged at sample T, first non-zero at
     T + h, and peak at w at T + tau_syn; V_m first deviates at sample T + h.
   So for every non-delta model, input arriving at T first moves V_m in the step (T, T + h].
   Spikes arriving during the same step sum linearly (exc + inh pair arriving at 51.0).
2. dc_generator (amplitude A, start s, stop e, delay d): the neuron integrates the current
   A during exactly the steps (s + d, s + d + h], ..., (e + d - h, e + d]: (e - s)/h steps.
   First sample differing from rest: s + d + h; first sample differing from an unstopped dc:
   e + d + h.  (For s = 20, e = 120, d = 1: current acts on (21.0, 121.0].)
   I_e acts in every step from the first one, (0, h]: V_m(0.1) = -69.8209 for 450 pA.
   The dc current is held constant over each step and integrated exactly (psc models) or by
   the ODE solver (cond models) -- same onset for all five models.
3. Threshold, reset, refractoriness.  When V_m at the end of step (t - h, t] is >= V_th, the
   spike is stamped t and sample t shows V_reset (the supra-threshold value is never
   recorded; the sample before the spike is below V_th).  V_m stays exactly V_reset for the
   21 samples t, t + h, ..., t + t_ref (t_ref = 2 ms: 20 refractory steps after the spike
   step); free integration resumes with step (t + t_ref, t + t_ref + h], so sample
   t + t_ref + h is the first free value.  During refractoriness I_syn/g keep evolving and
   keep receiving input (psc_exp/alpha, cond_exp/alpha); iaf_psc_delta DISCARDS spikes that
   arrive during refractoriness (refractory_input = False): arrivals at T in
   (t, t + t_ref] are lost (including one at exactly t + t_ref), one at t + t_ref + h is
   applied (checked separately; in the data: spike at 81.4, arrivals 81.6 .. 83.0 lost,
   arrival at 84.0 applied).  I_e / dc input is not integrated while
   clamped.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import nest  # noqa: E402

DT = 0.1
DURATION = 200.0
EXTRA = 5.0  # simulated beyond DURATION, then trimmed
MODELS = ["iaf_psc_delta", "iaf_psc_exp", "iaf_psc_alpha", "iaf_cond_exp", "iaf_cond_alpha"]

# on-grid spike times (ms); bursts close together, some spikes landing in refractory periods,
# one excitatory/inhibitory pair arriving in the same step (exc 50.0+1.0 = inh 48.7+2.3 = 51.0)
EXC_TIMES = [
    10.0,
    10.5,
    11.0,
    11.2,
    11.3,
    30.0,
    30.3,
    30.6,
    31.0,
    31.4,
    31.5,
    50.0,
    80.0,
    80.1,
    80.2,
    80.4,
    80.6,
    81.0,
    81.5,
    82.0,
    83.0,
    84.0,
    130.0,
    130.2,
    131.0,
]
INH_TIMES = [5.0, 20.0, 20.1, 48.7, 70.0, 95.0, 95.5, 128.0, 150.0]
EXC_DELAY = 1.0
INH_DELAY = 2.3

WEIGHTS = {  # (excitatory, inhibitory); all exactly representable in float32
    "iaf_psc_delta": (4.5, -2.25),  # mV
    "iaf_psc_exp": (1250.0, -437.5),  # pA
    "iaf_psc_alpha": (687.5, -250.0),  # pA
    "iaf_cond_exp": (100.0, -25.0),  # nS
    "iaf_cond_alpha": (37.5, -12.5),  # nS
}
I_E_DC = 450.0  # pA
DC_AMP = 450.0  # pA
DC_START, DC_STOP, DC_DELAY = 20.0, 120.0, 1.0

SKIP_PARAMS = {
    "Ca",
    "beta_Ca",
    "tau_Ca",
    "tau_minus",
    "tau_minus_triplet",
    "post_trace",
    "rho",
    "archiver_length",
    "ignore_and_spike",
    "ignore_and_spike_interval",
    "ignore_and_spike_offset",
    "frozen",
    "global_id",
    "local",
    "model_id",
    "node_uses_wfr",
    "thread",
    "thread_local_id",
    "vp",
    "t_spike",
    "elementsize",
    "delta",
}


def _f(x):
    return float(x)


def model_params(model):
    d = nest.GetDefaults(model)
    out = {}
    for k, v in d.items():
        if k in SKIP_PARAMS:
            continue
        if isinstance(v, bool):
            out[k] = v
        elif isinstance(v, (int, float, np.floating, np.integer)):
            v = float(v)
            if np.isinf(v):
                out[k] = "-inf" if v < 0 else "inf"
            elif abs(v) >= np.finfo(float).max:
                out[k] = "-max_double" if v < 0 else "max_double"
            else:
                out[k] = v
    return out


def run_case(model, case):
    nest.ResetKernel()
    nest.set(resolution=DT, local_num_threads=1, print_time=False)
    params = {}
    if case == "dc_Ie":
        params["I_e"] = I_E_DC
    neuron = nest.Create(model, params=params)
    defaults = nest.GetDefaults(model)
    state_keys = [k for k in ("V_m", "g_ex", "g_in", "dg_ex", "dg_in") if k in defaults]
    initial = {k: float(neuron.get(k)) for k in state_keys}
    recordables = [r for r in nest.GetDefaults(model)["recordables"]]
    mm = nest.Create("multimeter", params={"interval": DT, "record_from": recordables})
    sr = nest.Create("spike_recorder")
    inputs = []
    if case == "spikes":
        we, wi = WEIGHTS[model]
        for times, w, d in ((EXC_TIMES, we, EXC_DELAY), (INH_TIMES, wi, INH_DELAY)):
            sg = nest.Create("spike_generator", params={"spike_times": times})
            nest.Connect(sg, neuron, syn_spec={"weight": w, "delay": d})
            inputs.append(
                {
                    "kind": "spike_generator",
                    "spike_times": list(map(float, times)),
                    "weight": w,
                    "delay": d,
                }
            )
    elif case == "dc_generator":
        g = nest.Create(
            "dc_generator", params={"amplitude": DC_AMP, "start": DC_START, "stop": DC_STOP}
        )
        nest.Connect(g, neuron, syn_spec={"weight": 1.0, "delay": DC_DELAY})
        inputs.append(
            {
                "kind": "dc_generator",
                "amplitude": DC_AMP,
                "start": DC_START,
                "stop": DC_STOP,
                "delay": DC_DELAY,
            }
        )
    nest.Connect(mm, neuron)
    nest.Connect(neuron, sr)
    # the multimeter only hands over the last min_delay chunk at the next slice, so simulate a
    # little longer and keep the samples with t <= DURATION (2000 samples: 0.1 .. 200.0)
    nest.Simulate(DURATION + EXTRA)
    ev = mm.get("events")
    order = np.argsort(ev["times"], kind="stable")
    times = np.asarray(ev["times"])[order]
    keep = times <= DURATION + 1e-9
    times = times[keep]
    assert len(times) == round(DURATION / DT), len(times)
    rec = {r: np.asarray(ev[r])[order][keep] for r in recordables}
    spikes = np.sort(np.asarray(sr.get("events")["times"], dtype=float))
    spikes = spikes[spikes <= DURATION + 1e-9]
    return {
        "model": model,
        "case": case,
        "nest_version": nest.__version__,
        "dt": DT,
        "duration": DURATION,
        "params": params,
        "model_params": model_params(model),
        "initial": initial,
        "inputs": inputs,
        "times": [round(float(t), 10) for t in times],
        "V_m": [float(v) for v in rec["V_m"]],
        "recordables": {r: [float(v) for v in rec[r]] for r in recordables if r != "V_m"},
        "spike_times": [round(float(t), 10) for t in spikes],
    }


def _vm_free(model, T, dc=None):
    """V_m trace of an isolated neuron, optionally with a dc_generator (for onset/offset tests)."""
    nest.ResetKernel()
    nest.set(resolution=DT, local_num_threads=1, print_time=False)
    n = nest.Create(model)
    mm = nest.Create("multimeter", params={"interval": DT, "record_from": ["V_m"]})
    if dc is not None:
        g = nest.Create("dc_generator", params=dict(amplitude=dc[0], start=dc[1], stop=dc[2]))
        nest.Connect(g, n, syn_spec={"delay": dc[3]})
    nest.Connect(mm, n)
    nest.Simulate(T)
    ev = mm.get("events")
    o = np.argsort(ev["times"])
    return np.asarray(ev["times"])[o], np.asarray(ev["V_m"])[o]


def derive_conventions(cases):
    """Measure NEST's timing conventions from the data (and from two small extra runs)."""
    conv = {}
    # 1. spike delivery: single spike at 10.0 ms, delay 1.0 -> T = 11.0
    for model in MODELS:
        nest.ResetKernel()
        nest.set(resolution=DT, local_num_threads=1, print_time=False)
        n = nest.Create(model)
        rec = nest.GetDefaults(model)["recordables"]
        mm = nest.Create("multimeter", params={"interval": DT, "record_from": rec})
        sg = nest.Create("spike_generator", params={"spike_times": [10.0]})
        nest.Connect(sg, n, syn_spec={"weight": WEIGHTS[model][0], "delay": 1.0})
        nest.Connect(mm, n)
        nest.Simulate(20.0)
        ev = mm.get("events")
        o = np.argsort(ev["times"])
        t = np.asarray(ev["times"])[o]
        entry = {"spike_time": 10.0, "delay": 1.0}
        for r in rec:
            if r == "t_ref_remaining":
                continue
            x = np.asarray(ev[r])[o]
            nz = np.nonzero(x != x[0])[0]
            first = round(float(t[nz[0]]), 10) if len(nz) else None
            entry[f"first_sample_where_{r}_changes"] = first
            if r in ("I_syn_ex", "g_ex"):
                entry[f"{r}_at_T"] = float(x[np.argmin(np.abs(t - 11.0))])
        conv.setdefault("spike_delivery", {})[model] = entry
    # 2. dc onset / offset: compare dc run (start 20, stop 30, delay 1) with an unstopped one
    for model in MODELS:
        t, v_rest = _vm_free(model, 40.0)
        _, v_stop = _vm_free(model, 40.0, dc=(DC_AMP, 20.0, 30.0, 1.0))
        _, v_inf = _vm_free(model, 40.0, dc=(DC_AMP, 20.0, 1e6, 1.0))
        on = np.nonzero(v_stop != v_rest)[0][0]
        off = np.nonzero(v_stop != v_inf)[0][0]
        conv.setdefault("dc_generator", {})[model] = {
            "start": 20.0,
            "stop": 30.0,
            "delay": 1.0,
            "first_sample_where_V_m_differs_from_rest": round(float(t[on]), 10),
            "first_sample_where_V_m_differs_from_unstopped_dc": round(float(t[off]), 10),
            "=> current acts during steps ending at": [
                round(float(t[on]), 10),
                round(float(t[off - 1]), 10),
            ],
            "n_steps_with_current": int(off - on),
        }
    # 3. reset / refractoriness from the dc_Ie cases
    for c in cases:
        if c["case"] != "dc_Ie":
            continue
        t = np.asarray(c["times"])
        v = np.asarray(c["V_m"])
        vr = c["model_params"]["V_reset"]
        sp = c["spike_times"]
        info = {"spike_times_first3": sp[:3]}
        if sp:
            i = int(np.argmin(np.abs(t - sp[0])))
            clamp = 0
            while i + clamp < len(v) and v[i + clamp] == vr:
                clamp += 1
            info.update(
                {
                    "V_m_sample_before_spike": float(v[i - 1]),
                    "V_m_sample_at_spike_time": float(v[i]),
                    "n_samples_at_V_reset_from_spike_time_on": clamp,
                    "last_clamped_sample_minus_spike_time": round(
                        float(t[i + clamp - 1] - sp[0]), 10
                    ),
                    "V_th": c["model_params"]["V_th"],
                    "V_reset": vr,
                    "t_ref": c["model_params"]["t_ref"],
                }
            )
        conv.setdefault("reset_refractory_dc_Ie", {})[c["model"]] = info
    return conv


def main(out=None):
    try:
        nest.verbosity = nest.VerbosityLevel.ERROR
    except AttributeError:  # NEST < 3.10
        nest.set_verbosity("M_ERROR")
    out = Path(out) if out else Path(__file__).with_name("nest_single_neuron.json")
    cases = [run_case(m, c) for m in MODELS for c in ("spikes", "dc_Ie", "dc_generator")]
    conv = derive_conventions(cases)
    doc = {
        "generated_by": "tests/reference/make_nest_single_neuron.py",
        "nest_version": nest.__version__,
        "dt": DT,
        "conventions": conv,
        "notes": (
            "multimeter samples are the state at the end of the step (t-h, t]; "
            "first sample at "
            "t=h; 'initial' is the state at t=0. Neuron parameters are NEST defaults "
            "('model_params'); 'params' lists what was set explicitly."
        ),
        "cases": cases,
    }
    out.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    for c in cases:
        print(
            f"{c['model']:15s} {c['case']:13s} n_spikes={len(c['spike_times']):3d} "
            f"first={c['spike_times'][:4]}"
        )
    print(json.dumps(conv, indent=1))
    print("wrote", out, out.stat().st_size, "bytes")


if __name__ == "__main__":
    main(*sys.argv[1:])
