"""Allgatherv latency and bandwidth on this machine (mpi4py, int64 payloads), the
inputs of the cost model in benchmarks/SCALING.md.  Rank 0 prints one JSON line:
per message size per rank (bytes), the median time of one Allgather(count) +
Allgatherv pair, as the simulator does it per exchange."""

import json
import time

import numpy as np

from neurosim.parallel.comm import get_comm


def main():
    comm = get_comm()
    out = {}
    for n in (0, 1, 16, 128, 1024, 8192, 65536):
        local = np.arange(n, dtype=np.int64)
        reps = 2000 if n <= 1024 else 200
        for _ in range(20):
            comm.allgather_int64(local)
        times = []
        for _ in range(5):
            comm.barrier()
            t = time.perf_counter()
            for _ in range(reps):
                comm.allgather_int64(local)
            times.append((time.perf_counter() - t) / reps)
        out[8 * n] = float(np.median(times))
    if comm.rank == 0:
        print(json.dumps({"ranks": comm.size, "seconds_by_bytes_per_rank": out}), flush=True)


if __name__ == "__main__":
    main()
