"""NEST 3.x side of benchmarks/stdp_brunel.py: Brunel 2000 model A with STDP on E->E.

Usage (with the peers venv, see tests/reference/README.md):

    /work/peers-venv/bin/python benchmarks/peers/nest_stdp.py --scale 1.0 --duration 1.0 \
        [--seed S] [--threads T] [--model stdp_synapse] [--no-plastic]

Prints ONE JSON line on stdout: {"simulator", "build_s", "sim_s", "n_plastic", "n_synapses",
"rates": {pop: Hz}, "peak_rss_mib", "w_mean", "w_std" (of the synapses onto 20 targets), ...}.

The network (``NETWORK``, also read by stdp_brunel.py for the neurosim side): N_E =
10000 scale, N_I = 2500 scale iaf_psc_delta neurons, fixed in-degrees C_E = 1000 and
C_I = 250 (scaled with ``scale`` only below full size when they exceed the population),
J = 0.1 mV, g = 5, D = 1.5 ms, 20 kHz Poisson input of weight J; E->E by
``stdp_synapse`` with NEST's defaults (tau_plus 20 ms, lambda 0.01, alpha 1,
mu_plus = mu_minus = 1, tau_minus 20 ms) and Wmax = 2 J, so that the multiplicative
rule's fixed point (w / Wmax = 1 / (1 + alpha)) is J: the network stays in Brunel's
regime while every synapse learns.  ``--model stdp_synapse_hom`` gives NEST's variant
with the parameters shared by all synapses (the same rule, smaller synapses).

Timing: build_s = Create + Connect + nest.Prepare(); sim_s = nest.Run(duration).
peak_rss_mib = ru_maxrss; with ``--no-plastic`` the E->E projection is left out (for
the bytes per plastic synapse: the difference of the peaks over the synapses).
OMP_WAIT_POLICY=PASSIVE unless set (see nest_net.py).
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

NETWORK = {
    "dt_ms": 0.1,
    "N_E": 10000,
    "N_I": 2500,
    "C_E": 1000,
    "C_I": 250,
    "J_mV": 0.1,
    "g": 5.0,
    "D_ms": 1.5,
    "ext_rate_Hz": 20000.0,
    "neuron": {
        "tau_m": 20.0,
        "C_m": 250.0,
        "E_L": 0.0,
        "V_th": 20.0,
        "V_reset": 10.0,
        "t_ref": 2.0,
        "tau_minus": 20.0,
    },
    "V0_mV": [10.0, 20.0],
    "stdp": {
        "tau_plus": 20.0,
        "lambda": 0.01,
        "alpha": 1.0,
        "mu_plus": 1.0,
        "mu_minus": 1.0,
        "Wmax": 0.2,
    },
}


def sizes(scale):
    """(N_E, N_I, C_E, C_I) at ``scale`` (in-degrees kept unless above the population)."""
    d = NETWORK
    ne, ni = round(d["N_E"] * scale), round(d["N_I"] * scale)
    return ne, ni, min(d["C_E"], ne), min(d["C_I"], ni)


def build(nest, scale, seed, threads, model, no_plastic):
    d = NETWORK
    ne, ni, ce, ci = sizes(scale)
    nest.ResetKernel()
    nest.set(resolution=d["dt_ms"], local_num_threads=threads, rng_seed=seed, print_time=False)
    rng = np.random.default_rng(seed)
    allp = nest.Create("iaf_psc_delta", ne + ni, params=d["neuron"])
    allp.set({"V_m": rng.uniform(*d["V0_mV"], ne + ni).tolist()})
    E, I = allp[:ne], allp[ne:]
    J, D = d["J_mV"], d["D_ms"]
    indeg = {"rule": "fixed_indegree", "allow_autapses": True, "allow_multapses": True}
    static = {"synapse_model": "static_synapse", "delay": D}
    n_plastic = 0
    if not no_plastic:
        if model == "stdp_synapse_hom":
            nest.SetDefaults("stdp_synapse_hom", d["stdp"])
            syn = {"synapse_model": model, "weight": J, "delay": D}
        else:
            syn = dict(d["stdp"], synapse_model=model, weight=J, delay=D)
        nest.Connect(E, E, dict(indeg, indegree=ce), syn)
        n_plastic = int(nest.num_connections)
    nest.Connect(E, I, dict(indeg, indegree=ce), dict(static, weight=J))
    nest.Connect(I, allp, dict(indeg, indegree=ci), dict(static, weight=-d["g"] * J))
    n_syn = int(nest.num_connections)
    pg = nest.Create("poisson_generator", params={"rate": d["ext_rate_Hz"]})
    nest.Connect(pg, allp, "all_to_all", {"weight": J, "delay": D})
    srE = nest.Create("spike_recorder")
    srI = nest.Create("spike_recorder")
    nest.Connect(E, srE)
    nest.Connect(I, srI)
    return {"E": (srE, ne), "I": (srI, ni)}, (E, n_plastic, n_syn)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=1.0, help="seconds of biological time")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default="stdp_synapse")
    ap.add_argument("--no-plastic", action="store_true")
    a = ap.parse_args(argv)

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("PYNEST_QUIET", "1")
    saved = os.dup(1)
    os.dup2(2, 1)  # NEST's banner and log away from our one JSON line
    try:
        import nest

        try:
            nest.verbosity = nest.VerbosityLevel.ERROR
        except AttributeError:  # NEST < 3.10
            nest.set_verbosity("M_ERROR")
        t0 = time.perf_counter()
        pops, (E, n_plastic, n_syn) = build(nest, a.scale, a.seed, a.threads, a.model, a.no_plastic)
        nest.Prepare()
        t1 = time.perf_counter()
        nest.Run(a.duration * 1000.0)
        t2 = time.perf_counter()
        nest.Cleanup()
        # before reading weights back: GetConnections of millions of synapses takes
        # minutes and gigabytes
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        w = np.zeros(0)
        if n_plastic:  # the synapses onto the first 20 targets
            w = np.asarray(nest.GetConnections(E, E[:20]).get("weight"), np.float64)
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    rates = {p: len(sr.get("events")["times"]) / (n * a.duration) for p, (sr, n) in pops.items()}
    out = {
        "simulator": f"nest-{nest.__version__}",
        "model": a.model,
        "scale": a.scale,
        "duration": a.duration,
        "threads": a.threads,
        "seed": a.seed,
        "build_s": round(t1 - t0, 4),
        "sim_s": round(t2 - t1, 4),
        "n_plastic": n_plastic,
        "n_synapses": n_syn,
        "rates": {k: round(v, 4) for k, v in rates.items()},
        "w_mean": float(w.mean()) if len(w) else None,
        "w_std": float(w.std()) if len(w) else None,
        "peak_rss_mib": round(rss, 1),
        "total_s": round(time.perf_counter() - _T0, 4),
        "no_plastic": a.no_plastic,
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
