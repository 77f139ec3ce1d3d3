"""neurosim side of the peer benchmarks: run a shipped network, print one JSON line.

    python benchmarks/neurosim_net.py {cuba,coba,brunel2000} [--seed S] [--duration 1.0]
        [--backend numba] [--dtype float64] [--no-synapses] [--output out.h5]

Prints {"simulator", "network", "build_s", "sim_s", "n_synapses", "rates", "peak_rss_mib",
"total_s", ...}.  build_s = reading the file + building every array (neurons, synapses,
propagators) + preparing the backend, with the kernels loaded from numba's disk cache;
it starts after ``import neurosim`` and the import of the backend's library (numba), as
the NEST side's starts after ``import nest``; import_s is that import, and total_s
includes everything.  sim_s = Simulation.run over the duration, with the
spikes of every population recorded to HDF5 (as the peer scripts record theirs);
loop_s = the part of it spent in the backend's tick loop (``backend.run``: the
steps, with this chunk's spikes returned in memory), i.e. without opening, writing
and flushing the HDF5 file.  loop_s is the counterpart of Brian2 cpp_standalone's
sim_s, which is its binary's own measure of the run loop and leaves out writing its
results to disk.
--no-synapses keeps the neurons, their initial state and the device input, and drops
the projections between neuron populations (for bytes per synapse); it first builds the
network at 1/100 of its size, so that the compiled build code is loaded on both sides.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("network")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration", type=float, default=1.0, help="seconds of biological time")
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--no-synapses", action="store_true")
    ap.add_argument("--output", default=None)
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    a = ap.parse_args(argv)

    import neurosim
    from neurosim.backends import get_backend

    # the backend's libraries imported (numba), as NEST's build_s starts after `import nest`
    get_backend(a.backend)
    path = os.path.join(HERE, "..", "networks", f"{a.network}.yaml")
    dtype = [f"simulation.dtype={a.dtype}"] if a.dtype != "float64" else []
    if a.no_synapses:
        # Load the code that builds synapses, as the run with synapses does, by
        # building a copy at 1/100 of the size: the difference of the two peak RSS
        # is then the synapses' memory, not a constant for compiled code.
        from neurosim.network.build import build

        full = neurosim.load(path)
        small = [
            f"populations.{p.name}.size={max(1, p.size // 100)}" for p in full.neuron_populations
        ]
        build(neurosim.load(path, small + dtype))
    t_import = time.perf_counter() - _T0
    t0 = time.perf_counter()
    spec = neurosim.load(path, dtype or None)
    spec.seed = a.seed
    spec.record_state = []
    spec.record_spikes = [p.name for p in spec.neuron_populations]
    if a.no_synapses:
        spec.projections = [p for p in spec.projections if spec.populations[p.pre].kind != "neuron"]
    out = a.output or os.path.join(tempfile.mkdtemp(), "out.h5")
    sim = neurosim.Simulation(spec, output=out, backend=a.backend, overwrite=True)
    sim.backend.run(0, 0)  # backend kernels loaded (numba: from its on-disk cache)
    build_s = time.perf_counter() - t0
    loop = [0.0]
    backend_run = sim.backend.run

    def timed_run(*args, **kw):
        t = time.perf_counter()
        try:
            return backend_run(*args, **kw)
        finally:
            loop[0] += time.perf_counter() - t

    sim.backend.run = timed_run
    t1 = time.perf_counter()
    sim.run(a.duration * 1000.0)
    sim_s = time.perf_counter() - t1
    summary = sim.summary()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        json.dumps(
            {
                "simulator": f"neurosim-{neurosim.__version__}-{a.backend}-{a.dtype}",
                "network": a.network,
                "seed": a.seed,
                "build_s": round(build_s, 4),
                "sim_s": round(sim_s, 4),
                "loop_s": round(loop[0], 4),
                "import_s": round(t_import, 4),
                "total_s": round(time.perf_counter() - _T0, 4),
                "n_synapses": int(sim.built.n_synapses),
                "n_neurons": int(sim.built.n_neurons),
                "rates": {k: round(v["rate_hz"], 4) for k, v in summary.items()},
                "peak_rss_mib": round(rss, 1),
                "no_synapses": a.no_synapses,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
