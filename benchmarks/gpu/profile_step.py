"""Where a step of the cupy backend spends its time (a GPU visit's diagnostic).

    python -m benchmarks.gpu.profile_step [--steps 300] [--out DIR]

For brunel2000 and the microcircuit (full scale): wall time per step, the host's time
to enqueue a step's launches, and each kernel's device time per step (CUDA events);
then the host cost of launching an empty kernel and of replaying a CUDA graph of them.
Prints JSON lines (and appends them to DIR/profile.jsonl).
"""

from __future__ import annotations

import argparse
import json
import os
import time

from benchmarks.gpu import cases as C


def _emit(out, res):
    print(json.dumps(res), flush=True)
    if out:
        with open(os.path.join(out, "profile.jsonl"), "a") as f:
            f.write(json.dumps(res) + "\n")


def network(name, path, overrides, steps, out):
    import cupy as cp

    import neurosim

    spec = neurosim.load(path, overrides)
    sim = neurosim.Simulation(spec, backend="cupy")
    sim.run("20 ms")
    be = sim.backend
    cp.cuda.Device().synchronize()
    k0 = sim.step
    be.d_counter[...] = 0
    be._grow(steps * be.N + 1, 0)
    be._bind(k0)
    cp.cuda.Device().synchronize()
    t0 = time.perf_counter()
    for kk in range(k0, k0 + steps):
        be._step(kk, 0, 0, True)
    t1 = time.perf_counter()
    cp.cuda.Device().synchronize()
    t2 = time.perf_counter()
    n_sp = int(be.d_counter.get()[0])
    res = {
        "network": name,
        "steps": steps,
        "enqueue_us_per_step": round((t1 - t0) / steps * 1e6, 1),
        "wall_us_per_step": round((t2 - t0) / steps * 1e6, 1),
        "spikes_per_step": round(n_sp / steps, 1),
    }
    # device time of each kernel
    times = {}
    orig = dict(be._launch)

    def timed(name, launch):
        def call(**kw):
            a, b = cp.cuda.Event(), cp.cuda.Event()
            a.record()
            launch(**kw)
            b.record()
            times.setdefault(name, []).append((a, b))

        return call

    be._launch = {n: timed(n, f) for n, f in orig.items()}
    be.d_counter[...] = 0
    k1 = k0 + steps
    for kk in range(k1, k1 + steps):
        be._step(kk, 0, 0, True)
    cp.cuda.Device().synchronize()
    res["device_us_per_step"] = {
        n: round(sum(cp.cuda.get_elapsed_time(a, b) for a, b in ev) * 1e3 / steps, 2)
        for n, ev in times.items()
    }
    be._launch = orig
    _emit(out, res)


def launch_costs(out):
    import cupy as cp
    import numpy as np

    src = 'extern "C" __global__ void k_empty(const long long n, double* x) { if (n < 0) *x = 1; }'
    fn = cp.RawModule(code=src).get_function("k_empty")
    x = cp.zeros(1)
    n = np.int64(1)
    for _ in range(10):
        fn((1,), (32,), (n, x))
    cp.cuda.Device().synchronize()
    reps = 2000
    t = time.perf_counter()
    for _ in range(reps):
        fn((1,), (32,), (n, x))
    t1 = time.perf_counter()
    cp.cuda.Device().synchronize()
    t2 = time.perf_counter()
    res = {
        "empty_launch_enqueue_us": round((t1 - t) / reps * 1e6, 2),
        "empty_launch_wall_us": round((t2 - t) / reps * 1e6, 2),
    }
    try:
        s = cp.cuda.Stream(non_blocking=True)
        with s:
            s.begin_capture()
            for _ in range(1000):
                fn((1,), (32,), (n, x))
            g = s.end_capture()
        g.launch(s)
        s.synchronize()
        t = time.perf_counter()
        for _ in range(10):
            g.launch(s)
        s.synchronize()
        res["graph_us_per_node"] = round((time.perf_counter() - t) / 10000 * 1e6, 2)
    except Exception as exc:  # noqa: BLE001 - report whatever fails
        res["graph_error"] = repr(exc)[:300]
    _emit(out, res)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    launch_costs(a.out)
    network("brunel2000", os.path.join(C.ROOT, "networks/brunel2000.yaml"), [], a.steps, a.out)
    network("microcircuit", os.path.join(C.ROOT, "networks/microcircuit.yaml"), [], a.steps, a.out)


if __name__ == "__main__":
    main()
