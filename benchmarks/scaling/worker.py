"""One rank of a scaling measurement (started by benchmarks/scaling/run.py via mpiexec).

Builds and runs a network file, then rank 0 prints one JSON line: build and simulation
wall time (max over ranks), spikes exchanged, exchanges, peak RSS per rank, synapses
and neurons per rank.
"""

import argparse
import json
import resource
import time

import numpy as np

import neurosim
from neurosim.parallel.comm import get_comm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("network")
    ap.add_argument("--duration", default="1 s")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--warmup", default="20 ms", help="run first (numba cache loads)")
    args = ap.parse_args()
    comm = get_comm()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    spec = neurosim.load(args.network, args.set)
    spec.record_state = []
    t = time.perf_counter()
    sim = neurosim.Simulation(spec)
    comm.barrier()
    build = time.perf_counter() - t
    sim.run(args.warmup)
    ex0, n0 = sim.exchanged_spikes, sim.exchanges
    comm.barrier()
    t = time.perf_counter()
    sim.run(args.duration)
    comm.barrier()
    wall = time.perf_counter() - t
    b = sim.built
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    row = {
        "rss_mib": rss / 1024,
        "rss_before_mib": rss0 / 1024,
        "synapses": int(b.n_synapses),
        "neurons": int(b.n_neurons),
        "sources": int(len(getattr(b, "src_gids", []))),
    }
    rows = comm.allgather(row)
    summary = sim.summary()
    if comm.rank == 0:
        print(
            json.dumps(
                {
                    "ranks": comm.size,
                    "build_s": build,
                    "sim_s": wall,
                    "exchanges": sim.exchanges - n0,
                    "spikes_exchanged": sim.exchanged_spikes - ex0,
                    "per_rank": rows,
                    "rates": {p: r["rate_hz"] for p, r in summary.items()},
                    "rss_max_mib": float(np.max([r["rss_mib"] for r in rows])),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
