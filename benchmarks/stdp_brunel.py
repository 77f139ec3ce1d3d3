"""Brunel 2000 model A with STDP on E->E: neurosim (numba) against NEST 3.x.

The network is ``NETWORK`` of benchmarks/peers/nest_stdp.py (10,000 E + 2,500 I
iaf_psc_delta neurons at ``--scale 1``, in-degrees 1000 / 250, J = 0.1 mV, g = 5,
D = 1.5 ms, 20 kHz Poisson input; E->E by ``stdp_synapse`` with NEST's default
parameters and Wmax = 2 J).  One side, one JSON line::

    python benchmarks/stdp_brunel.py side [--scale 1] [--duration 1] [--seed 1] [--no-plastic]

Both sides, each run in its own process, alternately (neurosim, NEST, neurosim, ...),
``--repeats`` times, then once each without the E->E projection (for the bytes per
plastic synapse), a markdown table on stdout::

    python benchmarks/stdp_brunel.py compare --scale 0.25 --duration 1 --repeats 3 \
        [--peer-python /work/peers-venv/bin/python] [--nest-model stdp_synapse] [--json out.json]

neurosim's ``sim_s`` is ``Simulation.run`` over the duration, spikes of E and I
recorded to HDF5 and the final weights of all E->E synapses written at its end (NEST's
run records the spikes and writes no weights); ``build_s`` reading nothing (the spec
is made here), building and preparing the backend.  ``peak_rss_mib``: ru_maxrss.
Bytes per plastic synapse: the difference of the peaks with and without the E->E
projection over its synapses (the network without it is silent for lack of recurrent
excitation, which changes its run but not its arrays), and ours as stored (14 bytes).
The E->E weights' mean and standard deviation are those of a sample (every synapse
onto 20 targets in NEST, 200,000 synapses here): the two runs draw different
connectivity and input, so they agree in statistics, not synapse by synapse.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "peers"))
from nest_stdp import NETWORK, sizes  # noqa: E402


def network_doc(scale, duration_s, seed, plastic=True):
    """The network as a neurosim document (the same definition as the NEST side)."""
    d = NETWORK
    ne, ni, ce, ci = sizes(scale)
    J, D = d["J_mV"], d["D_ms"]
    lif = dict(d["neuron"])
    init = {"V_m": {"uniform": list(d["V0_mV"])}}
    projections = [
        {"pre": "E", "post": "I", "rule": {"fixed_indegree": {"k": ce}}, "weight": J, "delay": D},
        {
            "pre": "I",
            "post": ["E", "I"],
            "rule": {"fixed_indegree": {"k": ci}},
            "weight": -d["g"] * J,
            "delay": D,
        },
        {"pre": "ext", "post": ["E", "I"], "rule": "all_to_all", "weight": J, "delay": D},
    ]
    if plastic:
        projections.insert(
            0,
            {
                "pre": "E",
                "post": "E",
                "rule": {"fixed_indegree": {"k": ce}},
                "weight": J,
                "delay": D,
                "synapse": {"model": "stdp_synapse", "params": dict(d["stdp"])},
            },
        )
    return {
        "name": "brunel_stdp",
        "simulation": {"dt": d["dt_ms"], "duration": duration_s * 1000.0, "seed": seed},
        "populations": {
            "E": {"size": ne, "model": "iaf_psc_delta", "params": lif, "initial": init},
            "I": {"size": ni, "model": "iaf_psc_delta", "params": lif, "initial": init},
            "ext": {"size": 1, "model": "poisson_generator", "params": {"rate": d["ext_rate_Hz"]}},
        },
        "projections": projections,
        "record": {"spikes": ["E", "I"]},
    }


def side(a):
    import numpy as np

    import neurosim
    from neurosim.network.spec import build_spec

    t0 = time.perf_counter()
    doc = network_doc(a.scale, a.duration, a.seed, plastic=not a.no_plastic)
    spec = build_spec(doc, path=os.path.join(HERE, "stdp_brunel.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        sim = neurosim.Simulation(spec, output=os.path.join(tmp, "o.h5"), backend=a.backend)
        sim.backend.run(0, 0)  # kernels loaded (numba: from the disk cache)
        build_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        sim.run(a.duration * 1000.0)
        sim_s = time.perf_counter() - t1
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        n_plastic, w = 0, np.zeros(0)
        stored = None
        if not a.no_plastic:
            p = sim.built.plastic[0]
            n_plastic = p.n_synapses
            stored = (p.target.nbytes + p.delay.nbytes + p.weight.nbytes) / n_plastic
            # a sample (reading every weight back would raise the peak by 24 B/synapse)
            w = np.array(p.weight[:: max(1, n_plastic // 200_000)])
    out = {
        "simulator": f"neurosim-{neurosim.__version__}-{a.backend}",
        "scale": a.scale,
        "duration": a.duration,
        "seed": a.seed,
        "build_s": round(build_s, 4),
        "sim_s": round(sim_s, 4),
        "n_plastic": n_plastic,
        "n_synapses": int(sim.built.n_synapses),
        "rates": {k: round(v["rate_hz"], 4) for k, v in sim.summary().items()},
        "w_mean": float(w.mean()) if len(w) else None,
        "w_std": float(w.std()) if len(w) else None,
        "stored_bytes_per_plastic": stored,
        "peak_rss_mib": round(rss, 1),
        "total_s": round(time.perf_counter() - _T0, 4),
        "no_plastic": a.no_plastic,
    }
    print(json.dumps(out), flush=True)


def _run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def compare(a):
    common = ["--scale", str(a.scale), "--duration", str(a.duration), "--seed", str(a.seed)]
    ours = [sys.executable, os.path.abspath(__file__), "side", *common]
    nest = [a.peer_python, os.path.join(HERE, "peers", "nest_stdp.py"), *common]
    nest += ["--model", a.nest_model, "--threads", str(a.nest_threads)]
    runs = {"neurosim": [], "nest": []}
    for _ in range(a.repeats):
        runs["neurosim"].append(_run(ours))
        runs["nest"].append(_run(nest))
    base = {"neurosim": _run([*ours, "--no-plastic"]), "nest": _run([*nest, "--no-plastic"])}
    rows = []
    for name, rs in runs.items():
        sim = statistics.median(r["sim_s"] for r in rs)
        build = statistics.median(r["build_s"] for r in rs)
        peak = statistics.median(r["peak_rss_mib"] for r in rs)
        n = rs[0]["n_plastic"]
        per = (peak - base[name]["peak_rss_mib"]) * 2**20 / n
        rows.append(
            {
                "side": name,
                "sim_s": sim,
                "sim_s_all": [r["sim_s"] for r in rs],
                "build_s": build,
                "s_per_sim_s": sim / a.duration,
                "peak_rss_mib": peak,
                "bytes_per_plastic": per,
                "stored": rs[0].get("stored_bytes_per_plastic"),
                "n_plastic": n,
                "rates": rs[0]["rates"],
                "w_mean": rs[0]["w_mean"],
                "w_std": rs[0]["w_std"],
            }
        )
    ratios = [o["sim_s"] / p["sim_s"] for o, p in zip(runs["neurosim"], runs["nest"], strict=True)]
    print(
        f"scale {a.scale} ({rows[0]['n_plastic']} plastic synapses), {a.duration} s simulated, "
        f"{a.repeats} runs each; NEST {a.nest_model}, {a.nest_threads} thread(s)\n"
    )
    print(
        "| simulator | s per simulated s (median) | build (s) | peak RSS (MiB) | "
        "bytes / plastic synapse | rates E / I (Hz) | E->E weight mean / std (mV) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        stored = f" ({r['stored']:.0f} stored)" if r["stored"] else ""
        print(
            f"| {r['side']} | {r['s_per_sim_s']:.3f} | {r['build_s']:.2f} | "
            f"{r['peak_rss_mib']:.0f} | {r['bytes_per_plastic']:.1f}{stored} | "
            f"{r['rates']['E']:.2f} / {r['rates']['I']:.2f} | "
            f"{r['w_mean']:.5f} / {r['w_std']:.5f} |"
        )
    print(
        f"\nneurosim / NEST simulation time, pair by pair: {[round(x, 3) for x in ratios]}, "
        f"median {statistics.median(ratios):.3f}"
    )
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "ratios": ratios, "runs": runs, "base": base}, f, indent=1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("side", "compare"))
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=1.0, help="seconds of biological time")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--no-plastic", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--peer-python",
        default=os.environ.get("NEUROSIM_PEER_PYTHON", "/work/peers-venv/bin/python"),
    )
    ap.add_argument("--nest-model", default="stdp_synapse")
    ap.add_argument("--nest-threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    side(a) if a.what == "side" else compare(a)


if __name__ == "__main__":
    main()
