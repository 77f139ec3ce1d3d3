"""Cost model for neurosim across ranks, fed by measurements on this machine
(benchmarks/results/scaling.json from run.py) and by measured kernel constants;
extrapolates brunel2000 and the microcircuit to 64-1024 ranks.  See SCALING.md.

    python benchmarks/scaling/model.py

Time per biological second on P ranks:

    T(P) = C / P                       compute that divides (neurons, Poisson, synapses)
         + S * c_spike                 every rank looks up every spike's row
         + E * (c_epoch + a * ceil(log2 P))   per exchange: Python + collective latency
         + 8 * S * b                   the Allgatherv volume every rank receives

C: one rank's simulation time; S: spikes per second; E: exchanges per second
(1000 ms / min_delay); c_spike: the row lookup per spike (measured below); c_epoch: the
Python work of one exchange interval (a 250-neuron network on 2 ranks); a, b: latency
per doubling step and inverse bandwidth of Allgatherv (2 ranks here; a cluster fabric
assumed below).  The compute C is taken to divide perfectly (population blocks give
every rank the same share of every population).
"""

import json
import math
import os
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

#: Interconnect assumptions for a cluster (per doubling step; per byte): an InfiniBand
#: HDR-class fabric (~2 us MPI latency) plus mpi4py's call overhead measured here (~5 us),
#: and 10 GB/s.
CLUSTER_ALPHA = 7e-6
CLUSTER_BETA = 1 / 10e9

#: Potjans & Diesmann (2014) sizes and NEST 3.10's rates measured here (issue 6).
MICRO_N = [20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948]
MICRO_RATES = [0.90, 2.97, 4.41, 5.88, 7.57, 8.63, 1.10, 7.83]


def c_spike():
    """Seconds per spike of the row lookup (binary search over the sources)."""
    from neurosim.backends.numba_backend import _rows_of

    src = np.arange(0, 2 * 77169, 2, dtype=np.int64)
    gids = np.random.default_rng(0).integers(0, 2 * 77169, 1 << 20).astype(np.int64)
    rows = np.empty(len(gids), np.int64)
    _rows_of(gids[:10], src, rows)
    t = time.perf_counter()
    _rows_of(gids, src, rows)
    return (time.perf_counter() - t) / len(gids)


def model(C, S, E, P, alpha, beta, cs, ce):
    hops = math.ceil(math.log2(P)) if P > 1 else 0
    return C / P + (S * cs if P > 1 else 0) + E * (ce + alpha * hops) * (P > 1) + 8 * S * beta


def main():
    with open(os.path.join(ROOT, "benchmarks", "results", "scaling.json")) as f:
        m = json.load(f)
    ag2 = {int(k): v for k, v in m["allgather"]["2"].items()}
    alpha_here = ag2[8]  # one doubling step (2 ranks), tiny payload
    beta_here = (ag2[524288] - ag2[8192]) / (2 * (524288 - 8192))  # both ranks' bytes
    cs = c_spike()
    s1 = m["strong"]["1"]
    s2 = m["strong"]["2"]
    C_b = s1["median_sim_s"]
    S_b = s2["spikes_exchanged"]  # per simulated second
    E_b = s2["exchanges"]
    # the Python work of one exchange interval: a network with almost nothing to do
    ce = max(0.0, m["epoch_s"] - alpha_here)
    print(f"measured: alpha {alpha_here * 1e6:.1f} us/step, 1/beta {1 / beta_here / 1e9:.1f} GB/s,")
    print(f"c_spike {cs * 1e9:.1f} ns, c_epoch {ce * 1e6:.0f} us")
    # microcircuit on one rank: cost = N * a + N * K * b, fitted to N = 0.1 with K = 0.1
    # and K = 1 (a: Poisson and neuron updates; b: synaptic events), extrapolated to 1, 1
    t01, t1 = m["micro"]["0.1"]["sim_s"], m["micro"]["1"]["sim_s"]
    b_nk = (t1 - t01) / (0.1 * 1 - 0.1 * 0.1)
    a_n = (t01 - 0.01 * b_nk) / 0.1
    C_m = a_n + b_nk
    S_m = sum(n * r for n, r in zip(MICRO_N, MICRO_RATES, strict=True))
    E_m = 10000  # min delay one step (0.1 ms)
    print(f"microcircuit C fitted = {a_n:.1f} s (per neuron) + {b_nk:.1f} s (per synapse)")
    full = os.path.join(ROOT, "benchmarks", "results", "microcircuit_full_neurosim.json")
    if os.path.exists(full):  # the full-scale run itself (benchmarks/microcircuit.py)
        with open(full) as f:
            r = json.load(f)["results"]["neurosim"]
        C_m = r["sim_s"]  # S stays the rates' (n_spikes counts the transient too)
        print(f"microcircuit C measured at full scale: {C_m:.1f} s")
    rows = []
    for name, C, S, E in (("brunel2000", C_b, S_b, E_b), ("microcircuit", C_m, S_m, E_m)):
        for P in (1, 2, 64, 128, 256, 512, 1024):
            here = model(C, S, E, P, alpha_here, beta_here, cs, ce)
            clus = model(C, S, E, P, CLUSTER_ALPHA, CLUSTER_BETA, cs, ce)
            rows.append((name, P, here, C / here / P, clus, C / clus / P))
    print(
        f"{'network':<13} {'ranks':>5} {'T here (s)':>11} {'eff':>6} {'T cluster':>10} {'eff':>6}"
    )
    for r in rows:
        print(f"{r[0]:<13} {r[1]:>5} {r[2]:>11.3f} {r[3]:>6.1%} {r[4]:>10.3f} {r[5]:>6.1%}")
    print(f"(microcircuit: S = {S_m:.0f} spikes/s, E = {E_m} exchanges/s)")


if __name__ == "__main__":
    main()
