"""neurosim's CfC cells against ncps's CfC (PyTorch) per step, one thread each, same models.

One command (main venv, from the repository root; ~3-5 min on 2 cores):

    python benchmarks/cfc_vs_ncps.py
    python benchmarks/cfc_vs_ncps.py --networks ncp19 cfc64 --steps 200   # quicker

Options: ``--ncps-python /work/ncps-venv/bin/python`` (torch CPU + ncps 1.0.1, see
tests/reference/README_ncps.md; or NEUROSIM_NCPS_PYTHON), ``--steps S``, ``--repeats``,
``--out-dir benchmarks/results``.  Writes ``<out-dir>/cfc_vs_ncps.md`` (also printed)
and ``cfc_vs_ncps.json``.

What is compared (batch 1, one step = one tick of 1 ms = one ncps time unit, the same
S steps and the same inputs on both sides):

* ncps: ``ncps.torch.CfC`` built here with ``torch.manual_seed`` (the model's own
  initialisation), float64 and float32 (ncps's default dtype); the time of one
  ``CfC.forward`` over the S-step sequence (``return_sequences=False``) divided by S,
  warm, best of ``--repeats``, ``torch.inference_mode``, ``torch.set_num_threads(1)``.
  This script runs itself in the ncps venv for that (``--peer``), which also writes
  the model's ``state_dict()`` (``.pt`` and ``.npz``), the inputs and ncps's float64
  state after the S steps.
* neurosim: the same state dict converted by ``neurosim.convert.ncps`` (a
  ``time_series`` population driving a ``cfc`` population), numba backend,
  NUMBA_NUM_THREADS=1, float64 (default) and ``dtype: float32``; the time of one
  ``Simulation.run`` over S ticks (nothing recorded) divided by S, warm, best of
  ``--repeats``.  Parity: max |h_neurosim - h_ncps| after the S steps from h = 0,
  against ncps in float64.

Models: ``ncp19`` (``CfC(5, AutoNCP(19, 4))``: ncps's wired CfC, three layers inter /
command / motor, the model of the LTC table's "ncps wired CfC" column), ``ncp256`` and
``ncp1000`` (``CfC(8, AutoNCP(256, 8))``, ``CfC(8, AutoNCP(1000, 16))``), ``cfc64``
(``CfC(8, 64)``: ncps's default backbone, one layer of 128 lecun_tanh units) and
``cfc64_mixed`` (the same with ``mixed_memory=True``).  Mode ``default`` throughout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NCPS_PYTHON = os.environ.get("NEUROSIM_NCPS_PYTHON", "/work/ncps-venv/bin/python")

#: name -> (inputs K, ncps CfC constructor arguments); seeds: model 1, inputs 2.
NETWORKS = {
    "ncp19": (5, {"wiring": [19, 4]}),
    "ncp256": (8, {"wiring": [256, 8]}),
    "ncp1000": (8, {"wiring": [1000, 16]}),
    "cfc64": (8, {"units": 64}),
    "cfc64_mixed": (8, {"units": 64, "mixed_memory": True}),
}


# --------------------------------------------------------------------------------------
# ncps side (runs in the ncps venv: torch, ncps, numpy only)
# --------------------------------------------------------------------------------------
def peer(a):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    import numpy as np
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.set_default_dtype(torch.float64)
    from ncps.torch import CfC
    from ncps.wirings import AutoNCP

    K, kw = NETWORKS[a.network]
    torch.manual_seed(1)
    if "wiring" in kw:
        units = AutoNCP(*kw["wiring"])
    else:
        units = kw["units"]
    model = CfC(
        K,
        units,
        mode="default",
        return_sequences=False,
        mixed_memory=kw.get("mixed_memory", False),
    )
    model.eval()
    S = a.steps
    x = np.random.default_rng(2).normal(size=(S, K))
    sd = model.state_dict()
    base = os.path.join(a.work, a.network)
    torch.save(sd, base + ".pt")
    np.savez(base + "_model.npz", **{k: v.double().numpy() for k, v in sd.items()})
    np.savez(base + "_seq.npz", inputs=x)
    out = {"network": a.network, "K": K, "steps": S, "ncps_kwargs": kw}
    out["state_size"] = int(model.state_size)
    out["layers"] = int(units.num_layers) if "wiring" in kw else 1
    with torch.inference_mode():
        _y, hx = model(torch.from_numpy(x[None]))
        h = hx[0] if isinstance(hx, tuple) else hx
        np.savez(base + "_h.npz", h=h[0].double().numpy())
        for dt in ("float64", "float32"):
            dtype = getattr(torch, dt)
            torch.set_default_dtype(dtype)  # ncps creates h0 (zeros) in the default dtype
            m = CfC(
                K,
                AutoNCP(*kw["wiring"]) if "wiring" in kw else kw["units"],
                mode="default",
                return_sequences=False,
                mixed_memory=kw.get("mixed_memory", False),
            )
            m.load_state_dict(sd)
            m = m.to(dtype).eval()
            xs = torch.from_numpy(x[None]).to(dtype)
            m(xs[:, :5])  # warm-up
            best = best_cpu = float("inf")
            for _ in range(a.repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                m(xs)
                best = min(best, time.perf_counter() - t0)
                best_cpu = min(best_cpu, time.process_time() - c0)
            out[dt] = {"ms_per_step": best / S * 1e3, "cpu_ms_per_step": best_cpu / S * 1e3}
    out["torch"] = torch.__version__
    out["torch_threads"] = torch.get_num_threads()
    print(json.dumps(out))


# --------------------------------------------------------------------------------------
# neurosim side
# --------------------------------------------------------------------------------------
def run_peer(py, name, work, steps, repeats):
    cmd = [py, os.path.abspath(__file__), "--peer", "--network", name, "--work", work]
    cmd += ["--steps", str(steps), "--repeats", str(repeats)]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    return json.loads([x for x in p.stdout.splitlines() if x.startswith("{")][-1])


def neurosim_side(name, work, steps, repeats):
    import numpy as np
    import yaml

    import neurosim
    from neurosim.convert import ncps as convert

    base = os.path.join(work, name)
    net = base + ".yaml"
    convert(base + "_model.npz", net, base + "_seq.npz", mode="default")
    doc = yaml.safe_load(open(net))
    doc["record"] = {"state": []}
    with open(net, "w") as fh:
        yaml.safe_dump(doc, fh)
    h_ncps = np.load(base + "_h.npz")["h"]
    out = {}
    for dt in ("float64", "float32"):
        spec = neurosim.load(net, [f"populations.cfc.params.dtype={dt}"])
        sim = neurosim.Simulation(spec, backend="numba")
        sim.run(float(steps))
        lay = sim.built.layouts["cfc"]
        h = sim.backend.V[lay.n0 : lay.n0 + lay.size]
        parity = float(np.max(np.abs(h - h_ncps)))
        best = best_cpu = float("inf")
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            sim.run(float(steps))
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        out[dt] = {
            "ms_per_step": best / steps * 1e3,
            "cpu_ms_per_step": best_cpu / steps * 1e3,
            "parity_max_abs_diff": parity,
        }
    cell = spec.populations["cfc"].params["cell"]
    out["n_weights"] = int(
        sum(W.size + b.size for layer in cell.layers for W, b in layer.backbone)
        + sum(W.size + b.size for layer in cell.layers for W, b in layer.heads.values())
        + (sum(a.size for a in cell.lstm) if cell.lstm is not None else 0)
    )
    return out


def _f(x):
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def markdown(res, meta):
    L = [
        "# neurosim CfC vs ncps CfC (PyTorch): time per step, one thread each",
        "",
        f"`{meta['command']}` — {meta['date']}, {meta['machine']}; numba {meta['numba']} "
        f"(NUMBA_NUM_THREADS=1), torch {meta['torch']} (1 thread), ncps 1.0.1.",
        "",
        f"Batch 1, {meta['steps']} steps of 1 ms (= one ncps time unit) on both sides, the "
        "same model (ncps's state dict converted by `neurosim convert ncps`) and inputs; "
        f"ms per step, warm, best of {meta['repeats']}: ncps = one `CfC.forward` over the "
        "sequence / steps; neurosim = one `Simulation.run` over the same steps / steps "
        "(numba, nothing recorded).  Ratio = ncps / neurosim (> 1: neurosim faster).  "
        "Parity: max |h_neurosim - h_ncps f64| after all steps from h = 0.",
        "",
        f"Load average (1 min) at start / end: {meta['loadavg'][0]:.2f} / "
        f"{meta['loadavg'][1]:.2f} on {meta['cores']} cores"
        + (
            " (the machine was shared: wall times are noisy; CPU times below)."
            if max(meta["loadavg"]) > 0.5 * meta["cores"]
            else "."
        ),
        "",
        "| model | units | layers | weights | ncps f32 | ncps f64 | neurosim f64 | neurosim f32 "
        "| ncps f32 / neurosim f64 | ncps f64 / neurosim f64 | parity f64 (f32) |",
        "| --- |" + " ---: |" * 10,
    ]
    for name, r in res.items():
        c, n = r["ncps"], r["neurosim"]
        L.append(
            f"| {name} | {c['state_size']} | {c['layers']} | {n['n_weights']:,} | "
            f"{_f(c['float32']['ms_per_step'])} | {_f(c['float64']['ms_per_step'])} | "
            f"{_f(n['float64']['ms_per_step'])} | {_f(n['float32']['ms_per_step'])} | "
            f"{c['float32']['ms_per_step'] / n['float64']['ms_per_step']:.1f} | "
            f"{c['float64']['ms_per_step'] / n['float64']['ms_per_step']:.1f} | "
            f"{n['float64']['parity_max_abs_diff']:.0e} "
            f"({n['float32']['parity_max_abs_diff']:.0e}) |"
        )
    L += [
        "",
        "CPU time per step (time.process_time), same runs:",
        "",
        "| model | ncps f32 | ncps f64 | neurosim f64 | neurosim f32 | ncps f32 / neurosim f64 |",
        "| --- |" + " ---: |" * 5,
    ]
    for name, r in res.items():
        c, n = r["ncps"], r["neurosim"]
        L.append(
            f"| {name} | {_f(c['float32']['cpu_ms_per_step'])} | "
            f"{_f(c['float64']['cpu_ms_per_step'])} | {_f(n['float64']['cpu_ms_per_step'])} | "
            f"{_f(n['float32']['cpu_ms_per_step'])} | "
            f"{c['float32']['cpu_ms_per_step'] / n['float64']['cpu_ms_per_step']:.1f} |"
        )
    L += ["", f"Total run time {meta['total_s']:.0f} s."]
    return "\n".join(L) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ncps-python", default=NCPS_PYTHON)
    ap.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--network", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.peer:
        return peer(a)
    os.environ["NUMBA_NUM_THREADS"] = "1"  # before numba is imported
    sys.path.insert(0, ROOT)
    import numba

    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]
    res = {}
    with tempfile.TemporaryDirectory() as work:
        for name in a.networks:
            t0 = time.perf_counter()
            c = run_peer(a.ncps_python, name, work, a.steps, a.repeats)
            n = neurosim_side(name, work, a.steps, a.repeats)
            res[name] = {"ncps": c, "neurosim": n}
            print(
                f"[{name}] ncps f32 {c['float32']['ms_per_step']:.4f} / f64 "
                f"{c['float64']['ms_per_step']:.4f} ms/step; neurosim f64 "
                f"{n['float64']['ms_per_step']:.4f} / f32 {n['float32']['ms_per_step']:.4f} "
                f"ms/step; parity {n['float64']['parity_max_abs_diff']:.1e} "
                f"({n['float32']['parity_max_abs_diff']:.1e})  ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
    meta = {
        "command": "python benchmarks/cfc_vs_ncps.py " + " ".join(argv or sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "cores": os.cpu_count(),
        "numba": numba.__version__,
        "torch": next(iter(res.values()))["ncps"]["torch"] if res else "?",
        "steps": a.steps,
        "repeats": a.repeats,
        "loadavg": [load0, os.getloadavg()[0]],
        "total_s": time.perf_counter() - t_start,
    }
    md = markdown(res, meta)
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "cfc_vs_ncps.md"), "w") as fh:
        fh.write(md)
    with open(os.path.join(a.out_dir, "cfc_vs_ncps.json"), "w") as fh:
        json.dump({"meta": meta, "results": res}, fh, indent=1)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
