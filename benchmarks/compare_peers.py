"""neurosim against NEST and Brian2 on the shipped networks, from one script.

    python benchmarks/compare_peers.py [--networks cuba coba brunel2000] [--repeats 3]
        [--peer-python /path/to/peers-venv/bin/python] [--json results.json]
        [--sides neurosim "Brian2 cpp"]

Every side runs as its own process (one process tree, one machine, one after another),
recording the spikes of every population.  For each side and network: build time,
simulation time, whole-process wall time (warm caches; neurosim's cold start with an
empty numba cache is reported separately), peak RSS, and bytes per synapse
((peak RSS - peak RSS of the same run without recurrent synapses) / synapses).
Repeats go round the sides in turn; medians over the repeats; ratios are neurosim /
peer, for float64 (the default) and for ``simulation.dtype: float32``.  neurosim's
simulation time includes writing its spikes to HDF5; its tick loop alone (``loop_s``,
the time in the backend's steps) is the like-for-like counterpart of Brian2
cpp_standalone's figure, the binary's own measure of its run loop, which leaves out
writing the results: the table gives both ratios against that side.

The peers live in a venv of their own (Brian2 2.9 needs numpy < 2.4):
    python3 -m venv /work/peers-venv
    /work/peers-venv/bin/pip install nest-simulator brian2 "numpy<2.4" scipy
NEST runs with OMP_WAIT_POLICY=PASSIVE (busy-waiting barriers on 2 cores are ruinous).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _run(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    line = [x for x in p.stdout.splitlines() if x.startswith("{")][-1]
    out = json.loads(line)
    out["wall_s"] = wall
    return out


def sides(peer_python):
    me = [sys.executable, os.path.join(HERE, "neurosim_net.py")]
    nest = [peer_python, os.path.join(HERE, "peers", "nest_net.py")]
    brian = [peer_python, os.path.join(HERE, "peers", "brian2_net.py")]
    out = {
        "neurosim (numba, 1 core)": (me, []),
        "neurosim float32 (numba, 1 core)": (me, ["--dtype", "float32"]),
    }
    if peer_python and os.path.exists(peer_python):
        out.update(
            {
                "NEST 1 thread": (nest, ["--threads", "1"]),
                "NEST 2 threads": (nest, ["--threads", "2"]),
                "Brian2 cpp_standalone": (brian, ["--target", "cpp_standalone"]),
                "Brian2 Cython": (brian, ["--target", "cython"]),
                EXP_EULER: (brian, ["--target", "cpp_standalone", "--method", "exponential_euler"]),
            }
        )
    return out


# coba's definition integrates by forward Euler; with exponential Euler Brian2 solves the
# membrane exactly for the step's conductances (one exp per neuron and step), the same
# class of update as neurosim's closed form.  Shown for information, on coba only (the
# other networks are integrated exactly on every side).
EXP_EULER = "Brian2 cpp_standalone exponential_euler"
ONLY = {EXP_EULER: ("coba",)}


def measure(cmd, extra, net, repeats, env, runs=None):
    runs = runs or [_run(cmd + [net] + extra, env) for _ in range(repeats)]
    nos = _run(cmd + [net, "--no-synapses"] + extra, env)
    med = {
        k: statistics.median(r[k] for r in runs)
        for k in ("build_s", "sim_s", "wall_s", "peak_rss_mib")
    }
    if all("loop_s" in r for r in runs):
        med["loop_s"] = statistics.median(r["loop_s"] for r in runs)
    med["rates"] = runs[0]["rates"]
    med["n_synapses"] = runs[0]["n_synapses"]
    med["rss_no_syn_mib"] = nos["peak_rss_mib"]
    med["bytes_per_synapse"] = (
        (med["peak_rss_mib"] - nos["peak_rss_mib"]) * 2**20 / max(1, med["n_synapses"])
    )
    med["all"] = runs
    return med


def cold_start(net):
    """neurosim's whole-process time with an empty numba cache (compilation included)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=tempfile.mkdtemp())
    return _run([sys.executable, os.path.join(HERE, "neurosim_net.py"), net], env)["wall_s"]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--networks", nargs="+", default=["cuba", "coba", "brunel2000"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--peer-python",
        default=os.environ.get("NEUROSIM_PEER_PYTHON", "/work/peers-venv/bin/python"),
    )
    ap.add_argument("--json", default=None)
    ap.add_argument(
        "--sides",
        nargs="+",
        default=None,
        help="only the sides whose names start with one of these (e.g. neurosim 'Brian2 cpp')",
    )
    a = ap.parse_args(argv)
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    results = {}
    chosen = {
        name: side
        for name, side in sides(a.peer_python).items()
        if not a.sides or any(name.startswith(x) for x in a.sides)
    }
    for net in a.networks:
        results[net] = {}
        # repeat by repeat, every side in turn: a machine that slows down for a while
        # slows every side, and the ratios of the medians stay fair
        here = {n: side for n, side in chosen.items() if net in ONLY.get(n, (net,))}
        runs = {name: [] for name in here}
        for rep in range(a.repeats):
            for name, (cmd, extra) in here.items():
                print(f"# {net}: {name} ({rep + 1}/{a.repeats})", file=sys.stderr, flush=True)
                runs[name].append(_run(cmd + [net] + extra, env))
        for name, (cmd, extra) in here.items():
            results[net][name] = measure(cmd, extra, net, a.repeats, env, runs[name])
        if "neurosim (numba, 1 core)" in chosen:
            results[net]["neurosim cold start wall_s"] = cold_start(net)
    print(table(results))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


def table(results):
    lines = [
        "| network | simulator | build (s) | simulation (s) | whole process (s) | peak RSS "
        "(MiB) | bytes/synapse | rates (Hz) | sim time ratio neurosim/this "
        "| float32 neurosim/this | tick loop (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for net, res in results.items():
        mine = res.get("neurosim (numba, 1 core)", {}).get("sim_s")
        mine32 = res.get("neurosim float32 (numba, 1 core)", {}).get("sim_s")
        loop = res.get("neurosim (numba, 1 core)", {}).get("loop_s")
        loop32 = res.get("neurosim float32 (numba, 1 core)", {}).get("loop_s")
        for name, r in res.items():
            if not isinstance(r, dict):
                continue
            rates = " / ".join(f"{v:.2f}" for v in r["rates"].values())
            peer = not name.startswith("neurosim")
            ratio = f"{mine / r['sim_s']:.3f}" if peer and mine else ""
            ratio32 = f"{mine32 / r['sim_s']:.3f}" if peer and mine32 else ""
            if name.startswith("Brian2 cpp") and loop and loop32:
                # its sim_s is its run loop alone: the tick-loop ratios beside ours
                ratio += f" (loop {loop / r['sim_s']:.3f})"
                ratio32 += f" (loop {loop32 / r['sim_s']:.3f})"
            tick = f"{r['loop_s']:.3f}" if "loop_s" in r else ""
            lines.append(
                f"| {net} | {name} | {r['build_s']:.2f} | {r['sim_s']:.3f} | "
                f"{r['wall_s']:.2f} | {r['peak_rss_mib']:.0f} | "
                f"{r['bytes_per_synapse']:.1f} | {rates} | {ratio} | {ratio32} | {tick} |"
            )
        if "neurosim cold start wall_s" in res:
            lines.append(
                f"| {net} | neurosim cold start (empty numba cache) | | | "
                f"{res['neurosim cold start wall_s']:.2f} | | | | | | |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
