"""Soak: 10^6 ticks of cuba with recording; memory must stay flat.

    nice python benchmarks/soak.py [--ticks 1000000] [--checkpoint-every "10 s"]
                                   [--backend numba] [--out DIR] [--json FILE]

A child process runs networks/cuba.yaml (spikes of E and I, V_m of 10 neurons every
step, recorded to HDF5) for ``--ticks`` steps in ten equal ``Simulation.run`` segments
and prints, after each, its peak resident memory so far (``VmHWM`` of
``/proc/self/status``) and its resident memory now (``VmRSS``).  The issue's criterion
(issue 7, acceptance 4): the peak at 100 % of the run within 5 % of the peak at 10 %.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def vm():
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS", "VmHWM")):
                out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out


def child(a):
    sys.path.insert(0, ROOT)
    import neurosim

    out = os.path.join(a.out, "soak.h5")
    sim = neurosim.Simulation(
        os.path.join(ROOT, "networks", "cuba.yaml"),
        output=out,
        backend=a.backend,
        overwrite=True,
        checkpoint_every=a.checkpoint_every,
    )
    seg = a.ticks // 10
    t0 = time.perf_counter()
    rows = []
    for i in range(10):
        sim.run(seg * sim.dt)
        m = vm()
        rows.append(
            {
                "percent": 10 * (i + 1),
                "t_ms": sim.sim_time,
                "wall_s": time.perf_counter() - t0,
                "hwm": m["VmHWM"],
                "rss": m["VmRSS"],
            }
        )
    sim.close()
    with neurosim.open(out) as rec:
        spikes = sum(rec.n_spikes(p) for p in rec.spike_populations)
        shape = rec._f["report"]["E"]["V_m"]["data"].shape
    print(
        json.dumps(
            {"rows": rows, "spikes": spikes, "trace_shape": shape, "bytes": os.path.getsize(out)}
        )
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ticks", type=int, default=1_000_000)
    ap.add_argument("--checkpoint-every")
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--out", help="folder for the recording (default: a temporary one)")
    ap.add_argument("--json")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a)
    a.out = a.out or tempfile.mkdtemp(prefix="soak-")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--ticks", str(a.ticks)]
    cmd += ["--backend", a.backend, "--out", a.out]
    if a.checkpoint_every:
        cmd += ["--checkpoint-every", a.checkpoint_every]
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit(p.stderr[-3000:])
    res = json.loads(p.stdout.strip().splitlines()[-1])
    rows = res["rows"]
    every = f", checkpoint every {a.checkpoint_every}" if a.checkpoint_every else ""
    print(
        f"cuba, {a.ticks} ticks ({rows[-1]['t_ms'] / 1000:g} s simulated{every}), "
        f"{a.backend}: wall {rows[-1]['wall_s']:.1f} s; recording "
        f"{res['bytes'] / 2**20:.1f} MiB ({res['spikes']} spikes, V_m {res['trace_shape']})"
    )
    print("| point of the run | simulated (s) | wall (s) | peak RSS so far (MiB) | RSS (MiB) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['percent']} % | {r['t_ms'] / 1000:g} | {r['wall_s']:.1f} | "
            f"{r['hwm'] / 2**20:.1f} | {r['rss'] / 2**20:.1f} |"
        )
    ratio = rows[-1]["hwm"] / rows[0]["hwm"]
    verdict = "within" if ratio <= 1.05 else "over"
    print(f"peak at 100 % / peak at 10 %: {ratio:.4f} ({verdict} 5 %)")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
