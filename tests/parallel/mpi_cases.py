"""Runs the MPI test networks on however many ranks it was started with.

``mpiexec -n R python tests/parallel/mpi_cases.py OUTDIR [CASE ...]`` writes, per case,
``OUTDIR/CASE.h5`` (the merged recording, run in two segments), ``OUTDIR/CASE.npz`` with
the state of the first population after the first segment (rank 0), and per rank
``OUTDIR/CASE.part<r>.npz`` with the global ids of the rank's neurons and its synapse
count.  The tests compare these across rank counts.
"""

import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import neurosim  # noqa: E402
from neurosim.parallel.comm import get_comm  # noqa: E402


def net(name):
    return os.path.join(ROOT, "networks", f"{name}.yaml")


BRUNEL_SMALL = [
    "populations.E.size=2000",
    "populations.I.size=500",
    "projections.0.rule.fixed_indegree.k=200",
    "projections.1.rule.fixed_indegree.k=50",
    "projections.0.weight=0.5 mV",
    "projections.1.weight=-2.5 mV",
    "record.state.0.neurons=0:2000:13",
]

#: case -> (network file, overrides, duration)
CASES = {
    "brunel2000": (net("brunel2000"), BRUNEL_SMALL, "300 ms"),
    "cuba": (net("cuba"), ["record.state=[{population: E, variables: [V_m]}]"], "300 ms"),
    "coba": (net("coba"), [], "300 ms"),
    "coba32": (net("coba"), ["simulation.dtype=float32"], "300 ms"),
    "mixed": (os.path.join(ROOT, "tests", "data", "mixed.yaml"), [], "200 ms"),
    "celegans": (net("celegans"), [], "30 ms"),
}


def run(case, outdir, path=None, overrides=(), duration=None):
    comm = get_comm()
    path0, over0, dur0 = CASES.get(case, (None, [], "100 ms"))
    spec = neurosim.load(path or path0, list(over0) + list(overrides))
    out = os.path.join(outdir, f"{case}.h5")
    sim = neurosim.Simulation(spec, output=out, overwrite=True)
    half = neurosim.units.parse_quantity(duration or dur0, "time") / 2
    sim.run(half)
    ltc = spec.kind == "ltc"
    first = next(p.name for p in spec.populations.values() if p.kind in ("neuron", "ltc"))
    state = sim.get(first, "v" if ltc else "V_m")
    sim.run(half)
    b = sim.built
    owned = np.nonzero(sim.backend.owned)[0] if ltc and comm.size > 1 else None
    np.savez(
        os.path.join(outdir, f"{case}.part{comm.rank}.npz"),
        # graded networks: the neurons this rank advances (V is global there)
        neuron_gid=b.neuron_gid
        if not ltc
        else (owned if owned is not None else np.arange(b.n_neurons)),
        n_synapses=b.n_synapses + (b.n_gap if ltc else 0),
        src_gids=b.src_gids if not ltc else np.zeros(0, np.int64),
        exchanges=sim.exchanges,
        # the interval loop ran in compiled code (MPI called from the kernel)
        native=bool(comm.native() is not None and getattr(sim.backend, "can_exchange", False)),
    )
    summary = sim.summary()  # collective: every rank calls it
    if comm.rank == 0:
        np.savez(os.path.join(outdir, f"{case}.npz"), V_m=state, summary=str(summary))


if __name__ == "__main__":
    outdir = sys.argv[1]
    args = sys.argv[2:] or list(CASES)
    for item in args:
        # CASE or CASE=path/to/net.yaml
        case, _, path = item.partition("=")
        run(case, outdir, path or None)
