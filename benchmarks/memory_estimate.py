"""The memory estimate against the measured peak RSS of real runs.

    python benchmarks/memory_estimate.py [--only NAME ...] [--json FILE]

Each case runs ``neurosim run`` in a subprocess (numba kernels already in the disk
cache: run any network once first) that reports its peak resident set size at the end
(``VmHWM`` of ``/proc/self/status``; under ``mpiexec``, the largest rank's).  The estimate is
:func:`neurosim.network.estimate.estimate` of the same spec, backend and ranks.
Cases ``tiny-*`` measure the baselines of :data:`neurosim.network.estimate.BASELINE`.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import neurosim  # noqa: E402
from neurosim.network.estimate import estimate  # noqa: E402


def net(name):
    return os.path.join(ROOT, "networks", f"{name}.yaml")


TINY_SPIKING = [
    "populations.E.size=8",
    "populations.I.size=2",
    "projections.0.rule.fixed_indegree.k=2",
    "projections.1.rule.fixed_indegree.k=1",
    "record.state.0.neurons=0:4",
]
LTC_SMALL = [
    "populations.E.size=8",
    "populations.I.size=4",
    "projections.0.rule.fixed_indegree.k=2",
    "projections.1.rule.fixed_indegree.k=1",
]

#: name -> (network, overrides, backend, ranks, duration or None)
CASES = {
    "tiny-spiking-numba": (net("brunel2000"), TINY_SPIKING, "numba", 1, "100 ms"),
    "tiny-spiking-numpy": (net("brunel2000"), TINY_SPIKING, "numpy", 1, "100 ms"),
    "tiny-ltc-numba": (net("ltc_1m"), LTC_SMALL, "numba", 1, "5 ms"),
    "tiny-ltc-numpy": (net("ltc_1m"), LTC_SMALL, "numpy", 1, "5 ms"),
    "brunel2000": (net("brunel2000"), [], "numba", 1, None),
    "cuba": (net("cuba"), [], "numba", 1, None),
    "coba": (net("coba"), [], "numba", 1, None),
    "ltc_1m": (net("ltc_1m"), [], "numba", 1, None),
    # random networks of other sizes
    "brunel 5k, k=500/125": (
        net("brunel2000"),
        [
            "populations.E.size=4000",
            "populations.I.size=1000",
            "projections.0.rule.fixed_indegree.k=500",
            "projections.1.rule.fixed_indegree.k=125",
        ],
        "numba",
        1,
        "300 ms",
    ),
    "brunel 50k, k=1000/250": (
        net("brunel2000"),
        [
            "populations.E.size=40000",
            "populations.I.size=10000",
            "projections.0.weight=0.05 mV",
            "projections.1.weight=-0.25 mV",
        ],
        "numba",
        1,
        "200 ms",
    ),
    "cuba 25k, p=0.02": (
        net("cuba"),
        ["populations.E.size=20000", "populations.I.size=5000"],
        "numba",
        1,
        "300 ms",
    ),
    "coba 12k, p=0.02": (
        net("coba"),
        ["populations.E.size=9600", "populations.I.size=2400"],
        "numba",
        1,
        "300 ms",
    ),
    "brunel2000 numpy": (net("brunel2000"), [], "numpy", 1, "50 ms"),
    "brunel2000 2 ranks": (net("brunel2000"), [], "numba", 2, "300 ms"),
    "brunel2000 4 ranks": (net("brunel2000"), [], "numba", 4, "300 ms"),
    "ltc 100k (1e7 synapses)": (
        net("ltc_1m"),
        ["populations.E.size=80000", "populations.I.size=20000"],
        "numba",
        1,
        None,
    ),
    "celegans": (net("celegans"), [], "numba", 1, None),
}


#: The child: run the command line, then report its own peak (VmHWM belongs to the
#: process's memory map, which exec starts afresh; ru_maxrss of a child can include the
#: parent's memory at fork).
CHILD = (
    "import sys\n"
    "from neurosim.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "hwm = [x for x in open('/proc/self/status') if x.startswith('VmHWM')][0].split()[1]\n"
    "print('VmHWM', int(hwm) * 1024, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def measure(path, overrides, backend, ranks, duration, out):
    """Peak RSS (bytes; under MPI the largest rank's) and wall time of one run."""
    cmd = [sys.executable, "-c", CHILD, "run", path, "-o", out, "--overwrite"]
    cmd += ["--quiet", "--backend", backend]
    for o in overrides:
        cmd += ["--set", o]
    if duration:
        cmd += ["--duration", duration]
    env = dict(os.environ, NUMBA_NUM_THREADS="1", PYTHONPATH=ROOT)
    if ranks > 1:
        exe = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        cmd = [exe, "-n", str(ranks), *cmd]
        env.setdefault("MPIR_CVAR_CH4_PROGRESS_THROTTLE", "1")
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd}: exit {p.returncode}: {p.stderr[-2000:]}")
    peaks = [int(x.split()[1]) for x in p.stderr.splitlines() if x.startswith("VmHWM ")]
    assert len(peaks) == ranks, p.stderr[-2000:]
    return max(peaks), time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = []
    names = a.only or list(CASES)
    with tempfile.TemporaryDirectory() as d:
        for name in names:
            path, ov, backend, ranks, dur = CASES[name]
            spec = neurosim.load(path, ov)
            if dur:
                spec.duration = neurosim.units.parse_quantity(dur, "time")
            est = estimate(spec, ranks, backend)
            rss, wall = measure(path, ov, backend, ranks, dur, os.path.join(d, "out.h5"))
            row = {
                "case": name,
                "backend": backend,
                "ranks": ranks,
                "synapses": est.synapses,
                "neurons": est.neurons,
                "estimate_mib": est.total / 2**20,
                "measured_mib": rss / 2**20,
                "ratio": est.total / rss,
                "wall_s": wall,
                "parts_mib": {k: v / 2**20 for k, v in est.parts.items()},
            }
            rows.append(row)
            print(
                f"| {name} | {backend} | {ranks} | {est.synapses:,} | "
                f"{row['estimate_mib']:.0f} | {row['measured_mib']:.0f} | "
                f"{100 * (row['ratio'] - 1):+.1f} % |",
                flush=True,
            )
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
