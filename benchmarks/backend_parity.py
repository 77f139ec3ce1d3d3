"""numpy against numba on the full shipped networks: identical spikes, and the speed ratio.

    python -m benchmarks.backend_parity [cuba coba brunel2000] [--duration 1000]

For each network: build once per backend, simulate, compare every spike (times and
ids), print the simulation times and their ratio (numpy / numba).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def run(name, backend, duration):
    import neurosim

    spec = neurosim.load(os.path.join(HERE, "..", "networks", f"{name}.yaml"))
    spec.record_state = []
    sim = neurosim.Simulation(spec, backend=backend)
    sim.backend.run(0, 0)
    t0 = time.perf_counter()
    sim.run(duration)
    wall = time.perf_counter() - t0
    return {p.name: sim.spikes(p.name) for p in spec.neuron_populations}, wall


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("networks", nargs="*", default=["cuba", "coba", "brunel2000"])
    ap.add_argument("--duration", type=float, default=1000.0, help="ms")
    a = ap.parse_args(argv)
    print("| network | spikes | identical | numpy (s) | numba (s) | numpy / numba |")
    print("|---|---|---|---|---|---|")
    for name in a.networks:
        ref, t_np = run(name, "numpy", a.duration)
        got, t_nb = run(name, "numba", a.duration)
        same = all(
            np.array_equal(ref[p][0], got[p][0]) and np.array_equal(ref[p][1], got[p][1])
            for p in ref
        )
        n = sum(len(ref[p][0]) for p in ref)
        print(
            f"| {name} | {n} | {same} | {t_np:.2f} | {t_nb:.3f} | {t_np / t_nb:.0f} |", flush=True
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
