"""The networks the GPU checks compare against CPU references, and the reference files.

Each case: (network file relative to the repository, ``--set`` overrides, duration).
``benchmarks/gpu/make_reference.py`` runs them on this CPU (numpy backend; numba for
the full-scale one, which test_parity.py holds bit-equal to numpy) and stores the
results in ``benchmarks/gpu/reference/<case>.npz``; the GPU tests
(``tests/gpu/test_gpu.py``), the CPU emulation tests (``tests/gpu/test_emulated.py``)
and ``benchmarks/gpu/bench.py`` read them.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REF_DIR = os.path.join(ROOT, "benchmarks", "gpu", "reference")

BRUNEL_SMALL = [
    "populations.E.size=2000",
    "populations.I.size=500",
    "projections.0.rule.fixed_indegree.k=200",
    "projections.1.rule.fixed_indegree.k=50",
    "projections.0.weight=0.5 mV",
    "projections.1.weight=-2.5 mV",
]

#: spiking cases: spike trains and final V must be the reference's bits
SPIKING = {
    "brunel2000_small": ("networks/brunel2000.yaml", BRUNEL_SMALL, "200 ms"),
    "cuba": ("networks/cuba.yaml", [], "200 ms"),
    "coba": ("networks/coba.yaml", [], "200 ms"),
    "mixed": ("tests/data/mixed.yaml", [], "200 ms"),
    "microcircuit_0.1": ("networks/microcircuit.yaml", ["scale.N=0.1", "scale.K=0.1"], "100 ms"),
}
#: graded cases: final V and recorded traces within LTC_TOL of the reference
LTC = {
    "ltc_small": (
        "networks/ltc_1m.yaml",
        ["populations.E.size=8000", "populations.I.size=2000"],
        "20 ms",
    ),
    "celegans": ("networks/celegans.yaml", [], "100 ms"),
}
#: full scale, compared by benchmarks/gpu/bench.py over the first part of its run
FULL = {"brunel2000": ("networks/brunel2000.yaml", [], "100 ms")}
ALL = {**SPIKING, **LTC, **FULL}
#: the issue's tolerance for LTC trajectories (the kernels aim at the same bits)
LTC_TOL = 1e-5
#: the CPU emulation tests run these (the others take too long for the default suite)
EMULATED = ("brunel2000_small", "cuba", "coba", "mixed", "ltc_small", "celegans")


def case_path(case):
    return os.path.join(ROOT, ALL[case][0])


def fingerprint(case):
    """What a reference depends on: the network file's bytes, overrides, duration."""
    path, overrides, duration = ALL[case]
    h = hashlib.sha256()
    with open(case_path(case), "rb") as f:
        h.update(f.read())
    h.update(json.dumps([overrides, duration]).encode())
    return h.hexdigest()


def reference_file(case):
    return os.path.join(REF_DIR, f"{case}.npz")


def load_reference(case):
    """The stored reference of ``case`` as a dict; raises if the network changed since
    it was made (run ``python -m benchmarks.gpu.make_reference`` again)."""
    path = reference_file(case)
    with np.load(path, allow_pickle=False) as z:
        ref = {k: z[k] for k in z.files}
    meta = json.loads(str(ref["meta"]))
    if meta["fingerprint"] != fingerprint(case):
        raise RuntimeError(
            f"{path} was made from another version of {ALL[case][0]} or its overrides: "
            "run `python -m benchmarks.gpu.make_reference` again"
        )
    ref["meta"] = meta
    return ref


def spikes_of(sim):
    """Per recorded population: (steps, ids) as int64 arrays, sorted by (step, id)."""
    out = {}
    for pop in sim._spike_pops:
        t, ids = sim.spikes(pop)
        steps = np.rint(np.asarray(t) / sim.dt).astype(np.int64) - 1
        ids = np.asarray(ids, np.int64)
        o = np.lexsort((ids, steps))
        out[pop] = (steps[o], ids[o])
    return out


def compare_spiking(sim, ref):
    """Differences between a finished run and a spiking reference (empty: identical)."""
    bad = []
    got = spikes_of(sim)
    for pop in ref["meta"]["populations"]:
        rs, ri = ref[f"steps/{pop}"].astype(np.int64), ref[f"ids/{pop}"].astype(np.int64)
        gs, gi = got[pop]
        if not (np.array_equal(rs, gs) and np.array_equal(ri, gi)):
            first = np.nonzero(
                (rs[: min(len(rs), len(gs))] != gs[: min(len(rs), len(gs))])
                | (ri[: min(len(ri), len(gi))] != gi[: min(len(ri), len(gi))])
            )[0]
            at = int(rs[first[0]]) if len(first) else min(len(rs), len(gs))
            bad.append(f"{pop}: {len(gs)} spikes, reference {len(rs)}; first difference at {at}")
    V = sim.backend.V
    if not np.array_equal(V, ref["V"]):
        n = int(np.sum(V != ref["V"]))
        bad.append(f"final V differs in {n} neurons")
    return bad
