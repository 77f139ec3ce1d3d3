"""NEST 3.x peer implementation of the CUBA, COBA and Brunel 2000 (model A) benchmark networks.

Usage (with the peers venv, see tests/reference/README.md):

    /work/peers-venv/bin/python benchmarks/peers/nest_net.py {cuba,coba,brunel2000} \
        --seed S --duration 1.0 [--threads T] [--no-synapses] [--spikes-out file.npz]

Prints ONE JSON line on stdout:
    {"simulator", "network", "build_s", "sim_s", "n_synapses", "rates": {pop: Hz},
     "peak_rss_mib", ...}
plus extra keys (threads, seed, duration, n_neurons, total_s, ...).

OMP_WAIT_POLICY is forced to PASSIVE (set before NEST is imported) unless already set: with
busy-waiting OpenMP barriers 2-thread NEST on a loaded 2-core machine runs ~80x slower.

Timing definitions: build_s = Create + Connect + nest.Prepare() (NEST builds its connection
infrastructure in Prepare); sim_s = nest.Run(duration).  peak_rss_mib = ru_maxrss of this
process.  n_synapses = recurrent connections only (nest.num_connections before devices
are connected).
--no-synapses: same neurons, initial state and external input, no recurrent synapses.
--spikes-out: npz with, per population P, arrays P_i (neuron index within P, int32) and
    P_t (spike time, ms, float64), plus N_P and duration_ms.

Seeds: nest.rng_seed = S drives connectivity and Poisson input; initial states (V_m, and g for
COBA) are drawn with numpy.random.default_rng(S) and set per neuron.

NETWORKS below is the single source of the network definitions (also used by brian2_net.py
and tests/reference/make_peer_network_stats.py, which stores it in its JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

_T0 = time.perf_counter()

# Units: ms, mV, pA, pF, nS, Hz.
NETWORKS = {
    "cuba": {
        "description": "Vogels & Abbott 2005 / Brette et al. 2007 benchmark 2, Brian2 CUBA example "
        "(self-sustained variant, E_L above threshold)",
        "dt_ms": 0.1,
        "N_E": 3200,
        "N_I": 800,
        "connectivity": {
            "rule": "pairwise_bernoulli",
            "p": 0.02,
            "autapses": True,
            "multapses": False,
            "sources": "E->all (exc), I->all (inh)",
        },
        "p": 0.02,
        "neuron": {
            "nest_model": "iaf_psc_exp",
            "tau_m": 20.0,
            "C_m": 250.0,
            "E_L": -49.0,
            "V_th": -50.0,
            "V_reset": -60.0,
            "t_ref": 5.0,
            "tau_syn_ex": 5.0,
            "tau_syn_in": 10.0,
            "I_e": 0.0,
        },
        "w_e_mV": 1.62,
        "w_i_mV": -9.0,
        "weight_note": "jump of the synaptic variable ge/gi (mV) in Brian2's "
        "dv/dt=(ge+gi-(v-El))/taum;"
        " NEST current jump w_pA = w_mV * C_m / tau_m",
        "w_e_pA": 1.62 * 250.0 / 20.0,
        "w_i_pA": -9.0 * 250.0 / 20.0,
        "delay_ms": {"nest": 0.1, "brian2": 0.0},
        "delay_note": "NEST: spike at t acts on I_syn at t+0.1 and on V from step (t+0.1, t+0.2]; "
        "Brian2 delay 0: ge jumps at t, acts on v from step (t, t+0.1]",
        "V0_mV": {"dist": "uniform", "low": -60.0, "high": -50.0},
        "init_syn": 0.0,
        "threshold": {"nest": "V >= V_th", "brian2": "v > Vt"},
        "integration": {"nest": "exact (iaf_psc_exp)", "brian2": "exact"},
    },
    "coba": {
        "description": "Brette et al. 2007 benchmark 1 (COBA), Brian2 COBA example",
        "dt_ms": 0.1,
        "N_E": 3200,
        "N_I": 800,
        "connectivity": {
            "rule": "pairwise_bernoulli",
            "p": 0.02,
            "autapses": True,
            "multapses": False,
            "sources": "E->all (exc), I->all (inh)",
        },
        "p": 0.02,
        "neuron": {
            "nest_model": "iaf_cond_exp",
            "C_m": 200.0,
            "g_L": 10.0,
            "E_L": -60.0,
            "V_th": -50.0,
            "V_reset": -60.0,
            "t_ref": 5.0,
            "E_ex": 0.0,
            "E_in": -80.0,
            "tau_syn_ex": 5.0,
            "tau_syn_in": 10.0,
            "I_e": 0.0,
        },
        "w_e_nS": 6.0,
        "w_i_nS": 67.0,
        "weight_note": "conductance jumps; NEST inhibitory weight is -67 nS (sign selects g_in)",
        "delay_ms": {"nest": 0.1, "brian2": 0.0},
        "V0_mV": {"dist": "uniform", "low": -60.0, "high": -50.0},
        "init_g_ex_nS": {"dist": "max(0, normal)", "mean": 40.0, "std": 15.0},
        "init_g_in_nS": {"dist": "max(0, normal)", "mean": 200.0, "std": 120.0},
        "brian2_method": "euler",
        "threshold": {"nest": "V >= V_th", "brian2": "v > Vt"},
        "integration": {"nest": "GSL RKF45 adaptive (iaf_cond_exp)", "brian2": "forward Euler"},
    },
    "brunel2000": {
        "description": "Brunel 2000 model A (delta synapses), NEST brunel_delta style",
        "dt_ms": 0.1,
        "N_E": 10000,
        "N_I": 2500,
        "connectivity": {
            "rule": "fixed_indegree",
            "C_E": 1000,
            "C_I": 250,
            "autapses": True,
            "multapses": True,
            "sources": "C_E from E and C_I from I for every neuron",
        },
        "C_E": 1000,
        "C_I": 250,
        "J_mV": 0.1,
        "g": 5.0,
        "D_ms": 1.5,
        "neuron": {
            "nest_model": "iaf_psc_delta",
            "tau_m": 20.0,
            "C_m": 250.0,
            "E_L": 0.0,
            "V_th": 20.0,
            "V_reset": 10.0,
            "t_ref": 2.0,
            "I_e": 0.0,
            "refractory_input": False,
        },
        "refractory_note": "V clamped at V_reset for t_ref; input arriving during refractoriness "
        "is discarded (recurrent and external)",
        "nu_thr_Hz": 20.0 / (0.1 * 1000 * 20e-3),
        "nu_ext_over_nu_thr": 2.0,
        "nu_ext_per_synapse_Hz": 2.0 * 20.0 / (0.1 * 1000 * 20e-3),
        "ext_rate_per_neuron_Hz": 2.0 * 20.0 / (0.1 * 1000 * 20e-3) * 1000,
        "ext_input": {
            "nest": "poisson_generator rate 20 kHz, independent per target, weight J, delay D",
            "brian2": "PoissonInput(N=C_E, rate=20 Hz, weight J)",
        },
        "V0_low_mV": 10.0,
        "V0_high_mV": 20.0,
        "V0_mV": {"dist": "uniform", "low": 10.0, "high": 20.0},
        "threshold": {"nest": "V >= V_th", "brian2": "v > theta"},
        "integration": {"nest": "exact (iaf_psc_delta)", "brian2": "exact"},
    },
}


def build(nest, name, seed, threads, no_synapses):
    d = NETWORKS[name]
    nest.ResetKernel()
    nest.set(resolution=d["dt_ms"], local_num_threads=threads, rng_seed=seed, print_time=False)
    rng = np.random.default_rng(seed)
    p = dict(d["neuron"])
    model = p.pop("nest_model")
    NE, NI = d["N_E"], d["N_I"]
    N = NE + NI
    allp = nest.Create(model, N, params=p)
    v0 = d["V0_mV"]
    status = {"V_m": rng.uniform(v0["low"], v0["high"], N)}
    if name == "coba":
        ge, gi = d["init_g_ex_nS"], d["init_g_in_nS"]
        status["g_ex"] = np.maximum(0.0, rng.normal(ge["mean"], ge["std"], N))
        status["g_in"] = np.maximum(0.0, rng.normal(gi["mean"], gi["std"], N))
    allp.set({k: v.tolist() for k, v in status.items()})
    E, I = allp[:NE], allp[NE:]
    if not no_synapses:
        if name in ("cuba", "coba"):
            conn = {"rule": "pairwise_bernoulli", "p": d["p"], "allow_autapses": True}
            if name == "cuba":
                we, wi = d["w_e_pA"], d["w_i_pA"]
            else:
                we, wi = d["w_e_nS"], -d["w_i_nS"]
            dl = d["delay_ms"]["nest"]
            for src, w in ((E, we), (I, wi)):
                nest.Connect(
                    src, allp, conn, {"synapse_model": "static_synapse", "weight": w, "delay": dl}
                )
        else:
            J, D = d["J_mV"], d["D_ms"]
            nest.Connect(
                E,
                allp,
                {
                    "rule": "fixed_indegree",
                    "indegree": d["C_E"],
                    "allow_autapses": True,
                    "allow_multapses": True,
                },
                {"synapse_model": "static_synapse", "weight": J, "delay": D},
            )
            nest.Connect(
                I,
                allp,
                {
                    "rule": "fixed_indegree",
                    "indegree": d["C_I"],
                    "allow_autapses": True,
                    "allow_multapses": True,
                },
                {"synapse_model": "static_synapse", "weight": -d["g"] * J, "delay": D},
            )
    n_syn = int(nest.num_connections)
    if name == "brunel2000":
        pg = nest.Create("poisson_generator", params={"rate": d["ext_rate_per_neuron_Hz"]})
        nest.Connect(pg, allp, "all_to_all", {"weight": d["J_mV"], "delay": d["D_ms"]})
    srE = nest.Create("spike_recorder")
    srI = nest.Create("spike_recorder")
    nest.Connect(E, srE)
    nest.Connect(I, srI)
    return {"E": (srE, E, NE), "I": (srI, I, NI)}, n_syn


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("network", choices=sorted(NETWORKS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration", type=float, default=1.0, help="seconds of biological time")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-synapses", action="store_true")
    ap.add_argument("--spikes-out", default=None)
    a = ap.parse_args(argv)

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # keep NEST's banner/log off our stdout (one JSON line only)
    os.environ.setdefault("PYNEST_QUIET", "1")
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        import nest

        try:
            nest.verbosity = nest.VerbosityLevel.ERROR
        except AttributeError:  # NEST < 3.10
            nest.set_verbosity("M_ERROR")
        t_import = time.perf_counter()
        t0 = time.perf_counter()
        pops, n_syn = build(nest, a.network, a.seed, a.threads, a.no_synapses)
        nest.Prepare()
        t1 = time.perf_counter()
        nest.Run(a.duration * 1000.0)
        t2 = time.perf_counter()
        nest.Cleanup()
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    T = a.duration
    rates, arrays = {}, {}
    for pop, (sr, coll, n) in pops.items():
        ev = sr.get("events")
        first = coll[0].global_id
        i = (np.asarray(ev["senders"], dtype=np.int64) - first).astype(np.int32)
        t = np.asarray(ev["times"], dtype=np.float64)
        order = np.lexsort((i, t))
        i, t = i[order], t[order]
        rates[pop] = len(i) / (n * T)
        arrays[f"{pop}_i"] = i
        arrays[f"{pop}_t"] = t
        arrays[f"N_{pop}"] = np.int64(n)
    if a.spikes_out:
        np.savez_compressed(a.spikes_out, duration_ms=np.float64(a.duration * 1000), **arrays)
    out = {
        "simulator": f"nest-{nest.__version__}",
        "network": a.network,
        "build_s": round(t1 - t0, 4),
        "sim_s": round(t2 - t1, 4),
        "n_synapses": n_syn,
        "rates": {k: round(v, 4) for k, v in rates.items()},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "threads": a.threads,
        "seed": a.seed,
        "duration": a.duration,
        "no_synapses": a.no_synapses,
        "n_neurons": int(sum(n for _, _, n in pops.values())),
        "import_s": round(t_import - _T0, 4),
        "total_s": round(time.perf_counter() - _T0, 4),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
