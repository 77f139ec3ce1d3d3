"""The Potjans & Diesmann (2014) microcircuit in neurosim and in NEST, from one script.

    python benchmarks/microcircuit.py --scale 0.1                 # N = K = 0.1
    python benchmarks/microcircuit.py --N 1 --K 1 --nest-threads 4 --json mc_full.json
        [--seed 55] [--t-presim 500] [--t-sim 1000] [--poisson-as-dc]
        [--sides neurosim nest] [--peer-python PATH] [--backend numba] [--threads T]
    python benchmarks/microcircuit.py --N 1 --K 1 --sides neurosim --build-only

Each side runs as its own process, one after the other (so ``ru_maxrss`` is that side's
peak): neurosim on ``networks/microcircuit.yaml`` with ``--set scale.N=.. scale.K=..``
(this script re-run with ``--worker``), NEST with ``benchmarks/peers/nest_microcircuit.py``
in the peers venv (``NEUROSIM_PEERS_PYTHON``, default ``/work/peers-venv/bin/python``;
see ``tests/reference/README.md``), NEST with ``OMP_WAIT_POLICY=PASSIVE``.

Per side: build time (neurosim: reading the file + building every array + loading the
compiled kernels; NEST: Create + Connect + Prepare), the time of the transient
(``--t-presim``, default 500 ms) and of the measured window (``--t-sim``, default
1000 ms) and its real-time factor (wall time / biological time; the CPU time of the
window is printed too: on a shared machine it shows what the wall time hides), peak
RSS at the end of the build and at the end, the CPU time of the build and the load
average at the start and the end of the run, and, over the window after the transient,
the mean rate and the CV of ISI (mean over neurons with >= 3 spikes, ddof 0) of each population.
A small neurosim run first fills numba's disk cache (``--no-warmup`` to skip it), so that
the build time is not a compile time; ``build_arrays_s`` is the network build alone.  Then a
table with the ratios neurosim / NEST, and NEST's full-scale rates measured on this
machine (peers.md) for reference.

neurosim builds the network on ``--threads`` numba threads (default: all cores) and
simulates on one (its spiking numba backend is single-threaded); ``--build-only`` stops
after the build (no NEST side).  NEST runs on ``--nest-threads`` threads (default 2,
or 4 where 2 threads would pass NEST 3.10's limit of 134,217,726 connections per thread
and synapse model: full scale).
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NETWORK = os.path.join(HERE, "..", "networks", "microcircuit.yaml")
POPS = ["L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I"]
#: NEST 3.10, full scale, 4 threads on this machine, after a 0.5 s transient (peers.md)
NEST_FULL_RATES = [0.90, 2.97, 4.41, 5.88, 7.57, 8.63, 1.10, 7.83]
FULL_SYNAPSES = 298_880_968  # recurrent, helpers.num_synapses_from_conn_probs, rounded
NEST_MAX_PER_THREAD = 134_217_726


def _cpu_s():
    """CPU seconds of this process (all threads), user + system."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(a):
    """The neurosim side in this process; prints one JSON line."""
    import numba
    import numpy as np

    import neurosim
    from neurosim.analysis import cv_isi

    t_import = time.perf_counter() - _T0
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), _cpu_s()
    sets = [f"scale.N={a.N}", f"scale.K={a.K}", f"simulation.seed={a.seed}"]
    if a.poisson_as_dc:
        sets.append("scale.poisson_as_dc=true")
    if a.dtype != "float64":
        sets.append(f"simulation.dtype={a.dtype}")
    spec = neurosim.load(NETWORK, sets)
    spec.record_state = []
    spec.record_spikes = [p.name for p in spec.neuron_populations]
    sim = neurosim.Simulation(spec, output=None, backend=a.backend)
    sim.backend.run(0, 0)  # the compiled kernels loaded (numba: from its disk cache)
    t1, c1 = time.perf_counter(), _cpu_s()
    rss_build = _rss_mib()
    build = {
        "threads": numba.get_num_threads() if a.backend == "numba" else 1,
        "build_s": round(t1 - t0, 4),
        "build_cpu_s": round(c1 - c0, 4),
        "build_arrays_s": round(sim.build_time, 4),
        "n_neurons": int(sim.built.n_neurons),
        "n_synapses": int(sim.built.n_synapses),
        "peak_rss_build_mib": round(rss_build, 1),
    }
    if a.build_only:
        out = {"simulator": f"neurosim-{neurosim.__version__}-{a.backend}", "N": a.N, "K": a.K}
        out.update(build, seed=a.seed, loadavg=[round(load0, 2), round(os.getloadavg()[0], 2)])
        print(json.dumps(out), flush=True)
        return
    sim.run(a.t_presim)
    t2, c2 = time.perf_counter(), _cpu_s()
    sim.run(a.t_sim)
    t3, c3 = time.perf_counter(), _cpu_s()
    rates, cvs, spikes = {}, {}, 0
    for pop in POPS:
        t, ids = sim.spikes(pop)
        spikes += len(t)
        sel = t > a.t_presim
        n = spec.populations[pop].size
        rates[pop] = round(float(np.count_nonzero(sel)) / n / (a.t_sim * 1e-3), 4)
        cvs[pop] = round(cv_isi(t[sel], ids[sel])[0], 4)
    out = {
        "simulator": f"neurosim-{neurosim.__version__}-{a.backend}",
        "N": a.N,
        "K": a.K,
        "threads": build["threads"],
        "seed": a.seed,
        "poisson_as_dc": a.poisson_as_dc,
        "t_presim_ms": a.t_presim,
        "t_sim_ms": a.t_sim,
        "build_s": build["build_s"],
        "build_cpu_s": build["build_cpu_s"],
        "build_arrays_s": build["build_arrays_s"],
        "presim_s": round(t2 - t1, 4),
        "sim_s": round(t3 - t2, 4),
        "sim_cpu_s": round(c3 - c2, 4),
        "n_neurons": int(sim.built.n_neurons),
        "n_synapses": int(sim.built.n_synapses),
        "n_spikes": int(spikes),
        "rates": rates,
        "cv_isi": cvs,
        "dc_pA": [round(spec.scale.get("dc", {}).get(p, 0.0), 4) for p in POPS],
        "peak_rss_build_mib": build["peak_rss_build_mib"],
        "peak_rss_mib": round(_rss_mib(), 1),
        "loadavg": [round(load0, 2), round(os.getloadavg()[0], 2)],
        "import_s": round(t_import, 4),
        "total_s": round(time.perf_counter() - _T0, 4),
    }
    print(json.dumps(out), flush=True)


def _run(cmd, env):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    out = json.loads([x for x in p.stdout.splitlines() if x.startswith("{")][-1])
    out["wall_s"] = round(wall, 3)
    return out


def nest_threads(a):
    """2, or 4 where 2 threads would pass NEST's per-thread connection limit."""
    if a.nest_threads:
        return a.nest_threads
    n = FULL_SYNAPSES * a.N * a.K
    return 2 if n / 2 < 0.95 * NEST_MAX_PER_THREAD else 4


def _f(x, nd=2):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{nd}f}"


def _ratio(a, b):
    if (
        a is None
        or b is None
        or b == 0
        or any(isinstance(v, float) and math.isnan(v) for v in (a, b))
    ):
        return "-"
    return f"{a / b:.3f}"


def table(res, a):
    me, nest = res.get("neurosim"), res.get("nest")
    cols = [("neurosim", me), ("NEST", nest)]
    head = "| quantity | " + " | ".join(c for c, r in cols if r) + " | neurosim / NEST |"
    lines = [head, "|---" * (head.count("|") - 1) + "|"]

    def row(label, key, nd=2, fn=None):
        vals = [(fn(r) if fn else r.get(key)) if r else None for _, r in cols]
        shown = [_f(v, nd) for (_, r), v in zip(cols, vals, strict=True) if r]
        ratio = _ratio(vals[0], vals[1]) if me and nest else "-"
        lines.append(f"| {label} | " + " | ".join(shown) + f" | {ratio} |")

    row("threads", "threads", 0)
    row("neurons", "n_neurons", 0)
    row("recurrent synapses", "n_synapses", 0)
    row("build (s)", "build_s")
    row("  CPU time, all threads (s)", "build_cpu_s")
    row("  of which arrays (s)", "build_arrays_s")
    row(f"transient {a.t_presim:g} ms (s)", "presim_s")
    row(f"simulation {a.t_sim:g} ms (s)", "sim_s")
    row("  CPU time, all threads (s)", "sim_cpu_s")
    row("real-time factor", None, 3, lambda r: r["sim_s"] / (r["t_sim_ms"] * 1e-3))
    row("whole process (s)", "wall_s")
    row("peak RSS after build (MiB)", "peak_rss_build_mib", 0)
    row("peak RSS (MiB)", "peak_rss_mib", 0)
    row("peak RSS / synapse (B)", None, 1, lambda r: r["peak_rss_mib"] * 2**20 / r["n_synapses"])
    for p in POPS:
        row(f"rate {p} (Hz)", None, 3, lambda r, p=p: r["rates"][p])
    for p in POPS:
        row(f"CV ISI {p}", None, 3, lambda r, p=p: r["cv_isi"][p])
    out = "\n".join(lines)
    if a.N == 1 and a.K == 1 and not a.poisson_as_dc and me:
        out += "\n\n| population | neurosim (Hz) | NEST 3.10, peers.md (Hz) | ratio |"
        out += "\n|---|---|---|---|"
        for p, ref in zip(POPS, NEST_FULL_RATES, strict=True):
            out += f"\n| {p} | {me['rates'][p]:.3f} | {ref:.2f} | {me['rates'][p] / ref:.3f} |"
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=None, help="sets both N and K")
    ap.add_argument("--N", type=float, default=0.1, help="neuron-number scale (N_scaling)")
    ap.add_argument("--K", type=float, default=0.1, help="in-degree scale (K_scaling)")
    ap.add_argument("--seed", type=int, default=55)
    ap.add_argument("--t-presim", type=float, default=500.0, help="transient (ms)")
    ap.add_argument("--t-sim", type=float, default=1000.0, help="measured window (ms)")
    ap.add_argument("--poisson-as-dc", action="store_true", help="the DC-input variant")
    ap.add_argument("--sides", nargs="+", default=["neurosim", "nest"])
    ap.add_argument("--backend", default="numba")
    ap.add_argument(
        "--dtype", default="float64", choices=("float64", "float32"), help="neurosim's dtype"
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="numba threads of the neurosim side (NUMBA_NUM_THREADS; 0: numba's default, "
        "all cores); the network build uses them, the spiking simulation runs on one",
    )
    ap.add_argument(
        "--build-only",
        action="store_true",
        help="build and stop (no simulation, no NEST): build time, CPU time, memory",
    )
    ap.add_argument("--nest-threads", type=int, default=0, help="0: 2, or 4 at full scale")
    ap.add_argument(
        "--peer-python",
        default=os.environ.get("NEUROSIM_PEERS_PYTHON", "/work/peers-venv/bin/python"),
    )
    ap.add_argument("--json", default=None)
    ap.add_argument(
        "--no-warmup", action="store_true", help="no neurosim warm-up run (cold numba cache)"
    )
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.scale is not None:
        a.N = a.K = a.scale
    if a.worker:
        worker(a)
        return 0
    common = ["--N", repr(a.N), "--K", repr(a.K), "--seed", str(a.seed)]
    common += ["--t-presim", repr(a.t_presim), "--t-sim", repr(a.t_sim)]
    common += ["--poisson-as-dc"] if a.poisson_as_dc else []
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    res = {}
    if "neurosim" in a.sides:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--backend", a.backend]
        cmd += ["--dtype", a.dtype]
        menv = dict(env, NUMBA_NUM_THREADS=str(a.threads)) if a.threads else env
        if not a.no_warmup:  # compiles the kernels into numba's disk cache if needed
            print("# neurosim warm-up (N = K = 0.02, 20 ms) ...", file=sys.stderr, flush=True)
            warm = ["--N", "0.02", "--K", "0.02", "--t-presim", "10", "--t-sim", "10"]
            _run(cmd + warm, menv)
        if a.build_only:
            print("# neurosim, build only ...", file=sys.stderr, flush=True)
            res["neurosim"] = _run(cmd + common + ["--build-only"], menv)
            print(json.dumps(res["neurosim"], indent=1))
            if a.json:
                with open(a.json, "w") as fh:
                    json.dump({"args": vars(a), "results": res}, fh, indent=1)
            return 0
        print("# neurosim ...", file=sys.stderr, flush=True)
        res["neurosim"] = _run(cmd + common, menv)
    if "nest" in a.sides:
        if not os.path.exists(a.peer_python):
            print(f"# NEST skipped: no {a.peer_python}", file=sys.stderr)
        else:
            threads = nest_threads(a)
            print(f"# NEST, {threads} threads ...", file=sys.stderr, flush=True)
            script = os.path.join(HERE, "peers", "nest_microcircuit.py")
            cmd = [a.peer_python, script, "--threads", str(threads)]
            res["nest"] = _run(cmd + common, env)
    print(
        f"Potjans-Diesmann microcircuit, N = {a.N:g}, K = {a.K:g}, seed {a.seed}"
        + (", DC input" if a.poisson_as_dc else "")
    )
    print(table(res, a))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"args": vars(a), "results": res}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
