"""Runs under ``mpiexec -n 2``: rank 1 asks to stop before a run; every rank must stop
after the same first exchange interval (spiking) or at the same chunk boundary (graded,
``ltc`` as second argument: celegans).  Each rank writes ``step reason`` lines to
``OUTDIR/rank<r>.txt`` (two ranks printing at once would interleave)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import neurosim  # noqa: E402
from neurosim.parallel.comm import get_comm  # noqa: E402
from neurosim.simulation import Interrupted  # noqa: E402
from tests.parallel.mpi_cases import BRUNEL_SMALL, net  # noqa: E402

if __name__ == "__main__":
    comm = get_comm()
    if sys.argv[2:] == ["ltc"]:
        spec = neurosim.load(net("celegans"))
    else:
        spec = neurosim.load(net("brunel2000"), [*BRUNEL_SMALL, "record.state=[]"])
    sim = neurosim.Simulation(spec, output=os.path.join(sys.argv[1], "o.h5"), overwrite=True)
    sim.run("5 ms")
    if comm.rank == 1:
        sim.request_stop("test stop")
    lines = []
    try:
        sim.run("100 ms")
        lines.append(f"{sim.step} not stopped")
    except Interrupted as exc:
        lines.append(f"{sim.step} {exc.reason}")
    sim.run("2 ms")  # a later run goes on
    lines.append(f"{sim.step} after")
    sim.close()
    with open(os.path.join(sys.argv[1], f"rank{comm.rank}.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
