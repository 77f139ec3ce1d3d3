"""Network statistics from NEST and Brian2 for CUBA, COBA and Brunel 2000 model A
-> tests/reference/peer_network_stats.json.

    OMP_WAIT_POLICY=PASSIVE /work/peers-venv/bin/python tests/reference/make_peer_network_stats.py

Each run is a subprocess of benchmarks/peers/nest_net.py or benchmarks/peers/brian2_net.py
(the network definitions are the NETWORKS dict in nest_net.py and are copied into the JSON
under "definitions"), with --spikes-out to a temporary npz.  The interpreter is this one
(sys.executable) unless NEUROSIM_PEER_PYTHON is set.

Statistics, per population, over the WHOLE simulated window [0, T] (T = 1 s, dt = 0.1 ms,
no transient removed):
  rate_hz   = total spikes / (N * T)
  cv_isi    = mean over neurons with >= 3 spikes in the window of std(ISI)/mean(ISI)
              (numpy std, ddof=0)
  n_cv      = number of neurons entering the CV mean
A seed is flagged "silent": true when the whole network's rate in the last 200 ms
([T - 0.2 s, T]) is < 0.1 Hz.  Per network and simulator, "summary" holds mean and standard
error (std ddof=1 / sqrt(n)) over the non-silent seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
PEERS = REPO / "benchmarks" / "peers"
sys.path.insert(0, str(PEERS))
from nest_net import NETWORKS  # noqa: E402

SILENT_WINDOW_S = 0.2
SILENT_RATE_HZ = 0.1


def pop_stats(i, t, n, T):
    """i: neuron indices, t: spike times (ms), n: population size, T: window (s)."""
    rate = len(i) / (n * T)
    order = np.lexsort((t, i))
    i, t = i[order], t[order]
    cvs = []
    if len(i):
        bounds = np.flatnonzero(np.diff(i)) + 1
        for ts in np.split(t, bounds):
            if len(ts) >= 3:
                isi = np.diff(ts)
                cvs.append(np.std(isi) / np.mean(isi))
    return {
        "rate_hz": float(rate),
        "cv_isi": float(np.mean(cvs)) if cvs else None,
        "n_cv": len(cvs),
        "n_spikes": int(len(i)),
    }


def run_one(python, peer, network, seed, duration, threads, target, tmpdir):
    out = os.path.join(tmpdir, f"{peer}_{network}_{seed}.npz")
    script = PEERS / ("nest_net.py" if peer == "nest" else "brian2_net.py")
    cmd = [
        python,
        str(script),
        network,
        "--seed",
        str(seed),
        "--duration",
        str(duration),
        "--spikes-out",
        out,
    ]
    if peer == "nest":
        cmd += ["--threads", str(threads)]
    else:
        cmd += ["--target", target]
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{res.stderr[-3000:]}")
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1]
    info = json.loads(line)
    info["wall_s"] = round(wall, 3)
    z = np.load(out)
    T = float(z["duration_ms"]) / 1000.0
    pops = {}
    late_spikes, n_total = 0, 0
    for pop in ("E", "I"):
        i, t, n = z[f"{pop}_i"], z[f"{pop}_t"], int(z[f"N_{pop}"])
        pops[pop] = pop_stats(i, t, n, T)
        late_spikes += int(np.count_nonzero(t > (T - SILENT_WINDOW_S) * 1000.0))
        n_total += n
    late_rate = late_spikes / (n_total * SILENT_WINDOW_S)
    os.remove(out)
    return {
        "seed": seed,
        "silent": bool(late_rate < SILENT_RATE_HZ),
        "rate_last_200ms_hz": late_rate,
        "populations": pops,
        "run": info,
    }


def summarize(runs):
    ok = [r for r in runs if not r["silent"]]
    summ = {
        "n_seeds": len(runs),
        "n_non_silent": len(ok),
        "silent_seeds": [r["seed"] for r in runs if r["silent"]],
        "populations": {},
    }
    for pop in ("E", "I"):
        s = {}
        for key in ("rate_hz", "cv_isi"):
            vals = np.array(
                [r["populations"][pop][key] for r in ok if r["populations"][pop][key] is not None],
                dtype=float,
            )
            s[key] = {
                "mean": float(vals.mean()) if len(vals) else None,
                "sem": (float(vals.std(ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else None),
                "n": int(len(vals)),
            }
        summ["populations"][pop] = s
    return summ


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).with_name("peer_network_stats.json")))
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--networks", default="cuba,coba,brunel2000")
    ap.add_argument("--peers", default="nest,brian2")
    ap.add_argument("--duration", type=float, default=1.0)
    ap.add_argument("--nest-threads", type=int, default=2)
    ap.add_argument("--brian2-target", default="cython")
    a = ap.parse_args(argv)
    python = os.environ.get("NEUROSIM_PEER_PYTHON", sys.executable)
    seeds = [int(s) for s in a.seeds.split(",")]
    versions = {}
    for mod in ("nest", "brian2", "numpy"):
        r = subprocess.run(
            [
                python,
                "-c",
                f"import importlib.metadata as m; print(m.version("
                f"'{'nest-simulator' if mod == 'nest' else mod}'))",
            ],
            capture_output=True,
            text=True,
        )
        versions[mod] = r.stdout.strip()
    doc = {
        "generated_by": "tests/reference/make_peer_network_stats.py",
        "versions": versions,
        "dt_ms": 0.1,
        "duration_s": a.duration,
        "window": f"whole simulated window [0, {a.duration}] s, no transient removed",
        "stat_definitions": {
            "rate_hz": "total spikes / (N * T)",
            "cv_isi": "mean over neurons with >= 3 spikes in the window of std(ISI)/mean(ISI), "
            "numpy std ddof=0",
            "n_cv": "number of neurons entering the CV mean",
            "silent": f"whole-network rate in the last {SILENT_WINDOW_S * 1000:.0f} ms < "
            f"{SILENT_RATE_HZ} Hz",
            "summary": "mean and standard error (std ddof=1 / sqrt(n)) over non-silent seeds",
        },
        "simulators": {
            "nest": {
                "threads": a.nest_threads,
                "OMP_WAIT_POLICY": "PASSIVE",
                "seeding": "nest.rng_seed=seed (connectivity, Poisson); "
                "numpy default_rng(seed) "
                "for initial V_m/g",
                "script": "benchmarks/peers/nest_net.py",
            },
            "brian2": {
                "target": a.brian2_target,
                "seeding": "brian2.seed(seed); Brunel connectivity from numpy default_rng(seed)",
                "script": "benchmarks/peers/brian2_net.py",
            },
        },
        "seeds": seeds,
        "definitions": {k: NETWORKS[k] for k in a.networks.split(",")},
        "results": {},
    }
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for network in a.networks.split(","):
            doc["results"][network] = {}
            for peer in a.peers.split(","):
                runs = []
                for seed in seeds:
                    r = run_one(
                        python,
                        peer,
                        network,
                        seed,
                        a.duration,
                        a.nest_threads,
                        a.brian2_target,
                        tmp,
                    )
                    p = r["populations"]
                    pe, pi_, ru = p["E"], p["I"], r["run"]
                    print(
                        f"{network:10s} {peer:6s} seed {seed}: E {pe['rate_hz']:.3f} Hz "
                        f"cv {pe['cv_isi']} | I {pi_['rate_hz']:.3f} Hz cv {pi_['cv_isi']}"
                        f" silent={r['silent']} sim {ru['sim_s']} s wall {ru['wall_s']} s",
                        flush=True,
                    )
                    runs.append(r)
                doc["results"][network][peer] = {"runs": runs, "summary": summarize(runs)}
                Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")
    doc["total_wall_s"] = round(time.perf_counter() - t_all, 1)
    Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")
    print("wrote", a.out, "in", doc["total_wall_s"], "s")


if __name__ == "__main__":
    main()
