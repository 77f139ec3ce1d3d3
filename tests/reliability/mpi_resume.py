"""Runs under ``mpiexec -n R``: checkpoint or resume the mixed test network.

``python mpi_resume.py checkpoint OUT [NETWORK]``: 130 ms with a checkpoint every 50 ms, then the
simulation is dropped (a crash at 130 ms, after the checkpoint at 100 ms).
``python mpi_resume.py resume OUT``: resume from the checkpoint, finish the interrupted
run (to 130 ms), then run to 200 ms.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from neurosim import Simulation  # noqa: E402

NET = os.path.join(ROOT, "tests", "data", "mixed.yaml")

if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    net = sys.argv[3] if len(sys.argv) > 3 else NET
    if mode == "checkpoint":
        sim = Simulation(net, output=out, checkpoint_every="50 ms")
        sim.run("130 ms")
    else:
        sim = Simulation.resume(out)
        assert sim.step == 1000, sim.step
        sim.run()
        sim.run("70 ms")
        sim.close()
