"""Make the CPU references the GPU checks compare against (benchmarks/gpu/cases.py).

    python -m benchmarks.gpu.make_reference [CASE ...]

Runs each case on this CPU with the numpy backend (the full-scale brunel2000 with numba,
which the parity tests hold bit-equal to numpy) and writes
``benchmarks/gpu/reference/<case>.npz``: per spiking population the spike steps and
ids (int32), the final V of every neuron (float64), the recorded traces of the cases
that keep them (``report/<pop>/<var>``), and ``meta`` (JSON: the network's
fingerprint, overrides, duration, backend, neurosim version, date).  Rerun it after
changing a network file, a case or the arithmetic of the backends.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import tempfile
import time

import numpy as np

from benchmarks.gpu import cases as C

#: cases whose recorded traces are stored too (small recordings)
KEEP_REPORTS = ("mixed", "ltc_small")


def run_case(case, backend, output=None):
    """Run ``case`` with ``backend``; returns the finished Simulation."""
    import neurosim

    path, overrides, duration = C.ALL[case]
    spec = neurosim.load(C.case_path(case), list(overrides))
    sim = neurosim.Simulation(spec, output=output, backend=backend, overwrite=True)
    sim.run(duration)
    return sim


def reports_of(output):
    import neurosim

    out = {}
    with neurosim.open(output) as rec:
        for pop in rec.report_populations:
            for var in rec.variables(pop):
                out[f"report/{pop}/{var}"] = np.asarray(rec.report(pop, var)[1])
    return out


def make(case):
    backend = "numba" if case in C.FULL else "numpy"
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ref.h5") if case in KEEP_REPORTS else None
        t0 = time.perf_counter()
        sim = run_case(case, backend, out)
        wall = time.perf_counter() - t0
        arrays = {"V": np.asarray(sim.backend.V, np.float64)}
        pops = []
        if case not in C.LTC:
            for pop, (steps, ids) in C.spikes_of(sim).items():
                arrays[f"steps/{pop}"] = steps.astype(np.int32)
                arrays[f"ids/{pop}"] = ids.astype(np.int32)
                pops.append(pop)
        if out is not None:
            sim.close()
            arrays.update(reports_of(out))
    path, overrides, duration = C.ALL[case]
    meta = {
        "case": case,
        "network": path,
        "overrides": list(overrides),
        "duration": duration,
        "fingerprint": C.fingerprint(case),
        "backend": backend,
        "populations": pops,
        "neurosim": __import__("neurosim").__version__,
        "date": datetime.date.today().isoformat(),
    }
    arrays["meta"] = np.array(json.dumps(meta))
    os.makedirs(C.REF_DIR, exist_ok=True)
    np.savez_compressed(C.reference_file(case), **arrays)
    n = sum(len(arrays[f"steps/{p}"]) for p in pops)
    size = os.path.getsize(C.reference_file(case))
    print(f"{case}: {backend}, {wall:.1f} s, {n} spikes, {size / 1024:.0f} KiB", flush=True)


def main(argv):
    todo = argv or list(C.ALL)
    for case in todo:
        if case not in C.ALL:
            sys.exit(f"unknown case {case!r}; expected one of {', '.join(C.ALL)}")
        make(case)


if __name__ == "__main__":
    main(sys.argv[1:])
