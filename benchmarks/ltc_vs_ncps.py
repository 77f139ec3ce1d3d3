"""neurosim's LTC engine against ncps (PyTorch) per step, one thread each, same networks.

One command (main venv, from the repository root; ~5-7 min on 2 cores):

    python benchmarks/ltc_vs_ncps.py
    python benchmarks/ltc_vs_ncps.py --quick       # no 10,000-neuron net, ~2 min

Options: ``--networks ncp19 celegans302 fc1000 rand1000 rand10k``, ``--ncps-python
/work/ncps-venv/bin/python`` (torch CPU + ncps 1.0.1, tests/reference/README_ncps.md),
``--no-accuracy`` (skip the time-to-accuracy part), ``--out-dir benchmarks/results``.
Writes ``<out-dir>/ltc_vs_ncps.md`` (also printed) and ``ltc_vs_ncps.json``.

What is compared (batch 1, dt = 1 ms = one ncps time unit, one step = one tick):

* ncps ``LTC`` (its fused semi-implicit solver, ``ode_unfolds = 6``), float32 (ncps's
  default dtype) and float64 (neurosim's precision; networks of <= 1,000 neurons),
  run by ``benchmarks/peers/ncps_step.py`` in the ncps venv, a subprocess per
  measurement; ncps's wired ``CfC`` (``ncps.torch.CfC(K, wiring)``, WiredCfCCell,
  float32) on the same wiring for comparison;
* neurosim (numba backend): ``ltc_fused`` with 6 substeps (the same solver and the
  same number of passes over the synapses as ncps's 6 unfolds) and ``closed_form``
  with 1 and with 6 substeps, in float64; ``ltc_fused`` x6 and ``closed_form`` x1 also
  in float32 (``integrator: {dtype: float32}``: synapse parameters in float32, fully
  connected projections stored dense and summed in float32; docs/ltc.md), the
  like-for-like comparison with ncps's float32.

One thread each: NUMBA_NUM_THREADS=1 here, ``torch.set_num_threads(1)`` (and
OMP/MKL_NUM_THREADS=1) in the ncps process.  Times are wall time per step of the whole
sequence call (``LTC.forward`` over S steps / ``Simulation.run`` over S ticks, nothing
recorded), warm, best of 5 (the 10,000-neuron ncps LTC, ~20 s per step, is timed once);
CPU time per step (``time.process_time``) is reported too: it is the steadier number
when other processes share the machine.

The same network on both sides: every network is generated here as a sparse ncps model
(raw ncps parameters per synapse), written once as a neurosim network file
(softplus applied, as ``neurosim convert ncps`` does) and loaded by ncps_step.py into
dense ncps tensors.  The parity check runs the first steps on both sides from h = 0 with
the same inputs (ncps LTC float64 against neurosim ltc_fused x6 float64: agreement to
~1e-12; ncps float32 against neurosim float64 and against neurosim float32: ~1e-6).

Networks: ``ncp19`` (ncps AutoNCP(19, 4), the trained-shape parameters of
tests/reference case ltc_ncp19; CfC uses the real 3-layer AutoNCP), ``celegans302`` (the
C. elegans chemical adjacency of networks/data/celegans_cook2019.npz, 302 neurons, 3,709
synapses (4.1 %), signs as E_rev, other parameters from ncps's initialisation ranges,
8 inputs to 10 % of the neurons; no gap junctions, ncps has none), ``fc1000`` (fully
connected, 1,000 neurons, 10^6 synapses with their own parameters), ``rand1000``
(1,000 neurons, 10 %: the network of benchmarks/ltc_accuracy.py) and ``rand10k``
(10,000 neurons, 1 %, 10^6 synapses).  Every network but ncp19 has 8 input channels.
For the CfC on wirings other than ncp19, ncps's WiredCfCCell has one layer whose
recurrent weights are dense (it masks only the sensory inputs), so its cost is that of
a dense N x N CfC.

Bytes per synapse per pass (neurosim): the bytes of the arrays the kernel streams over
one pass (``backend.kernel_arrays()`` when the backend provides it, else the
``LtcBuilt`` synapse blocks ``BLOCK_ARRAYS`` -- or the older CSR ``CSR_ARRAYS`` when the
build has no blocks -- the gap CSR, and the backend's activation table ``S``) divided
by the number of chemical synapses; gathers of presynaptic values are not counted.
For ncps: the dense parameter tensors read per unfold (sigma, mu, softplus(w), mask,
erev: 5 N^2 x itemsize) divided by the real synapses (temporaries not counted).

Time to accuracy (``rand1000``, 20 ticks): for each neurosim integrator the fewest
substeps whose max |v - v_ref| over the run is <= 1e-2 against the adaptive reference
(scipy DOP853, rtol 1e-10), and its time per tick; for ncps the fewest unfolds of its
fused solver reaching 1e-2 (computed with neurosim's ltc_fused, which is ncps's solver
to ~1e-12 in float64) and ncps's time per step with that many unfolds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

import ltc_accuracy as A  # noqa: E402

A._set_threads(1)  # before numba is imported

NETWORKS = ("ncp19", "celegans302", "fc1000", "rand1000", "rand10k")
NCPS_PYTHON = os.environ.get("NEUROSIM_NCPS_PYTHON", "/work/ncps-venv/bin/python")
TARGET = 1e-2


# --------------------------------------------------------------------------------------
# networks
# --------------------------------------------------------------------------------------
def celegans_model(seed=4):
    import numpy as np

    z = np.load(os.path.join(ROOT, "networks", "data", "celegans_cook2019.npz"))
    m = A.random_model(302, 8, 0.0, seed=seed, sensory_p=0.1)
    pre, post = z["chem_pre"].astype(np.int64), z["chem_post"].astype(np.int64)
    rng = np.random.default_rng(seed + 100)
    S = len(pre)
    m.update(
        pre=pre,
        post=post,
        w=rng.uniform(0.001, 1.0, S),
        sigma=rng.uniform(3.0, 8.0, S),
        mu=rng.uniform(0.3, 0.8, S),
        erev=z["chem_sign"].astype(np.float64),
    )
    return m


def make_model(name, T=50):
    """(sparse ncps model, inputs [T, K], CfC wiring kind)."""
    import numpy as np

    if name == "ncp19":
        m = A.model_from_state_dict(A.ncp19_state_dict())
        return m, np.random.default_rng(5).normal(size=(T, 5)), "autoncp"
    if name == "rand1000":
        m, u = A.rand1000_model_and_inputs(T)
        return m, u, "given"
    if name == "celegans302":
        m = celegans_model()
    elif name == "fc1000":
        m = A.random_model(1000, 8, 1.0, seed=1)
    elif name == "rand10k":
        m = A.random_model(10000, 8, 0.01, seed=2)
    else:
        raise ValueError(name)
    return m, np.random.default_rng(7).normal(size=(T, 8)), "given"


# --------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------
def ncps(
    py,
    model_npz,
    cell="ltc",
    unfolds=6,
    dtype="float32",
    wiring="given",
    check_steps=4,
    repeats=5,
    states_out=None,
    min_s=0.3,
):
    cmd = [
        py,
        os.path.join(HERE, "peers", "ncps_step.py"),
        "--model",
        model_npz,
        "--cell",
        cell,
        "--unfolds",
        str(unfolds),
        "--dtype",
        dtype,
        "--wiring",
        wiring,
        "--check-steps",
        str(check_steps),
        "--repeats",
        str(repeats),
        "--min-s",
        str(min_s),
        "--max-steps",
        "500",
    ]
    if states_out:
        cmd += ["--states-out", states_out]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    out = json.loads([x for x in p.stdout.splitlines() if x.startswith("{")][-1])
    out["process_s"] = time.perf_counter() - t0
    return out


#: Arrays the numba kernel streams per pass, by LtcBuilt attribute name: the tiled block
#: layout (idx, cnt, crs, wp, Ep, gp, mp) when the build has it, else the earlier CSR
#: layout (tptr, src, w, gamma, mu, E); plus the gap-junction CSR.
BLOCK_ARRAYS = ("idx", "cnt", "crs", "wp", "Ep", "gp", "mp")
CSR_ARRAYS = ("tptr", "src", "w", "gamma", "mu", "E")
GAP_ARRAYS = ("gptr", "gsrc", "g")


def kernel_bytes(sim):
    """Bytes the neurosim kernel streams per pass over the synapses, per synapse."""
    import numpy as np

    b = sim.built
    hook = getattr(sim.backend, "kernel_arrays", None)
    if callable(hook):
        arrays, source = dict(hook()), "backend.kernel_arrays()"
    else:
        names = BLOCK_ARRAYS if isinstance(getattr(b, "idx", None), np.ndarray) else CSR_ARRAYS
        arrays = {
            k: getattr(b, k)
            for k in names + GAP_ARRAYS
            if isinstance(getattr(b, k, None), np.ndarray)
        }
        S = getattr(sim.backend, "S", None)
        if isinstance(S, np.ndarray):
            arrays["S (backend activation table)"] = S
        source = "LtcBuilt arrays " + ", ".join(arrays)
    total = sum(int(a.nbytes) for a in arrays.values() if a is not None)
    return {
        "bytes_per_synapse": total / max(1, b.n_synapses),
        "source": source,
        "arrays": {k: f"{a.dtype}[{a.size}]" for k, a in arrays.items() if a is not None},
    }


def _load(path, method, substeps, dtype):
    import neurosim

    spec = neurosim.load(
        path,
        [
            f"populations.ltc.integrator.method={method}",
            f"populations.ltc.integrator.substeps={substeps}",
            f"populations.ltc.integrator.dtype={dtype}",
        ],
    )
    spec.record_state = []
    return spec


def time_per_tick(path, method, substeps, dtype, min_s=0.2, repeats=5):
    """As ltc_accuracy.time_per_tick, with the population's dtype: (wall s, ticks, cpu s)
    per tick, best of ``repeats`` warm runs of Simulation.run, nothing recorded."""
    import numpy as np

    import neurosim

    sim = neurosim.Simulation(_load(path, method, substeps, dtype), backend="numba")
    with np.errstate(all="ignore"):
        sim.run(1.0)  # kernels compiled / loaded from numba's cache
        t0 = time.perf_counter()
        sim.run(2.0)
        est = max((time.perf_counter() - t0) / 2, 1e-7)
        n = int(min(20000, max(3, min_s / est)))
        best = best_cpu = float("inf")
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            sim.run(float(n))
            best = min(best, (time.perf_counter() - t0) / n)
            best_cpu = min(best_cpu, (time.process_time() - c0) / n)
    return best, n, best_cpu


def final_state(path, steps, dtype):
    """v after ``steps`` ticks of ltc_fused x6 in ``dtype``."""
    import neurosim

    sim = neurosim.Simulation(_load(path, "ltc_fused", 6, dtype), backend="numba")
    sim.run(float(steps))
    return sim.get("ltc", "v"), sim


#: (method, substeps, dtype) timed on every network
RUNS = (
    ("ltc_fused", 6, "float64"),
    ("closed_form", 1, "float64"),
    ("closed_form", 6, "float64"),
    ("ltc_fused", 6, "float32"),
    ("closed_form", 1, "float32"),
)


def _key(m, s, dt):
    return f"{m}x{s}" + ("_f32" if dt == "float32" else "")


def neurosim_side(path, steps_check):
    res = {}
    for m, s, dt in RUNS:
        tpt, nt, cpu = time_per_tick(path, m, s, dt)
        res[_key(m, s, dt)] = {
            "ms_per_step": tpt * 1e3,
            "cpu_ms_per_step": cpu * 1e3,
            "timed_ticks": nt,
        }
    v = {}
    for dt in ("float64", "float32"):
        v[dt], sim = final_state(path, steps_check, dt)
        res["kernel_bytes" + ("_f32" if dt == "float32" else "")] = kernel_bytes(sim)
    res["n_synapses_incl_sensory"] = sim.built.n_synapses
    return res, v


def measure_network(name, work, py, quick, log):
    import numpy as np

    m, u, cfc_wiring = make_model(name)
    N = int(m["N"])
    mpath = os.path.join(work, f"{name}_model.npz")
    np.savez(mpath, inputs=u, **{k: np.asarray(v) for k, v in m.items()})
    path = A.write_neurosim(m, u, work, name)
    big = N > 2000
    check = 1 if big else 4
    r = {
        "N": N,
        "K": int(m["K"]),
        "n_syn": int(len(m["pre"])),
        "n_sensory": int(len(m["s_pre"])),
        "density": len(m["pre"]) / N**2,
    }
    t0 = time.perf_counter()
    r["neurosim"], v_ns = neurosim_side(path, check)
    times = {
        k: x["ms_per_step"]
        for k, x in r["neurosim"].items()
        if isinstance(x, dict) and "ms_per_step" in x
    }
    log(
        f"[{name}] neurosim: "
        + ", ".join(f"{k} {x:.3f} ms" for k, x in times.items())
        + f"  ({time.perf_counter() - t0:.0f} s)"
    )
    r["ncps"] = {}
    dtypes = ["float32"] if big else ["float32", "float64"]
    for dt in dtypes:
        st = os.path.join(work, f"{name}_{dt}_h.npz")
        o = ncps(py, mpath, "ltc", 6, dt, check_steps=check, repeats=0 if big else 5, states_out=st)
        with np.load(st) as z:
            o["parity_max_abs_diff"] = float(np.max(np.abs(z["h"] - v_ns["float64"])))
            o["parity_max_abs_diff_ns_f32"] = float(np.max(np.abs(z["h"] - v_ns["float32"])))
        r["ncps"][f"ltc_{dt}"] = o
        log(
            f"[{name}] ncps LTC {dt}: {o['ms_per_step']:.3f} ms/step (S={o['steps']}), "
            f"parity vs neurosim ltc_fused x6 after {check} steps: "
            f"{o['parity_max_abs_diff']:.1e} (neurosim float32: "
            f"{o['parity_max_abs_diff_ns_f32']:.1e})  ({o['process_s']:.0f} s)"
        )
    o = ncps(
        py,
        mpath,
        "cfc",
        dtype="float32",
        wiring=cfc_wiring,
        check_steps=1 if big else 4,
        repeats=2 if big else 5,
    )
    r["ncps"]["cfc_float32"] = o
    log(
        f"[{name}] ncps wired CfC float32 ({o['cfc_layers']} layer(s)): "
        f"{o['ms_per_step']:.3f} ms/step  ({o['process_s']:.0f} s)"
    )
    itemsize = {"float32": 4, "float64": 8}
    r["ncps_param_bytes_per_synapse"] = {dt: 5 * N * N * itemsize[dt] / r["n_syn"] for dt in dtypes}
    return r, mpath


def time_to_accuracy(work, py, log, T=20, smax=64):
    """Fewest substeps reaching TARGET on rand1000, and the time per tick there."""
    import numpy as np

    m, u = A.rand1000_model_and_inputs(T)
    path = A.write_neurosim(m, u, work, "tta_rand1000")
    mpath = os.path.join(work, "tta_rand1000_model.npz")
    np.savez(mpath, inputs=u, **{k: np.asarray(v) for k, v in m.items()})
    t0 = time.perf_counter()
    ref, div = A.trajectory(path, "ltc", T, 1.0, "adaptive", 1, backend="numpy")
    assert div is None
    log(f"[tta] adaptive reference, {T} ticks: {time.perf_counter() - t0:.0f} s")
    cache = {}

    def err(meth, s):
        if (meth, s) not in cache:
            v, d = A.trajectory(path, "ltc", T, 1.0, meth, s)
            cache[meth, s] = float("inf") if d else A.errors(v, ref)[1]
        return cache[meth, s]

    out = {"network": "rand1000", "ticks": T, "target": TARGET, "methods": {}}
    for meth in ("closed_form", "exp_midpoint", "ltc_fused", "rk4", "euler"):
        s, prev = 1, 0
        while s <= smax and not err(meth, s) <= TARGET:
            prev, s = s, s * 2
        if s > smax:
            out["methods"][meth] = {"substeps": None, "note": f"not reached with <= {smax}"}
            log(f"[tta] {meth}: not reached with <= {smax} substeps")
            continue
        lo, hi = prev, s  # err(lo) > TARGET (or lo = 0), err(hi) <= TARGET
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if err(meth, mid) <= TARGET:
                hi = mid
            else:
                lo = mid
        tm = A.time_per_tick(path, "ltc", 1.0, meth, hi)
        out["methods"][meth] = {
            "substeps": hi,
            "err_max": err(meth, hi),
            "ms_per_step": tm[0] * 1e3,
            "cpu_ms_per_step": tm[4] * 1e3,
        }
        log(
            f"[tta] {meth}: {hi} substeps, err {err(meth, hi):.2e}, {tm[0] * 1e3:.2f} ms/tick "
            f"(CPU {tm[4] * 1e3:.2f})"
        )
    out["ltc_fused_x6_err"] = err("ltc_fused", 6)
    ok = {k: v for k, v in out["methods"].items() if v.get("substeps")}
    best = min(ok, key=lambda k: ok[k]["ms_per_step"])
    out["neurosim_best"] = dict(ok[best], method=best)
    U = out["methods"]["ltc_fused"].get("substeps")
    if U:
        out["ncps"] = {}
        for dt in ("float32", "float64"):
            o = ncps(py, mpath, "ltc", U, dt)
            out["ncps"][dt] = dict(o, unfolds=U)
            log(f"[tta] ncps LTC {dt}, {U} unfolds: {o['ms_per_step']:.2f} ms/step")
    return out


def stream_bandwidth():
    """One core's STREAM-like bandwidth (GB/s): triad ``a = b + s c`` (24 B per element
    moved) on arrays of 3 x 96 MB (main memory) and 3 x 4 MB (L3-resident), and a read
    of one array, best of 10, numba-compiled (NUMBA_NUM_THREADS=1)."""
    import numba as nb
    import numpy as np

    @nb.njit(cache=False, nogil=True)
    def triad(a, b, c, s):
        for i in range(a.shape[0]):
            a[i] = b[i] + s * c[i]

    @nb.njit(cache=False, nogil=True, fastmath=True)
    def read(b):
        s = 0.0
        for i in range(b.shape[0]):
            s += b[i]
        return s

    out = {}
    for label, n in (("memory", 12_000_000), ("l3", 500_000)):
        a, b, c = np.zeros(n), np.ones(n), np.ones(n)
        triad(a, b, c, 3.0)
        read(b)
        bt = br = float("inf")
        for _ in range(10):
            t0 = time.perf_counter()
            triad(a, b, c, 3.0)
            bt = min(bt, time.perf_counter() - t0)
            t0 = time.perf_counter()
            read(b)
            br = min(br, time.perf_counter() - t0)
        out[f"triad_{label}_GBs"] = 24 * n / bt / 1e9
        out[f"read_{label}_GBs"] = 8 * n / br / 1e9
    return out


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------
def _f(x):
    return "—" if x is None else (f"{x:.3g}" if x < 100 else f"{x:.0f}")


def markdown(res, meta):
    L = [
        "# neurosim LTC vs ncps (PyTorch): time per step, one thread each",
        "",
        f"`{meta['command']}` — {meta['date']}, {meta['machine']}; numba {meta['numba']} "
        f"(NUMBA_NUM_THREADS=1), torch {meta.get('torch', '?')} (1 thread), ncps 1.0.1.",
        "",
        "Batch 1, dt = 1 (one ncps time unit = 1 ms), ms per step, warm, best of 5 "
        "(ncps LTC on rand10k: one step).  ncps LTC = fused solver, 6 unfolds; neurosim "
        "`fused x6` = the same solver and the same 6 passes; `closed x1/x6` = "
        "neurosim's exact-under-frozen-input update with 1 / 6 substeps.  neurosim f64 "
        "= float64; neurosim f32 = `integrator: {dtype: float32}` (parameters in "
        "float32, fully connected projections dense and summed in float32).  Ratio = "
        "ncps / neurosim (> 1: neurosim faster), like for like: ncps f32 against neurosim "
        "f32, ncps f64 against neurosim f64.",
        "",
        A.load_note(meta) + "  " + A.code_note(meta),
        "",
        "| network | N | synapses | density | ncps LTC f32 | ncps LTC f64 "
        "| neurosim fused x6 f32 | neurosim fused x6 f64 | neurosim closed x1 f32 "
        "| neurosim closed x1 f64 | neurosim closed x6 f64 | ncps f32 / fused x6 f32 "
        "| ncps f64 / fused x6 f64 | ncps f32 / closed x1 f32 | ncps wired CfC f32 "
        "| parity f64 (f32) |",
        "| --- |" + " ---: |" * 15,
    ]
    for name, r in res["networks"].items():
        n, c = r["neurosim"], r["ncps"]
        f32 = c["ltc_float32"]["ms_per_step"]
        f64 = c.get("ltc_float64", {}).get("ms_per_step")
        fu32, fu, c132, c1, c6 = (
            n[k]["ms_per_step"]
            for k in (
                "ltc_fusedx6_f32",
                "ltc_fusedx6",
                "closed_formx1_f32",
                "closed_formx1",
                "closed_formx6",
            )
        )
        par = (
            f"{c['ltc_float64']['parity_max_abs_diff']:.0e} " if "ltc_float64" in c else ""
        ) + f"({c['ltc_float32']['parity_max_abs_diff_ns_f32']:.0e})"
        L.append(
            f"| {name} | {r['N']} | {r['n_syn']:,} (+{r['n_sensory']:,} sens.) | "
            f"{100 * r['density']:.3g} % | {_f(f32)} | {_f(f64)} | {_f(fu32)} | {_f(fu)} | "
            f"{_f(c132)} | {_f(c1)} | {_f(c6)} | **{f32 / fu32:.2f}** | "
            + (f"{f64 / fu:.2f}" if f64 else "—")
            + f" | {f32 / c132:.2f} | "
            f"{_f(c['cfc_float32']['ms_per_step'])} | {par} |"
        )
    L += [
        "",
        "Parity: max |h_ncps - v_neurosim| after the first 4 steps from h = 0 (rand10k: "
        "1 step), ltc_fused x6: ncps float64 against neurosim float64 (ncps float32 "
        "against neurosim float32).",
        "",
        "Same runs, CPU time per step (time.process_time; the steadier number when other "
        "processes share the cores):",
        "",
        "| network | ncps LTC f32 | ncps LTC f64 | neurosim fused x6 f32 "
        "| neurosim fused x6 f64 | neurosim closed x1 f32 | ncps f32 / fused x6 f32 "
        "| ncps f64 / fused x6 f64 | ncps f32 / closed x1 f32 | ncps wired CfC f32 |",
        "| --- |" + " ---: |" * 9,
    ]
    for name, r in res["networks"].items():
        n, c = r["neurosim"], r["ncps"]
        f32 = c["ltc_float32"]["cpu_ms_per_step"]
        f64 = c.get("ltc_float64", {}).get("cpu_ms_per_step")
        fu32, fu, c132 = (
            n[k]["cpu_ms_per_step"] for k in ("ltc_fusedx6_f32", "ltc_fusedx6", "closed_formx1_f32")
        )
        L.append(
            f"| {name} | {_f(f32)} | {_f(f64)} | {_f(fu32)} | {_f(fu)} | {_f(c132)} | "
            f"**{f32 / fu32:.2f}** | "
            + (f"{f64 / fu:.2f}" if f64 else "—")
            + f" | {f32 / c132:.2f} | "
            f"{_f(c['cfc_float32']['cpu_ms_per_step'])} |"
        )
    L += [
        "",
        "## Bytes streamed per synapse per pass",
        "",
        "| network | neurosim f32 (B / synapse / pass) | neurosim f64 | ncps dense params "
        "f32 (B / recurrent synapse / unfold) | ncps f64 | ncps dense entries / recurrent "
        "synapse |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    src = None
    for name, r in res["networks"].items():
        kb, kb32 = r["neurosim"]["kernel_bytes"], r["neurosim"]["kernel_bytes_f32"]
        src = kb["source"]
        nb = r["ncps_param_bytes_per_synapse"]
        L.append(
            f"| {name} | {kb32['bytes_per_synapse']:.1f} | {kb['bytes_per_synapse']:.1f} | "
            f"{nb['float32']:.0f} | {_f(nb.get('float64'))} | {r['N'] ** 2 / r['n_syn']:.1f} |"
        )
    bw = res.get("bandwidth")
    fc = res["networks"].get("fc1000")
    if bw:
        L += [
            "",
            f"One core's STREAM-like bandwidth here (triad, best of 10): "
            f"{bw['triad_memory_GBs']:.1f} GB/s from memory (3 x 96 MB), "
            f"{bw['triad_l3_GBs']:.1f} GB/s L3-resident (3 x 4 MB); read-only "
            f"{bw['read_memory_GBs']:.1f} / {bw['read_l3_GBs']:.1f} GB/s.",
        ]
        if fc:
            kb = fc["neurosim"]["kernel_bytes_f32"]["bytes_per_synapse"]
            mb = kb * (fc["n_syn"] + fc["n_sensory"]) / 1e6
            per_pass = fc["neurosim"]["ltc_fusedx6_f32"]["ms_per_step"] / 6
            L.append(
                f"fc1000 float32 streams {mb:.1f} MB per pass (fits the 32 MB L3): bound "
                f"{mb / bw['read_l3_GBs']:.2f} ms per pass at the L3 read rate, "
                f"{mb / bw['read_memory_GBs']:.2f} ms from memory; measured "
                f"{per_pass:.2f} ms per pass (fused x6 / 6): the float32 sigmoid, not the "
                "bytes, sets the time."
            )
    L += [
        "",
        f"neurosim: {src}; all their bytes / chemical synapses (incl. sensory); "
        "gathers of presynaptic values are not counted.  ncps: the 5 dense N x N tensors "
        "read per unfold (sigma, mu, softplus(w), mask, erev) / recurrent synapses; its ~6 "
        "N x N temporaries per unfold "
        "are not counted.",
        "",
    ]
    t = res.get("time_to_accuracy")
    if t:
        L += [
            f"## Time to accuracy: max |v - v_ref| <= {t['target']:g} over {t['ticks']} "
            f"ticks of {t['network']} (adaptive reference, rtol 1e-10)",
            "",
            "| side | integrator | substeps / unfolds | error | ms per step (wall) "
            "| ms per step (CPU) |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for meth, x in t["methods"].items():
            if x.get("substeps"):
                L.append(
                    f"| neurosim | {meth} | {x['substeps']} | {x['err_max']:.1e} | "
                    f"{_f(x['ms_per_step'])} | {_f(x['cpu_ms_per_step'])} |"
                )
            else:
                L.append(f"| neurosim | {meth} | {x['note']} | | | |")
        for dt, x in (t.get("ncps") or {}).items():
            L.append(
                f"| ncps LTC {dt} | fused | {x['unfolds']} | (= neurosim ltc_fused) | "
                f"{_f(x['ms_per_step'])} | {_f(x['cpu_ms_per_step'])} |"
            )
        b = t["neurosim_best"]
        if t.get("ncps"):
            L += [
                "",
                f"Best neurosim: {b['method']} x{b['substeps']}, {_f(b['ms_per_step'])} ms "
                f"per step; ncps needs {t['methods']['ltc_fused']['substeps']} unfolds: "
                + ", ".join(
                    f"{dt} {x['ms_per_step'] / b['ms_per_step']:.1f}x (CPU time: "
                    f"{x['cpu_ms_per_step'] / b['cpu_ms_per_step']:.1f}x) the time"
                    for dt, x in t["ncps"].items()
                )
                + f".  (ncps's default 6 unfolds: error {t['ltc_fused_x6_err']:.1e}.)",
            ]
    L += ["", f"Total run time {meta['total_s']:.0f} s."]
    return "\n".join(L) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--networks", nargs="+", default=None)
    ap.add_argument("--ncps-python", default=NCPS_PYTHON)
    ap.add_argument("--no-accuracy", action="store_true")
    ap.add_argument("--quick", action="store_true", help="without rand10k")
    ap.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--keep", default=None, help="keep the generated models/networks here")
    a = ap.parse_args(argv)
    nets = a.networks or [n for n in NETWORKS if not (a.quick and n == "rand10k")]
    import numba

    T0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    code = A.code_state()  # at start: the sources this process imports and measures
    os.makedirs(a.out_dir, exist_ok=True)
    work = a.keep or tempfile.mkdtemp(prefix="ltc_ncps_")
    os.makedirs(work, exist_ok=True)

    def log(msg):
        print(msg, flush=True)

    res = {"networks": {}, "bandwidth": stream_bandwidth()}
    log("one core's bandwidth: " + ", ".join(f"{k} {v:.1f}" for k, v in res["bandwidth"].items()))
    try:
        for name in nets:
            res["networks"][name], _ = measure_network(name, work, a.ncps_python, a.quick, log)
        if not a.no_accuracy:
            res["time_to_accuracy"] = time_to_accuracy(work, a.ncps_python, log)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    some = next(iter(res["networks"].values()))["ncps"]["ltc_float32"]
    meta = {
        "command": "python benchmarks/ltc_vs_ncps.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "numba": numba.__version__,
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "torch": some.get("torch"),
        "total_s": time.perf_counter() - T0,
        "loadavg": [load0, os.getloadavg()[0]],
        "cores": os.cpu_count(),
        "code": code,
    }
    res["meta"] = meta
    md = markdown(res, meta)
    print()
    print(md)
    with open(os.path.join(a.out_dir, "ltc_vs_ncps.md"), "w") as fh:
        fh.write(md)
    with open(os.path.join(a.out_dir, "ltc_vs_ncps.json"), "w") as fh:
        json.dump(A.jsonable(res), fh, indent=1)
    print(f"wrote {a.out_dir}/ltc_vs_ncps.md, .json ({meta['total_s']:.0f} s)")


if __name__ == "__main__":
    main()
