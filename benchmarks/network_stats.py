"""Mean rate and CV of ISI per population over seeds, beside NEST's and Brian2's.

    python -m benchmarks.network_stats [cuba coba brunel2000] [--dtype float32]

Prints a markdown table (for benchmarks/RESULTS.md).  The peer numbers come from
tests/reference/peer_network_stats.json (made by tests/reference/make_peer_network_stats.py
with the same definitions: 1 s, the whole window, CV over neurons with >= 3 spikes).
A seed whose whole-network rate in the last 200 ms is below 0.1 Hz is 'silent': it is
reported and left out of the means, as in the reference.
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "..", "tests", "reference", "peer_network_stats.json")


def seed_stats(name, seed, dtype="float64"):
    """{population: (rate Hz, CV ISI)} of one 1 s run, and whether it went silent."""
    import neurosim
    from neurosim.analysis.stats import cv_isi

    spec = neurosim.load(
        os.path.join(HERE, "..", "networks", f"{name}.yaml"), [f"simulation.dtype={dtype}"]
    )
    spec.seed = seed
    spec.record_state = []
    sim = neurosim.Simulation(spec, backend="numba")
    sim.run("1 s")
    out, last, total = {}, 0, 0
    for pop in spec.neuron_populations:
        t, ids = sim.spikes(pop.name)
        out[pop.name] = (len(t) / pop.size, cv_isi(t, ids)[0])
        last += int((t > 800.0).sum())
        total += pop.size
    return out, last / (total * 0.2) < 0.1


def network_stats(name, n_active=5, max_seeds=12, dtype="float64"):
    """Statistics of the first ``n_active`` non-silent seeds; also the silent seeds."""
    runs, silent = [], []
    for seed in range(1, max_seeds + 1):
        stats, dead = seed_stats(name, seed, dtype)
        if dead:
            silent.append(seed)
        else:
            runs.append(stats)
        if len(runs) == n_active:
            break
    return runs, silent


def mean_sem(x):
    x = np.asarray(x, float)
    return x.mean(), x.std(ddof=1) / math.sqrt(len(x))


def main(argv=None):
    args = list(argv if argv is not None else sys.argv[1:])
    dtype = "float64"
    if "--dtype" in args:
        i = args.index("--dtype")
        dtype = args[i + 1]
        del args[i : i + 2]
    nets = args or ["cuba", "coba", "brunel2000"]
    ref = json.load(open(REF))["results"]
    print(
        "| network | population | quantity | neurosim (5 seeds) | NEST 3.10 | Brian2 2.9 | "
        "neurosim / NEST |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in nets:
        runs, silent = network_stats(name, dtype=dtype)
        for pop in runs[0]:
            for k, key in enumerate(("rate_hz", "cv_isi")):
                m, s = mean_sem([r[pop][k] for r in runs])
                peers = [
                    ref[name][p]["summary"]["populations"][pop][key] for p in ("nest", "brian2")
                ]
                cells = " | ".join(f"{p['mean']:.3f} ± {p['sem']:.3f}" for p in peers)
                print(
                    f"| {name} | {pop} | {key} | {m:.3f} ± {s:.3f} | {cells} | "
                    f"{m / peers[0]['mean']:.3f} |"
                )
        print(
            f"| {name} | silent seeds | | {silent or 'none'} | "
            f"{ref[name]['nest']['summary']['silent_seeds'] or 'none'} | "
            f"{ref[name]['brian2']['summary']['silent_seeds'] or 'none'} | |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
