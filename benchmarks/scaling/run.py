"""Strong scaling, memory per rank and exchange volume; the inputs of SCALING.md.

    python benchmarks/scaling/run.py [--repeats 3] [--json benchmarks/results/scaling.json]

Runs, each under ``mpiexec -n R`` with one numba thread per rank (NUMBA_NUM_THREADS=1):

- brunel2000 (1 s) on 1 and 2 ranks, in turn, ``--repeats`` times each: simulation
  wall time (medians), speed-up and parallel efficiency T1 / (2 T2), also pair by pair;
- brunel2000 (200 ms) on 1, 2 and 4 ranks: peak RSS per rank;
- the Allgather + Allgatherv pair per exchange on 2 and 4 ranks for payloads of
  0 B - 512 KiB per rank (latency and bandwidth of the cost model);
- exchanges per second and bytes per exchange from the runs themselves.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def mpirun(n, *args):
    exe = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    env.setdefault("MPIR_CVAR_CH4_PROGRESS_THROTTLE", "1")
    p = subprocess.run(
        [exe, "-n", str(n), sys.executable, *args], capture_output=True, text=True, env=env
    )
    if p.returncode:
        raise RuntimeError(p.stderr[-2000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "results", "scaling.json"))
    args = ap.parse_args()
    net = os.path.join(ROOT, "networks", "brunel2000.yaml")
    worker = os.path.join(HERE, "worker.py")
    out = {"strong": {}, "memory": {}, "allgather": {}}
    # 1 and 2 ranks in turn, so that a drift in the machine's speed hits both alike
    runs_of = {1: [], 2: []}
    for _ in range(args.repeats):
        for n in (1, 2):
            runs_of[n].append(mpirun(n, worker, net, "--duration", "1 s"))
    for n in (1, 2):
        runs = runs_of[n]
        out["strong"][n] = {
            "sim_s": [r["sim_s"] for r in runs],
            "median_sim_s": statistics.median(r["sim_s"] for r in runs),
            "build_s": statistics.median(r["build_s"] for r in runs),
            "exchanges": runs[0]["exchanges"],
            "spikes_exchanged": runs[0]["spikes_exchanged"],
            "rates": runs[0]["rates"],
        }
        print(n, "ranks:", out["strong"][n], flush=True)
    t1, t2 = out["strong"][1]["median_sim_s"], out["strong"][2]["median_sim_s"]
    out["speedup_2"] = t1 / t2
    out["efficiency_2"] = t1 / (2 * t2)
    pairs = [
        a / (2 * b)
        for a, b in zip(out["strong"][1]["sim_s"], out["strong"][2]["sim_s"], strict=True)
    ]
    out["efficiency_2_pairs"] = pairs
    out["efficiency_2_pairs_median"] = statistics.median(pairs)
    for n in (1, 2, 4):
        r = mpirun(n, worker, net, "--duration", "200 ms")
        out["memory"][n] = {
            "rss_mib": [x["rss_mib"] for x in r["per_rank"]],
            "synapses": [x["synapses"] for x in r["per_rank"]],
            "neurons": [x["neurons"] for x in r["per_rank"]],
            "sources": [x["sources"] for x in r["per_rank"]],
        }
        print(n, "ranks memory:", out["memory"][n], flush=True)
    for n in (2, 4):
        out["allgather"][n] = mpirun(n, os.path.join(HERE, "allgather_bench.py"))[
            "seconds_by_bytes_per_rank"
        ]
        print(n, "ranks allgather:", out["allgather"][n], flush=True)
    # the cost of one exchange interval with almost no work: 250 neurons on 2 ranks
    tiny = ["populations.E.size=200", "populations.I.size=50"]
    tiny += ["projections.0.rule.fixed_indegree.k=8", "projections.1.rule.fixed_indegree.k=2"]
    sets = [x for t in tiny + ["record.state=[]"] for x in ("--set", t)]
    r = [mpirun(2, worker, net, "--duration", "5 s", *sets) for _ in range(3)]
    out["epoch_s"] = statistics.median(x["sim_s"] / x["exchanges"] for x in r)
    print(f"one exchange interval (tiny network, 2 ranks): {out['epoch_s'] * 1e6:.0f} us")
    # the microcircuit's cost on one rank, split into per-neuron and per-synapse parts
    micro = os.path.join(ROOT, "networks", "microcircuit.yaml")
    out["micro"] = {}
    for K in ("0.1", "1"):
        sets = ["--set", "scale.N=0.1", "--set", f"scale.K={K}", "--set", "record.state=[]"]
        r = mpirun(1, worker, micro, "--duration", "1 s", "--warmup", "100 ms", *sets)
        out["micro"][K] = {"sim_s": r["sim_s"], "synapses": r["per_rank"][0]["synapses"]}
        print(f"microcircuit N=0.1 K={K}: {r['sim_s']:.2f} s per simulated second", flush=True)
    print(f"speed-up {out['speedup_2']:.2f}, parallel efficiency {out['efficiency_2']:.1%}")
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
