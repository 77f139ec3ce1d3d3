"""NEST 3.x side of benchmarks/microcircuit.py: the Potjans & Diesmann (2014) microcircuit
as NEST's PyNEST example builds it, at any scale; prints ONE JSON line.

    /work/peers-venv/bin/python benchmarks/peers/nest_microcircuit.py --N 0.1 --K 0.1 \
        [--threads 2] [--seed 55] [--t-presim 500] [--t-sim 1000] [--poisson-as-dc]

A transcription of NEST 3's ``pynest/examples/Potjans_2014`` (``network_params.py``,
``network.py``, ``helpers.py``): the numbers below are that example's, written out here so
that this script needs nothing but NEST and numpy (the peers venv has no neurosim and no
YAML reader), and so that it is an independent check of networks/microcircuit.yaml.
Differences from the example: spikes go to memory (``spike_recorder``, not ascii files),
no plots, the seed is ``nest.rng_seed`` alone.

Output keys: build_s (Create + Connect + nest.Prepare()), presim_s
(nest.Run(t_presim)), sim_s (nest.Run(t_sim)), sim_cpu_s (its CPU time, all threads),
n_synapses (recurrent connections, counted before any device is connected), n_neurons,
rates (Hz per population over the t_sim window after the transient), cv_isi (mean over
neurons with >= 3 spikes in that window of std/mean of the ISIs, ddof 0), peak_rss_mib
(ru_maxrss of this process), peak_rss_build_mib (the same at the end of the build),
threads, seed, ...

OMP_WAIT_POLICY is PASSIVE unless set (busy-waiting barriers on a loaded 2-core machine
are ruinous).  NEST 3.10 stops at 134,217,726 connections per thread and synapse model:
full scale needs at least 3 threads.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

_T0 = time.perf_counter()

POPS = ["L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I"]
N_FULL = np.array([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948])
FULL_MEAN_RATES = np.array([0.943, 3.026, 4.368, 5.882, 7.733, 8.664, 1.096, 7.851])
CONN_PROBS = np.array(  # [target, source]
    [
        [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
        [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
        [0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0],
        [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
        [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
        [0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0],
        [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
        [0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443],
    ]
)
K_EXT = np.array([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100])
PSP_EXC_MEAN, WEIGHT_REL_STD, G = 0.15, 0.1, -4.0
DELAY_EXC_MEAN, DELAY_INH_MEAN, DELAY_REL_STD = 1.5, 0.75, 0.5
BG_RATE, DELAY_POISSON = 8.0, 1.5
V0_MEAN = [-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43]  # 'optimized'
V0_STD = [5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48]
NEURON = {"C_m": 250.0, "tau_m": 10.0, "tau_syn": 0.5, "t_ref": 2.0}
NEURON.update({"E_L": -65.0, "V_th": -50.0, "V_reset": -65.0})
DT = 0.1


def exc_inh(val_exc, val_inh):
    m = np.zeros((8, 8))
    m[:, 0::2], m[:, 1::2] = val_exc, val_inh
    return m


def num_synapses_from_conn_probs(conn_probs, popsize1, popsize2):
    prod = np.outer(popsize1, popsize2)
    return np.log(1.0 - conn_probs) / np.log((prod - 1.0) / prod)


def postsynaptic_potential_to_current(C_m, tau_m, tau_syn):
    sub = 1.0 / (tau_syn - tau_m)
    pre = tau_m * tau_syn / C_m * sub
    frac = (tau_m / tau_syn) ** sub
    return 1.0 / (pre * (frac**tau_m - frac**tau_syn))


def derive(N_scaling, K_scaling, poisson_input):
    """network.py ``__derive_parameters``: sizes, synapse numbers, weights, DC (pA)."""
    full_syn = num_synapses_from_conn_probs(CONN_PROBS, N_FULL, N_FULL)
    num_neurons = np.round(N_FULL * N_scaling).astype(int)
    num_synapses = np.round(full_syn * N_scaling * K_scaling).astype(int)
    ext_indegrees = np.round(K_EXT * K_scaling).astype(int)
    f = postsynaptic_potential_to_current(NEURON["C_m"], NEURON["tau_m"], NEURON["tau_syn"])
    psp = exc_inh(PSP_EXC_MEAN, PSP_EXC_MEAN * G)
    psp[0, 2] = 2.0 * PSP_EXC_MEAN
    w, w_ext = psp * f, PSP_EXC_MEAN * f
    tau = NEURON["tau_syn"]
    dc = np.zeros(8) if poisson_input else BG_RATE * K_EXT * w_ext * tau * 0.001
    if K_scaling != 1:
        indeg = full_syn / N_FULL[:, np.newaxis]
        rec = np.sum(w * indeg * FULL_MEAN_RATES, axis=1)
        dc = dc + 0.001 * tau * (1.0 - np.sqrt(K_scaling)) * rec
        if poisson_input:
            dc = dc + 0.001 * tau * (1.0 - np.sqrt(K_scaling)) * w_ext * K_EXT * BG_RATE
        w, w_ext = w / np.sqrt(K_scaling), w_ext / np.sqrt(K_scaling)
    return num_neurons, num_synapses, ext_indegrees, w, w_ext, dc


def build(nest, a):
    poisson_input = not a.poisson_as_dc
    num_neurons, num_synapses, ext_indegrees, w, w_ext, dc = derive(a.N, a.K, poisson_input)
    nest.ResetKernel()
    nest.set(resolution=DT, local_num_threads=a.threads, rng_seed=a.seed, print_time=False)
    pops = []
    for i in range(8):
        p = nest.Create("iaf_psc_exp", int(num_neurons[i]))
        p.set(
            C_m=NEURON["C_m"],
            tau_m=NEURON["tau_m"],
            tau_syn_ex=NEURON["tau_syn"],
            tau_syn_in=NEURON["tau_syn"],
            E_L=NEURON["E_L"],
            V_th=NEURON["V_th"],
            V_reset=NEURON["V_reset"],
            t_ref=NEURON["t_ref"],
            I_e=float(dc[i]),
        )
        p.set(V_m=nest.random.normal(mean=V0_MEAN[i], std=V0_STD[i]))
        pops.append(p)
    delay_mean = exc_inh(DELAY_EXC_MEAN, DELAY_INH_MEAN)
    for i, target in enumerate(pops):
        for j, source in enumerate(pops):
            if num_synapses[i][j] >= 0.0:
                wm = w[i][j]
                wmin, wmax = (-np.inf, 0.0) if wm < 0 else (0.0, np.inf)
                syn = {
                    "synapse_model": "static_synapse",
                    "weight": nest.math.redraw(
                        nest.random.normal(mean=wm, std=abs(wm * WEIGHT_REL_STD)),
                        min=wmin,
                        max=wmax,
                    ),
                    "delay": nest.math.redraw(
                        nest.random.normal(
                            mean=delay_mean[i][j], std=delay_mean[i][j] * DELAY_REL_STD
                        ),
                        min=DT,
                        max=np.inf,
                    ),
                }
                nest.Connect(
                    source,
                    target,
                    conn_spec={"rule": "fixed_total_number", "N": int(num_synapses[i][j])},
                    syn_spec=syn,
                )
    n_syn = int(nest.num_connections)
    if poisson_input:
        bg = nest.Create("poisson_generator", n=8)
        bg.rate = (BG_RATE * ext_indegrees).astype(float)
        for i, target in enumerate(pops):
            nest.Connect(
                bg[i],
                target,
                "all_to_all",
                {"synapse_model": "static_synapse", "weight": w_ext, "delay": DELAY_POISSON},
            )
    recorders = []
    for p in pops:
        sr = nest.Create("spike_recorder")
        nest.Connect(p, sr)
        recorders.append(sr)
    return pops, recorders, n_syn, num_neurons, dc


def _cpu_s():
    """CPU seconds of this process (all threads), user + system."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cv_isi(times, ids, min_spikes=3):
    """Mean over neurons of std(ISI)/mean(ISI), ddof 0 (neurosim.analysis.cv_isi)."""
    if not len(times):
        return float("nan")
    order = np.lexsort((times, ids))
    t, i = times[order], ids[order]
    cvs = []
    for nid in np.unique(i):
        tt = t[i == nid]
        if len(tt) >= min_spikes:
            isi = np.diff(tt)
            cvs.append(isi.std() / isi.mean())
    return float(np.mean(cvs)) if cvs else float("nan")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--N", type=float, default=0.1, help="N_scaling")
    ap.add_argument("--K", type=float, default=0.1, help="K_scaling")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=55)
    ap.add_argument("--t-presim", type=float, default=500.0, help="transient (ms)")
    ap.add_argument("--t-sim", type=float, default=1000.0, help="measured window (ms)")
    ap.add_argument("--poisson-as-dc", action="store_true", help="poisson_input False")
    a = ap.parse_args(argv)

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("PYNEST_QUIET", "1")
    saved = os.dup(1)
    os.dup2(2, 1)  # NEST's banner and log away from our one JSON line
    try:
        import nest

        try:
            nest.verbosity = nest.VerbosityLevel.ERROR
        except AttributeError:  # NEST < 3.10
            nest.set_verbosity("M_ERROR")
        t_import = time.perf_counter() - _T0
        t0 = time.perf_counter()
        pops, recorders, n_syn, num_neurons, dc = build(nest, a)
        nest.Prepare()
        t1 = time.perf_counter()
        rss_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        nest.Run(a.t_presim)
        t2, c2 = time.perf_counter(), _cpu_s()
        nest.Run(a.t_sim)
        t3, c3 = time.perf_counter(), _cpu_s()
        nest.Cleanup()
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    rates, cvs, spikes = {}, {}, 0
    for name, p, sr, n in zip(POPS, pops, recorders, num_neurons, strict=True):
        ev = sr.get("events")
        t = np.asarray(ev["times"], np.float64)
        ids = np.asarray(ev["senders"], np.int64) - p[0].global_id
        sel = t > a.t_presim
        spikes += int(len(t))
        rates[name] = round(float(sel.sum()) / n / (a.t_sim * 1e-3), 4)
        cvs[name] = round(cv_isi(t[sel], ids[sel]), 4)
    out = {
        "simulator": f"nest-{nest.__version__}",
        "N": a.N,
        "K": a.K,
        "threads": a.threads,
        "seed": a.seed,
        "poisson_as_dc": a.poisson_as_dc,
        "t_presim_ms": a.t_presim,
        "t_sim_ms": a.t_sim,
        "build_s": round(t1 - t0, 4),
        "presim_s": round(t2 - t1, 4),
        "sim_s": round(t3 - t2, 4),
        "sim_cpu_s": round(c3 - c2, 4),
        "n_neurons": int(num_neurons.sum()),
        "n_synapses": n_syn,
        "n_spikes": spikes,
        "rates": rates,
        "cv_isi": cvs,
        "dc_pA": [round(float(x), 4) for x in dc],
        "peak_rss_build_mib": round(rss_build, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "import_s": round(t_import, 4),
        "total_s": round(time.perf_counter() - _T0, 4),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
