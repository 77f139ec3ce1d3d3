"""Runs under ``mpiexec -n R``: the cupy backend on the CPU emulation, on R ranks, for
the cases given; rank 0 compares each merged recording with the case's CPU reference
and prints ``OK <case>`` (exit status 1 at the first difference).

    mpiexec -n 3 python -m tests.gpu.mpi_emulated OUTDIR mixed cuba
"""

import os
import sys

import numpy as np

import neurosim
from benchmarks.gpu import cases as C
from tests.gpu.emulate import use_emulation


def main(outdir, names):
    from mpi4py import MPI

    rank = MPI.COMM_WORLD.rank
    for case in names:
        path, overrides, duration = C.ALL[case]
        out = os.path.join(outdir, f"{case}.h5")
        work = os.path.join(outdir, f"emu{rank}")
        os.makedirs(work, exist_ok=True)
        with use_emulation(work) as emu:
            sim = neurosim.Simulation(
                neurosim.load(C.case_path(case), list(overrides)), output=out, backend="cupy"
            )
            sim.run(duration)
            sim.close()
            assert emu.devices[0].rank == rank  # the device of this rank
        if rank:
            continue
        ref = C.load_reference(case)
        with neurosim.open(out) as rec:
            for pop in ref["meta"]["populations"]:
                t, ids = rec.spikes(pop)
                steps = np.rint(np.asarray(t) / sim.dt).astype(np.int64) - 1
                o = np.lexsort((ids, steps))
                if not (
                    np.array_equal(steps[o], ref[f"steps/{pop}"])
                    and np.array_equal(np.asarray(ids)[o], ref[f"ids/{pop}"])
                ):
                    print(f"DIFFERENT {case} {pop}", flush=True)
                    sys.exit(1)
        print(f"OK {case}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
