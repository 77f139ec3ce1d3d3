"""The largest random network this machine simulates: Brunel-like, fixed in-degree, growing N.

    python benchmarks/largest_network.py --start 200000 --factor 1.5 --max-gib 20 \
        --duration 0.1 --json benchmarks/results/largest_network.json
    python benchmarks/largest_network.py --sizes 2000 5000          # a quick check

The network is Brunel (2000) model A (as ``networks/brunel2000.yaml``: iaf_psc_delta,
80 % E / 20 % I, fixed in-degree ``C_E`` from E and ``C_E / 4`` from I, multapses and
autapses allowed, J = 0.1 mV, g = 5, 20 kHz of Poisson input per neuron, activity
~38 Hz synchronous-irregular) with every synapse carrying its own weight and delay:
weights normal (J +- 10 %, sign kept), delays uniform in [1.0, 2.0] ms, so nothing is
shared or regenerated (no procedural mode exists; none is measured).  With ``C_E``
fixed the dynamics do not depend on N: only the memory and the time grow.

Each size runs in a process of its own (so ``ru_maxrss`` is that size's peak), the
sizes one after the other: the given ``--sizes``, or from ``--start`` times
``--factor`` while the peak predicted from the last size (linear in N) stays under
``--max-gib``.  Per size: neurons, synapses, build time, time per simulated second (run
of ``--duration`` s after a 20 ms start), peak RSS after the build and at the end, the
bytes per synapse of the stored arrays (target, weight, delay, row pointers), all in
(peak RSS / synapses), and, with ``--baseline``, marginal ((peak - peak of the same
network without recurrent synapses) / synapses), and the mean rate.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402


def _cpu_s():
    """CPU seconds of this process (all threads), user + system."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def network_doc(n, c_e, seed, synapses=True):
    """The network file (as a mapping) of ``n`` neurons with in-degree ``c_e + c_e / 4``."""
    n_e = int(round(0.8 * n))
    n_i = n - n_e
    c_i = max(1, c_e // 4)
    lif = {"tau_m": 20.0, "C_m": 250.0, "E_L": 0.0, "V_th": 20.0, "V_reset": 10.0, "t_ref": 2.0}
    v0 = {"V_m": {"uniform": [10.0, 20.0]}}
    delay = {"uniform": [1.0, 2.0]}
    doc = {
        "name": f"largest_brunel_{n}",
        "simulation": {"dt": 0.1, "seed": seed},
        "populations": {
            "E": {"size": n_e, "model": "iaf_psc_delta", "params": lif, "initial": v0},
            "I": {"size": n_i, "model": "iaf_psc_delta", "params": lif, "initial": v0},
            "ext": {"model": "poisson_generator", "params": {"rate": 20000.0}},
        },
        "projections": [
            {"pre": "ext", "post": ["E", "I"], "rule": "all_to_all", "weight": 0.1, "delay": 1.5}
        ],
        "record": {"spikes": ["E", "I"]},
    }
    if synapses:
        doc["projections"] += [
            {
                "pre": "E",
                "post": ["E", "I"],
                "rule": {"fixed_indegree": {"k": c_e}},
                "weight": {"normal": {"mean": 0.1, "std": 0.01, "min": 0.0}},
                "delay": delay,
            },
            {
                "pre": "I",
                "post": ["E", "I"],
                "rule": {"fixed_indegree": {"k": c_i}},
                "weight": {"normal": {"mean": -0.5, "std": 0.05, "max": 0.0}},
                "delay": delay,
            },
        ]
    return doc


def worker(a):
    """One size in this process; prints one JSON line."""
    import neurosim
    from neurosim.network.spec import build_spec

    t0 = time.perf_counter()
    spec = build_spec(network_doc(a.n, a.c_e, a.seed, synapses=not a.no_synapses))
    sim = neurosim.Simulation(spec, output=None, backend=a.backend)
    sim.backend.run(0, 0)  # kernels loaded
    t1 = time.perf_counter()
    rss_build = _rss_mib()
    b = sim.built
    stored = sum(x.nbytes for x in (b.target, b.weight, b.delay, b.row_ptr) if x is not None)
    sim.run(20.0)  # start-up, not timed
    t2, c2 = time.perf_counter(), _cpu_s()
    sim.run(a.duration * 1000.0)
    t3, c3 = time.perf_counter(), _cpu_s()
    counts = dict(sim.spike_counts)
    sim_ms = sim.sim_time
    n_syn = int(b.n_synapses)
    out = {
        "n_neurons": int(b.n_neurons),
        "n_synapses": n_syn,
        "c_e": a.c_e,
        "no_synapses": a.no_synapses,
        "build_s": round(t1 - t0, 3),
        "build_arrays_s": round(sim.build_time, 3),
        "sim_s": round(t3 - t2, 3),
        "duration_s": a.duration,
        "s_per_sim_s": round((t3 - t2) / a.duration, 3),
        "cpu_s_per_sim_s": round((c3 - c2) / a.duration, 3),
        "rate_hz": round(sum(counts.values()) / b.n_neurons / (sim_ms * 1e-3), 3),
        "stored_bytes": int(stored),
        "stored_bytes_per_synapse": round(stored / n_syn, 3) if n_syn else None,
        "peak_rss_build_mib": round(rss_build, 1),
        "peak_rss_mib": round(_rss_mib(), 1),
        "all_in_bytes_per_synapse": round(_rss_mib() * 2**20 / n_syn, 3) if n_syn else None,
        "start_s": round(t2 - t1, 3),
        "total_s": round(time.perf_counter() - _T0, 3),
    }
    print(json.dumps(out), flush=True)


def _run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return {"failed": p.returncode, "stderr": p.stderr[-2000:]}
    return json.loads([x for x in p.stdout.splitlines() if x.startswith("{")][-1])


def measure(a, n):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--n", str(n)]
    cmd += ["--c-e", str(a.c_e), "--seed", str(a.seed), "--duration", repr(a.duration)]
    cmd += ["--backend", a.backend]
    r = _run(cmd)
    if a.baseline and "failed" not in r:
        base = _run(cmd + ["--no-synapses"])
        if "failed" not in base:
            r["baseline_peak_rss_mib"] = base["peak_rss_mib"]
            r["marginal_bytes_per_synapse"] = round(
                (r["peak_rss_mib"] - base["peak_rss_mib"]) * 2**20 / r["n_synapses"], 3
            )
    r["n"] = n
    return r


def table(rows):
    lines = [
        "| neurons | synapses | build (s) | s (CPU s) per simulated s | rate (Hz) | "
        "peak RSS (GiB) | stored B/syn | all-in B/syn | marginal B/syn |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "failed" in r:
            lines.append(f"| {r['n']} | failed (exit {r['failed']}) | | | | | | | |")
            continue
        lines.append(
            f"| {r['n_neurons']:,} | {r['n_synapses']:,} | {r['build_s']:.1f} | "
            f"{r['s_per_sim_s']:.2f} ({r['cpu_s_per_sim_s']:.2f}) | {r['rate_hz']:.1f} | "
            f"{r['peak_rss_mib'] / 1024:.2f} | "
            f"{r['stored_bytes_per_synapse']:.2f} | {r['all_in_bytes_per_synapse']:.2f} | "
            f"{r.get('marginal_bytes_per_synapse', float('nan')):.2f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", type=int, default=None, help="neuron counts")
    ap.add_argument("--start", type=int, default=200_000, help="first N when growing")
    ap.add_argument("--factor", type=float, default=1.5, help="growth of N per step")
    ap.add_argument("--max-gib", type=float, default=20.0, help="stop before this peak")
    ap.add_argument("--c-e", type=int, default=1000, help="excitatory in-degree (C_I = C_E/4)")
    ap.add_argument("--duration", type=float, default=0.1, help="timed biological s")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--baseline", action="store_true", help="also run without synapses")
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--no-synapses", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a)
        return 0
    rows = []
    sizes = list(a.sizes or [])
    n = a.start
    while True:
        if a.sizes is not None:
            if not sizes:
                break
            n = sizes.pop(0)
        elif rows:
            last = rows[-1]
            if "failed" in last:
                break
            n_next = int(last["n"] * a.factor)
            predicted = last["peak_rss_mib"] * n_next / last["n"] / 1024.0
            if predicted > a.max_gib:
                print(f"# stop: N = {n_next} would peak near {predicted:.1f} GiB", file=sys.stderr)
                break
            n = n_next
        print(f"# N = {n} ...", file=sys.stderr, flush=True)
        rows.append(measure(a, n))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(table(rows))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"args": vars(a), "results": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
