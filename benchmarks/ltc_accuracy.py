"""Cost and accuracy of neurosim's LTC integrators against the adaptive reference.

One command (main venv, from the repository root; ~4-6 min on 2 cores):

    python benchmarks/ltc_accuracy.py
    python benchmarks/ltc_accuracy.py --quick        # smoke test, ~1 min

Options: ``--networks ncp19 celegans rand1000``, ``--methods ...``, ``--substeps 1 2 4 8
16 32``, ``--threads 1`` (NUMBA_NUM_THREADS for the timed runs), ``--clock wall|cpu``
(which time the table and plot show; the JSON has both), ``--out-dir
benchmarks/results``, ``--keep-nets DIR`` (keep the generated network files).

Writes ``<out-dir>/ltc_accuracy.md`` (table, also printed), ``ltc_accuracy.json`` (raw
numbers) and ``ltc_accuracy.png`` (error against time per tick, one panel per network).

For every network, integrator (closed_form, exp_midpoint, euler, rk4, ltc_fused) and
substeps/unfolds in {1, 2, 4, 8, 16, 32}:

* the reference is neurosim's ``adaptive`` integrator (scipy DOP853 per tick, rtol 1e-10,
  atol 1e-12, numpy backend) on the same network, same inputs (piecewise constant per
  tick, as every integrator sees them), same initial state;
* ``err_end`` = max |v - v_ref| over neurons after the last tick, ``err_max`` = the same
  maximum over every tick of the run;
* ``us/tick`` = wall time of ``Simulation.run`` per tick on the numba backend, warm
  (kernels compiled/loaded, one tick run first), best of 5 timed runs of >= 0.2 s each,
  nothing recorded (the CPU time, ``time.process_time``, is kept as well: on a machine
  shared with other processes it is the steadier number);
* a run *diverges* when v becomes NaN/inf or |v| > 1e3 (the closed forms are bounded
  by construction: v stays in the convex hull of v_leak, the E_rev and the initial v).

Networks (dt = 1 ms unless noted):

* ``ncp19``: ncps ``LTC(5, AutoNCP(19, 4))`` of ``tests/reference/ncps_reference.npz``
  (case ``ltc_ncp19``, trained-shape parameters, softplus applied) through
  ``neurosim.io.ncps.convert_ltc`` (the ``neurosim convert ncps`` path), driven by a
  longer random input sequence (200 ticks, N(0, 1)).
* ``celegans``: ``networks/celegans.yaml`` (302 neurons, Cook 2019 chemical synapses
  and gap junctions, dt = 0.1 ms), 50 ms = 500 ticks, no input (relaxation from
  v ~ U(-0.5, 0.5) mV).
* ``rand1000``: 1,000 neurons, 10 % random connectivity (100,000 synapses, every one
  with its own w, gamma, mu, E_rev), 8 input channels to every neuron, ncps's
  initialisation ranges (``random_model`` below), 20 ticks (the adaptive reference
  costs ~1.3 s per tick here).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NCPS_REF = os.path.join(ROOT, "tests", "reference", "ncps_reference.npz")

METHODS = ("closed_form", "exp_midpoint", "euler", "rk4", "ltc_fused")
SUBSTEPS = (1, 2, 4, 8, 16, 32)
DIVERGED = 1e3  # |v| above this (or NaN/inf) counts as diverged
RTOL, ATOL = 1e-10, 1e-12


def _set_threads(n):
    # must happen before numba is imported (neurosim imports it lazily in the backend)
    if n:
        os.environ["NUMBA_NUM_THREADS"] = str(n)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


# --------------------------------------------------------------------------------------
# networks (shared with benchmarks/ltc_vs_ncps.py)
# --------------------------------------------------------------------------------------
def softplus(x):
    import numpy as np

    x = np.asarray(x, np.float64)
    return np.where(x > 20.0, x, np.log1p(np.exp(np.minimum(x, 20.0))))


def random_model(N, K, p, seed=0, sensory_p=1.0, n_out=4):
    """A random ncps-style LTC model in sparse form (raw ncps parameters, pre-softplus).

    ``round(p N^2)`` distinct recurrent synapses (self-connections allowed, as in ncps's
    FullyConnected) and ``round(sensory_p K N)`` sensory ones, drawn uniformly; every
    synapse has its own parameters from ncps's initialisation ranges (ltc_cell.py):
    w_raw U(0.001, 1), sigma U(3, 8), mu U(0.3, 0.8), erev from choice([-1, 1, 1]);
    cm_raw U(0.4, 0.6), gleak_raw U(0.001, 1), vleak U(-0.2, 0.2); input/output
    mappings identity.  Physical values are softplus(w_raw) etc. (ncps's implicit
    constraints)."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def edges(n_pre, n_post, frac):
        total = n_pre * n_post
        m = int(round(frac * total))
        flat = (
            np.arange(total)
            if m == total
            else np.sort(rng.choice(total, size=m, replace=False, shuffle=False))
        )
        return (flat // n_post).astype(np.int64), (flat % n_post).astype(np.int64)

    pre, post = edges(N, N, p)
    spre, spost = edges(K, N, sensory_p)
    S, SS = len(pre), len(spre)
    return {
        "N": N,
        "K": K,
        "n_out": n_out,
        "pre": pre,
        "post": post,
        "w": rng.uniform(0.001, 1.0, S),
        "sigma": rng.uniform(3.0, 8.0, S),
        "mu": rng.uniform(0.3, 0.8, S),
        "erev": rng.choice([-1.0, 1.0, 1.0], S),
        "s_pre": spre,
        "s_post": spost,
        "s_w": rng.uniform(0.001, 1.0, SS),
        "s_sigma": rng.uniform(3.0, 8.0, SS),
        "s_mu": rng.uniform(0.3, 0.8, SS),
        "s_erev": rng.choice([-1.0, 1.0, 1.0], SS),
        "cm": rng.uniform(0.4, 0.6, N),
        "gleak": rng.uniform(0.001, 1.0, N),
        "vleak": rng.uniform(-0.2, 0.2, N),
        "input_w": np.ones(K),
        "input_b": np.zeros(K),
        "output_w": np.ones(n_out),
        "output_b": np.zeros(n_out),
    }


def model_from_state_dict(sd):
    """Sparse model (as :func:`random_model`) from a dense ncps LTC state dict."""
    import numpy as np

    sd = {
        (k.split(".", 1)[1] if k.startswith("rnn_cell.") else k): np.asarray(v, np.float64)
        for k, v in sd.items()
    }
    pre, post = np.nonzero(sd["sparsity_mask"])
    spre, spost = np.nonzero(sd["sensory_sparsity_mask"])
    N, K = sd["gleak"].shape[0], sd["sensory_w"].shape[0]
    return {
        "N": N,
        "K": K,
        "n_out": len(sd.get("output_w", np.ones(N))),
        "pre": pre,
        "post": post,
        "w": sd["w"][pre, post],
        "sigma": sd["sigma"][pre, post],
        "mu": sd["mu"][pre, post],
        "erev": sd["erev"][pre, post],
        "s_pre": spre,
        "s_post": spost,
        "s_w": sd["sensory_w"][spre, spost],
        "s_sigma": sd["sensory_sigma"][spre, spost],
        "s_mu": sd["sensory_mu"][spre, spost],
        "s_erev": sd["sensory_erev"][spre, spost],
        "cm": sd["cm"],
        "gleak": sd["gleak"],
        "vleak": sd["vleak"],
        "input_w": sd.get("input_w", np.ones(K)),
        "input_b": sd.get("input_b", np.zeros(K)),
        "output_w": sd.get("output_w", np.ones(N)),
        "output_b": sd.get("output_b", np.zeros(N)),
    }


def write_neurosim(model, inputs, d, name, method="ltc_fused", substeps=6, dt=1.0):
    """neurosim network file for a sparse ncps model: what ``neurosim convert ncps``
    writes (softplus on w, sensory_w, cm, gleak; mask folded into the synapse list;
    the affine input map as the series' scale/offset), without the dense N x N arrays
    (the 10,000-neuron network would need 0.8 GB per dense parameter)."""
    import numpy as np
    import yaml

    os.makedirs(d, exist_ok=True)
    P, S = f"{name}_params.npz", f"{name}_inputs.npz"
    m = model
    np.savez(
        os.path.join(d, P),
        c_m=softplus(m["cm"]),
        g_leak=softplus(m["gleak"]),
        v_leak=m["vleak"],
        pre=m["pre"],
        post=m["post"],
        w=softplus(m["w"]),
        gamma=m["sigma"],
        mu=m["mu"],
        E_rev=m["erev"],
        s_pre=m["s_pre"],
        s_post=m["s_post"],
        s_w=softplus(m["s_w"]),
        s_gamma=m["s_sigma"],
        s_mu=m["s_mu"],
        s_E_rev=m["s_erev"],
        input_w=m["input_w"],
        input_b=m["input_b"],
    )
    np.savez(os.path.join(d, S), inputs=np.asarray(inputs, np.float64))

    def arr(key):
        return {"file": P, "key": key}

    doc = {
        "name": name,
        "simulation": {"dt": f"{dt} ms", "duration": f"{len(inputs) * dt} ms", "seed": 1},
        "populations": {
            "inputs": {
                "model": "time_series",
                "params": {
                    "file": S,
                    "key": "inputs",
                    "scale": arr("input_w"),
                    "offset": arr("input_b"),
                },
            },
            "ltc": {
                "size": int(m["N"]),
                "model": "ltc_neuron",
                "params": {"c_m": arr("c_m"), "g_leak": arr("g_leak"), "v_leak": arr("v_leak")},
                "integrator": {"method": method, "substeps": int(substeps)},
            },
        },
        "projections": [
            {
                "pre": "inputs",
                "post": "ltc",
                "name": "sensory",
                "rule": {"from_file": {"path": P, "pre": "s_pre", "post": "s_post"}},
                "synapse": {
                    "model": "ltc_synapse",
                    "params": {
                        "w": arr("s_w"),
                        "gamma": arr("s_gamma"),
                        "mu": arr("s_mu"),
                        "E_rev": arr("s_E_rev"),
                    },
                },
            },
            {
                "pre": "ltc",
                "post": "ltc",
                "name": "recurrent",
                "rule": {"from_file": {"path": P}},
                "synapse": {
                    "model": "ltc_synapse",
                    "params": {
                        "w": arr("w"),
                        "gamma": arr("gamma"),
                        "mu": arr("mu"),
                        "E_rev": arr("E_rev"),
                    },
                },
            },
        ],
        "record": {"state": []},
    }
    path = os.path.join(d, f"{name}.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False)
    return path


def ncp19_state_dict():
    import numpy as np

    with np.load(NCPS_REF) as z:
        pre = "ltc_ncp19/param/"
        return {k[len(pre) :]: z[k] for k in z.files if k.startswith(pre)}


def make_ncp19(d, T=200, seed=5):
    """ncp19 through the converter (neurosim convert ncps), with a longer input."""
    import numpy as np

    from neurosim.io.ncps import convert_ltc

    rng = np.random.default_rng(seed)
    seq = os.path.join(d, "ncp19_seq.npz")
    np.savez(seq, inputs=rng.normal(size=(T, 5)))
    out = os.path.join(d, "ncp19.yaml")
    convert_ltc(None, out, seq, state_dict=ncp19_state_dict())
    return out


def rand1000_model_and_inputs(T=20, seed=0):
    """The 1,000-neuron 10 % network (also used by ltc_vs_ncps.py) and its inputs."""
    import numpy as np

    m = random_model(1000, 8, 0.1, seed=seed)
    return m, np.random.default_rng(seed + 1).normal(size=(T, 8))


def make_rand1000(d, T=20, seed=0):
    m, u = rand1000_model_and_inputs(T, seed)
    return write_neurosim(m, u, d, "rand1000")


def networks(d, names, quick=False):
    """name -> (path, population, ticks, dt)."""
    out = {}
    if "ncp19" in names:
        T = 50 if quick else 200
        out["ncp19"] = (make_ncp19(d, T=T), "ltc", T, 1.0)
    if "celegans" in names:
        ms = 10.0 if quick else 50.0
        out["celegans"] = (
            os.path.join(ROOT, "networks", "celegans.yaml"),
            "neurons",
            int(round(ms / 0.1)),
            0.1,
        )
    if "rand1000" in names:
        T = 5 if quick else 20
        out["rand1000"] = (make_rand1000(d, T=T), "ltc", T, 1.0)
    return out


# --------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------
def load(path, pop, method, substeps, rtol=RTOL, atol=ATOL):
    import neurosim

    spec = neurosim.load(
        path,
        [
            f"populations.{pop}.integrator.method={method}",
            f"populations.{pop}.integrator.substeps={substeps}",
            f"populations.{pop}.integrator.rtol={rtol}",
            f"populations.{pop}.integrator.atol={atol}",
        ],
    )
    spec.record_state = []
    return spec


def trajectory(
    path, pop, ticks, dt, method, substeps, backend="numba", stop_on_div=True, rtol=RTOL
):
    """v after every tick ([ticks, n]); rows after a divergence are NaN."""
    import numpy as np

    import neurosim

    sim = neurosim.Simulation(load(path, pop, method, substeps, rtol=rtol), backend=backend)
    n = sim.get(pop, "v").shape[0]
    out = np.full((ticks, n), np.nan)
    div_tick = None
    with np.errstate(all="ignore"):
        for k in range(ticks):
            sim.run(dt)
            v = sim.get(pop, "v")
            out[k] = v
            if not np.all(np.isfinite(v)) or np.abs(v).max() > DIVERGED:
                div_tick = k + 1
                if stop_on_div:
                    break
    return out, div_tick


def time_per_tick(path, pop, dt, method, substeps, min_s=0.2, repeats=5):
    """Warm time of Simulation.run per tick (s), numba backend, nothing recorded: best
    wall time and best CPU time (process_time, robust to other processes sharing the
    cores) over ``repeats`` runs.  Returns (wall, ticks, synapses, gap entries, cpu)."""
    import numpy as np

    import neurosim

    sim = neurosim.Simulation(load(path, pop, method, substeps), backend="numba")
    with np.errstate(all="ignore"):
        sim.run(dt)  # kernels compiled / loaded from numba's cache
        t0 = time.perf_counter()
        sim.run(2 * dt)
        est = max((time.perf_counter() - t0) / 2, 1e-7)
        n = int(min(20000, max(3, min_s / est)))
        best = best_cpu = float("inf")
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            sim.run(n * dt)
            best = min(best, (time.perf_counter() - t0) / n)
            best_cpu = min(best_cpu, (time.process_time() - c0) / n)
    return best, n, sim.built.n_synapses, sim.built.n_gap, best_cpu


def errors(traj, ref):
    import numpy as np

    with np.errstate(all="ignore"):
        d = np.abs(traj - ref)
        per_tick = np.max(d, axis=1)
    end = float(per_tick[-1])
    mx = float(np.max(per_tick)) if np.all(np.isfinite(per_tick)) else float("inf")
    return (end if np.isfinite(end) else float("inf")), mx


def run_network(name, path, pop, ticks, dt, methods, substeps, log):
    import numpy as np

    t0 = time.perf_counter()
    ref, div = trajectory(path, pop, ticks, dt, "adaptive", 1, backend="numpy")
    t_ref = time.perf_counter() - t0
    assert div is None, f"{name}: the adaptive reference diverged"
    res = {
        "ticks": ticks,
        "dt_ms": dt,
        "population": pop,
        "ref_s": t_ref,
        "ref_absmax": float(np.abs(ref).max()),
        "runs": [],
    }
    log(
        f"[{name}] adaptive reference: {ticks} ticks in {t_ref:.1f} s, max|v| = "
        f"{res['ref_absmax']:.3f}"
    )
    if ticks * (ref.shape[1] ** 2) < 1e8:  # cheap: how exact is the reference itself?
        loose, _ = trajectory(path, pop, ticks, dt, "adaptive", 1, backend="numpy", rtol=1e-8)
        res["ref_self_err_rtol1e-8"] = errors(loose, ref)[1]
        log(
            f"[{name}] reference with rtol 1e-8 differs from rtol 1e-10 by "
            f"{res['ref_self_err_rtol1e-8']:.1e}"
        )
    todo = [(m, s) for m in methods for s in substeps]
    if "ltc_fused" in methods and 6 not in substeps:
        todo.append(("ltc_fused", 6))  # ncps's default: reported below the table
    for m, s in todo:
        traj, div = trajectory(path, pop, ticks, dt, m, s)
        e_end, e_max = errors(traj, ref)
        if div is not None:
            e_end = e_max = float("inf")
        tpt, nt, nsyn, ngap, cpu = time_per_tick(path, pop, dt, m, s)
        res["runs"].append(
            {
                "method": m,
                "substeps": s,
                "err_end": e_end,
                "err_max": e_max,
                "diverged_at_tick": div,
                "s_per_tick": tpt,
                "cpu_s_per_tick": cpu,
                "timed_ticks": nt,
                "extra": s not in substeps,
            }
        )
        res["n_synapses"], res["n_gap"] = nsyn, ngap
        res["n_neurons"] = int(ref.shape[1])
        tag = f"DIVERGED at tick {div}" if div else f"err_max {e_max:.2e} err_end {e_end:.2e}"
        log(f"[{name}] {m:12s} x{s:<3d} {tpt * 1e6:10.1f} us/tick  {tag}")
    return res


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------
def fmt_time(s):
    us = s * 1e6
    return f"{us:.0f}" if us >= 100 else f"{us:.1f}"


def code_state():
    """Which code was measured: HEAD, dirty files, a hash of the LTC engine's sources."""
    import hashlib
    import subprocess

    def git(*args):
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    h = hashlib.sha256()
    for f in (
        "neurosim/backends/ltc_numba.py",
        "neurosim/backends/ltc_numpy.py",
        "neurosim/ltc/build.py",
    ):
        try:
            with open(os.path.join(ROOT, f), "rb") as fh:
                h.update(fh.read())
        except OSError:
            pass
    status = git("status", "--porcelain", "--", "neurosim")
    dirty = [ln.split(maxsplit=1)[-1] for ln in status.splitlines()]
    return {
        "head": git("rev-parse", "--short", "HEAD"),
        "dirty": dirty,
        "ltc_sources_sha256": h.hexdigest()[:12],
    }


def code_note(meta):
    c = meta.get("code") or {}
    return (
        f"Code: HEAD {c.get('head', '?')}"
        + (f" + uncommitted changes in {', '.join(c['dirty'])}" if c.get("dirty") else "")
        + f"; LTC engine sources sha256 {c.get('ltc_sources_sha256', '?')}."
    )


def load_note(meta):
    la, cores = meta["loadavg"], meta["cores"]
    note = f"Load average (1 min) at start / end: {la[0]:.2f} / {la[1]:.2f} on {cores} cores."
    if max(la) > 0.5 * cores:
        note += (
            "  **The machine was shared with other processes during this run: wall "
            "times are noisy (the JSON also has CPU times; `--clock cpu` tabulates "
            "those).**"
        )
    return note


def markdown(results, meta):
    tk = "s_per_tick" if meta["clock"] == "wall" else "cpu_s_per_tick"
    lines = [
        "# LTC integrators: accuracy against the adaptive reference and cost",
        "",
        f"`{meta['command']}` — {meta['date']}, {meta['machine']}, numba "
        f"{meta['numba']}, NUMBA_NUM_THREADS={meta['numba_threads']}.",
        "",
        "Error: max |v - v_ref| (mV) over neurons, after the last tick (end) and over "
        "every tick (max); reference = `adaptive` (scipy DOP853 per tick, rtol 1e-10, "
        "atol 1e-12).  Time: µs per tick, numba backend, warm, best of 5 ("
        + ("wall" if meta["clock"] == "wall" else "CPU")
        + " time).  "
        f"**DIV@k** = diverged (NaN/inf or |v| > {DIVERGED:g}) at tick k.",
        "",
        load_note(meta) + "  " + code_note(meta),
        "",
    ]
    for name, r in results.items():
        lines.append(
            f"## {name}: {r['n_neurons']} neurons, {r['n_synapses']} synapses"
            + (f", {r['n_gap']} gap-junction entries" if r.get("n_gap") else "")
            + f", {r['ticks']} ticks of {r['dt_ms']} ms (reference: "
            f"{r['ref_s']:.1f} s, max|v_ref| = {r['ref_absmax']:.2f} mV"
            + (
                f"; its own error ~ {r['ref_self_err_rtol1e-8']:.0e} at rtol 1e-8"
                if "ref_self_err_rtol1e-8" in r
                else ""
            )
            + ")"
        )
        lines.append("")
        subs = sorted({x["substeps"] for x in r["runs"] if not x.get("extra")})
        lines.append("| method | " + " | ".join(f"x{s}: max / end / µs" for s in subs) + " |")
        lines.append("| --- |" + " --- |" * len(subs))
        for m in dict.fromkeys(x["method"] for x in r["runs"]):
            cells = []
            for s in subs:
                x = next((y for y in r["runs"] if y["method"] == m and y["substeps"] == s), None)
                if x is None:
                    cells.append("")
                    continue
                d = x["diverged_at_tick"]
                if d is not None:
                    cells.append(f"**DIV@{d}** / {fmt_time(x[tk])}")
                else:
                    cells.append(f"{x['err_max']:.1e} / {x['err_end']:.1e} / {fmt_time(x[tk])}")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        for x in r["runs"]:
            if x.get("extra"):
                lines.append("")
                lines.append(
                    f"ncps's default, {x['method']} x{x['substeps']} (= ncps LTC with "
                    f"{x['substeps']} unfolds): "
                    + (
                        f"**DIV@{x['diverged_at_tick']}**"
                        if x["diverged_at_tick"]
                        else f"max {x['err_max']:.1e} / end {x['err_end']:.1e}"
                    )
                    + f" / {fmt_time(x[tk])} µs per tick."
                )
        div = [(x["method"], x["substeps"]) for x in r["runs"] if x["diverged_at_tick"]]
        closed = [x for x in r["runs"] if x["method"] in ("closed_form", "exp_midpoint")]
        bounded = all(x["diverged_at_tick"] is None for x in closed)
        lines.append("")
        if div:
            lines.append(
                "Diverged: "
                + ", ".join(f"{m} x{s}" for m, s in div)
                + (
                    "; closed_form and exp_midpoint stay bounded at every substep count."
                    if bounded
                    else "; closed forms diverged too (!)"
                )
            )
        else:
            lines.append("No integrator diverged on this network.")
        lines.append("")
    lines.append(f"Total run time {meta['total_s']:.0f} s.")
    return "\n".join(lines) + "\n"


def plot(results, path, clock="wall"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(results)
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.4), squeeze=False)
    colors = {
        "closed_form": "C0",
        "exp_midpoint": "C1",
        "euler": "C3",
        "rk4": "C2",
        "ltc_fused": "C4",
    }
    for ax, name in zip(axes[0], names, strict=True):
        r = results[name]
        top = DIVERGED * 10
        for m in dict.fromkeys(x["method"] for x in r["runs"]):
            runs = sorted((x for x in r["runs"] if x["method"] == m), key=lambda x: x["substeps"])
            t = np.array(
                [x["s_per_tick" if clock == "wall" else "cpu_s_per_tick"] * 1e6 for x in runs]
            )
            e = np.array([x["err_max"] for x in runs], float)
            ok = np.isfinite(e) & (e <= DIVERGED)
            e_plot = np.where(ok, np.maximum(e, 1e-16), np.nan)
            ax.plot(t, e_plot, "o-", color=colors.get(m), label=m, ms=4, lw=1.2)
            if (~ok).any():
                ax.plot(t[~ok], np.full((~ok).sum(), top), "x", color=colors.get(m), ms=8, mew=2)
            for x, ti, ei, o in zip(runs, t, e_plot, ok, strict=True):
                ax.annotate(
                    str(x["substeps"]),
                    (ti, ei if o else top),
                    fontsize=6,
                    xytext=(2, 2),
                    textcoords="offset points",
                    color=colors.get(m),
                )
        ax.axhspan(DIVERGED, top * 3, color="0.9", zorder=0)
        ax.text(
            0.98,
            0.97,
            "diverged (x)",
            transform=ax.transAxes,
            va="top",
            ha="right",
            fontsize=7,
            color="0.3",
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(top=top * 3)
        ax.set_xlabel(f"time per tick (µs, numba, warm, {clock})")
        ax.set_ylabel("max |v - v_ref| over the run (mV)")
        ax.set_title(
            f"{name}: {r['n_neurons']} neurons, {r['n_synapses']} syn, "
            f"{r['ticks']}x{r['dt_ms']} ms",
            fontsize=9,
        )
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle("LTC integrators: error vs cost (labels: substeps / unfolds)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def jsonable(o):
    """inf/NaN as strings ("inf", "nan"): strict JSON has neither."""
    if isinstance(o, dict):
        return {k: jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, float) and not (o == o and abs(o) != float("inf")):
        return str(o)
    if hasattr(o, "item"):  # numpy scalars
        return jsonable(o.item())
    return o


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--networks", nargs="+", default=["ncp19", "celegans", "rand1000"])
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--substeps", nargs="+", type=int, default=list(SUBSTEPS))
    ap.add_argument("--threads", type=int, default=1, help="NUMBA_NUM_THREADS (0: numba's default)")
    ap.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--keep-nets", default=None, help="write the generated networks here")
    ap.add_argument("--quick", action="store_true", help="short runs, substeps 1 4 16")
    ap.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="time shown in the table and plot (both are in the JSON)",
    )
    a = ap.parse_args(argv)
    _set_threads(a.threads)
    sys.path.insert(0, ROOT)
    import numba

    if a.quick and a.substeps == list(SUBSTEPS):
        a.substeps = [1, 4, 16]
    T0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    code = code_state()  # at start: the sources this process imports and measures
    os.makedirs(a.out_dir, exist_ok=True)
    work = a.keep_nets or tempfile.mkdtemp(prefix="ltc_acc_")
    os.makedirs(work, exist_ok=True)

    def log(msg):
        print(msg, flush=True)

    try:
        nets = networks(work, a.networks, quick=a.quick)
        results = {}
        for name in a.networks:
            path, pop, ticks, dt = nets[name]
            results[name] = run_network(name, path, pop, ticks, dt, a.methods, a.substeps, log)
    finally:
        if not a.keep_nets:
            shutil.rmtree(work, ignore_errors=True)
    meta = {
        "command": "python benchmarks/ltc_accuracy.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "numba": numba.__version__,
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "rtol": RTOL,
        "atol": ATOL,
        "diverged_threshold": DIVERGED,
        "total_s": time.perf_counter() - T0,
        "clock": a.clock,
        "loadavg": [load0, os.getloadavg()[0]],
        "cores": os.cpu_count(),
        "code": code,
    }
    md = markdown(results, meta)
    print()
    print(md)
    with open(os.path.join(a.out_dir, "ltc_accuracy.md"), "w") as fh:
        fh.write(md)
    with open(os.path.join(a.out_dir, "ltc_accuracy.json"), "w") as fh:
        json.dump(jsonable({"meta": meta, "networks": results}), fh, indent=1)
    plot(results, os.path.join(a.out_dir, "ltc_accuracy.png"), a.clock)
    print(f"wrote {a.out_dir}/ltc_accuracy.md, .json, .png ({meta['total_s']:.0f} s)")


if __name__ == "__main__":
    main()
