"""Brian2 peer implementation of the CUBA, COBA and Brunel 2000 (model A) benchmark networks.

Usage (with the peers venv, see tests/reference/README.md):

    /work/peers-venv/bin/python benchmarks/peers/brian2_net.py {cuba,coba,brunel2000} \
        --seed S --duration 1.0 [--target {cython,cpp_standalone,numpy}] [--threads T] \
        [--no-synapses] [--method exponential_euler] [--spikes-out file.npz] [--build-dir DIR]

Prints ONE JSON line on stdout:
    {"simulator", "network", "build_s", "sim_s", "n_synapses", "rates": {pop: Hz},
     "peak_rss_mib", ...}
plus extra keys (target, seed, duration, threads, compile_s, total_s, n_neurons, ...).

Timing definitions
  runtime targets (cython, numpy): build_s = construction of groups/synapses (connectivity is
    created eagerly) + a 0 ms run that generates/compiles/loads all code objects; sim_s = the
    wall time of Network.run(duration).
  cpp_standalone: build_s = wall time of the binary minus its own simulation time (loading
    arrays, creating synapses in C++); sim_s = the binary's own measure of the run
    (last_run_info.txt); compile_s = code generation + make (reported separately, not in
    build_s).  peak_rss_mib is the larger of this Python process and the binary (measured
    with a wrapper, the compiler is excluded).
--no-synapses: same neurons, initial state and external input, no recurrent synapses.
--spikes-out: npz with, per population P, arrays P_i (neuron index within P, int32) and
    P_t (spike time, ms, float64), plus N_P and duration_ms.

The network definitions are the NETWORKS dict in benchmarks/peers/nest_net.py (shared).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nest_net import NETWORKS  # noqa: E402  (definitions live in nest_net.py; nest is imported lazily there)

_T0 = time.perf_counter()

RSS_WRAPPER = r"""
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(rc)
"""


def build_network(b2, name, seed, no_synapses, method=None):
    """Create the network in the current Brian2 device; returns (objects, pops, n_syn_fn)."""
    from brian2 import NeuronGroup, PoissonInput, SpikeMonitor, Synapses, ms, mV, nS, pF

    d = NETWORKS[name]
    b2.seed(seed)
    rng = np.random.default_rng(seed)  # used only for the Brunel fixed in-degree connectivity
    objs = []
    if name == "cuba":
        p = d["neuron"]
        eqs = """
        dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
        dge/dt = -ge/taue : volt
        dgi/dt = -gi/taui : volt
        """
        ns = dict(
            taum=p["tau_m"] * ms,
            taue=p["tau_syn_ex"] * ms,
            taui=p["tau_syn_in"] * ms,
            El=p["E_L"] * mV,
            Vt=p["V_th"] * mV,
            Vr=p["V_reset"] * mV,
            we=d["w_e_mV"] * mV,
            wi=d["w_i_mV"] * mV,
        )
        P = NeuronGroup(
            d["N_E"] + d["N_I"],
            eqs,
            threshold="v>Vt",
            reset="v = Vr",
            refractory=p["t_ref"] * ms,
            method="exact",
            namespace=ns,
        )
        P.v = "Vr + rand() * (Vt - Vr)"
        P.ge = 0 * mV
        P.gi = 0 * mV
    elif name == "coba":
        p = d["neuron"]
        eqs = """
        dv/dt = (gl*(El-v) + ge*(Ee-v) + gi*(Ei-v))/Cm : volt (unless refractory)
        dge/dt = -ge/taue : siemens
        dgi/dt = -gi/taui : siemens
        """
        ns = dict(
            Cm=p["C_m"] * pF,
            gl=p["g_L"] * nS,
            El=p["E_L"] * mV,
            Ee=p["E_ex"] * mV,
            Ei=p["E_in"] * mV,
            taue=p["tau_syn_ex"] * ms,
            taui=p["tau_syn_in"] * ms,
            Vt=p["V_th"] * mV,
            Vr=p["V_reset"] * mV,
            we=d["w_e_nS"] * nS,
            wi=d["w_i_nS"] * nS,
        )
        P = NeuronGroup(
            d["N_E"] + d["N_I"],
            eqs,
            threshold="v>Vt",
            reset="v = Vr",
            refractory=p["t_ref"] * ms,
            method=method or d["brian2_method"],
            namespace=ns,
        )
        P.v = "Vr + rand() * (Vt - Vr)"
        ge0, gi0 = d["init_g_ex_nS"], d["init_g_in_nS"]
        P.ge = f"clip(({ge0['mean']} + {ge0['std']}*randn())*nS, 0*nS, inf*nS)"
        P.gi = f"clip(({gi0['mean']} + {gi0['std']}*randn())*nS, 0*nS, inf*nS)"
    elif name == "brunel2000":
        p = d["neuron"]
        eqs = "dv/dt = -v/taum : volt (unless refractory)"
        ns = dict(
            taum=p["tau_m"] * ms,
            theta=p["V_th"] * mV,
            Vr=p["V_reset"] * mV,
            J=d["J_mV"] * mV,
            JI=-d["g"] * d["J_mV"] * mV,
        )
        P = NeuronGroup(
            d["N_E"] + d["N_I"],
            eqs,
            threshold="v>theta",
            reset="v = Vr",
            refractory=p["t_ref"] * ms,
            method="exact",
            namespace=ns,
        )
        P.v = f"({d['V0_low_mV']} + rand()*{d['V0_high_mV'] - d['V0_low_mV']})*mV"
        # input arriving during refractoriness is discarded (as NEST iaf_psc_delta)
        ext = PoissonInput(
            P,
            "v",
            N=d["C_E"],
            rate=d["nu_ext_per_synapse_Hz"] * b2.Hz,
            weight="J*int(not_refractory)",
        )
        objs.append(ext)
    else:
        raise ValueError(name)
    NE = d["N_E"]
    PE, PI = P[:NE], P[NE:]
    syns = []
    if not no_synapses:
        if name in ("cuba", "coba"):
            Ce = Synapses(P, P, on_pre="ge += we", namespace=ns)
            Ci = Synapses(P, P, on_pre="gi += wi", namespace=ns)
            # pairwise Bernoulli, autapses allowed (Brian2's example); no delay
            Ce.connect(f"i<{NE}", p=d["p"])
            Ci.connect(f"i>={NE}", p=d["p"])
            syns = [Ce, Ci]
        else:
            N = d["N_E"] + d["N_I"]
            post_e = np.repeat(np.arange(N, dtype=np.int32), d["C_E"])
            pre_e = rng.integers(0, d["N_E"], size=N * d["C_E"], dtype=np.int32)
            post_i = np.repeat(np.arange(N, dtype=np.int32), d["C_I"])
            pre_i = rng.integers(d["N_E"], N, size=N * d["C_I"], dtype=np.int32)
            Ce = Synapses(
                P,
                P,
                on_pre="v_post += J*int(not_refractory_post)",
                delay=d["D_ms"] * ms,
                namespace=ns,
            )
            Ci = Synapses(
                P,
                P,
                on_pre="v_post += JI*int(not_refractory_post)",
                delay=d["D_ms"] * ms,
                namespace=ns,
            )
            Ce.connect(i=pre_e, j=post_e)
            Ci.connect(i=pre_i, j=post_i)
            del pre_e, post_e, pre_i, post_i
            syns = [Ce, Ci]
    mE, mI = SpikeMonitor(PE), SpikeMonitor(PI)
    objs += [P, mE, mI] + syns
    return objs, {"E": (mE, NE), "I": (mI, d["N_I"])}, syns


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("network", choices=sorted(NETWORKS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration", type=float, default=1.0, help="seconds of biological time")
    ap.add_argument("--target", choices=["cython", "cpp_standalone", "numpy"], default="cython")
    ap.add_argument("--threads", type=int, default=1, help="OpenMP threads (cpp_standalone only)")
    ap.add_argument("--no-synapses", action="store_true")
    ap.add_argument(
        "--method",
        default=None,
        help="state updater for coba (default: the definition's, forward Euler); "
        "exponential_euler integrates the membrane exactly for the step's conductances, "
        "with one exp per neuron and step, as neurosim's closed form does",
    )
    ap.add_argument("--spikes-out", default=None)
    ap.add_argument(
        "--build-dir",
        default=None,
        help="cpp_standalone project dir (default "
        "/tmp/neurosim_brian2/<network>[_nosyn]"
        "_t<threads>; reused so that make is incremental)",
    )
    a = ap.parse_args(argv)

    import brian2 as b2
    from brian2 import Network, defaultclock, device, ms, prefs, set_device

    b2.BrianLogger.log_level_error()
    t_import = time.perf_counter()
    standalone = a.target == "cpp_standalone"
    if standalone:
        bdir = a.build_dir or os.path.join(
            "/tmp/neurosim_brian2",
            f"{a.network}{'_nosyn' if a.no_synapses else ''}_t{a.threads}"
            + (f"_{a.method}" if a.method else ""),
        )
        os.makedirs(bdir, exist_ok=True)
        set_device("cpp_standalone", build_on_run=False, directory=bdir)
        prefs.devices.cpp_standalone.openmp_threads = a.threads if a.threads > 1 else 0
        rss_file = os.path.join(os.path.abspath(bdir), "peak_rss_kib.txt")
        prefs.devices.cpp_standalone.run_cmd_unix = [
            sys.executable,
            "-c",
            RSS_WRAPPER,
            rss_file,
            "./main",
        ]
    else:
        prefs.codegen.target = a.target
    defaultclock.dt = NETWORKS[a.network]["dt_ms"] * ms

    t0 = time.perf_counter()
    objs, pops, syns = build_network(b2, a.network, a.seed, a.no_synapses, a.method)
    net = Network(*objs)
    dur = a.duration * 1000 * ms
    extra = {}
    if standalone:
        net.run(dur)
        t1 = time.perf_counter()
        device.build(directory=bdir, compile=True, run=False, with_output=False)
        t2 = time.perf_counter()
        device.run(directory=bdir, with_output=False)
        t3 = time.perf_counter()
        sim_s = float(device._last_run_time)
        build_s = (t3 - t2) - sim_s
        extra["compile_s"] = t2 - t1
        extra["python_construct_codegen_s"] = t1 - t0
        with open(rss_file) as f:
            child_rss = int(f.read()) / 1024.0
    else:
        net.run(0 * ms)  # code generation / compilation / loading
        t1 = time.perf_counter()
        net.run(dur)
        t2 = time.perf_counter()
        build_s, sim_s = t1 - t0, t2 - t1
        child_rss = 0.0
    n_syn = int(sum(len(s) for s in syns)) if syns else 0
    T = a.duration
    rates = {}
    arrays = {}
    for pop, (mon, n) in pops.items():
        i = np.asarray(mon.i[:], dtype=np.int32)
        t = np.asarray(mon.t[:] / ms, dtype=np.float64)
        rates[pop] = len(i) / (n * T)
        arrays[f"{pop}_i"] = i
        arrays[f"{pop}_t"] = t
        arrays[f"N_{pop}"] = np.int64(n)
    if a.spikes_out:
        np.savez_compressed(a.spikes_out, duration_ms=np.float64(a.duration * 1000), **arrays)
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    out = {
        "simulator": f"brian2-{b2.__version__}",
        "network": a.network,
        "build_s": round(build_s, 4),
        "sim_s": round(sim_s, 4),
        "n_synapses": n_syn,
        "rates": {k: round(v, 4) for k, v in rates.items()},
        "peak_rss_mib": round(max(self_rss, child_rss), 1),
        "target": a.target,
        "method": a.method or NETWORKS[a.network].get("brian2_method", "exact"),
        "threads": a.threads if standalone else 1,
        "seed": a.seed,
        "duration": a.duration,
        "no_synapses": a.no_synapses,
        "n_neurons": int(sum(n for _, n in pops.values())),
        "import_s": round(t_import - _T0, 4),
        "total_s": round(time.perf_counter() - _T0, 4),
    }
    out.update({k: round(v, 4) for k, v in extra.items()})
    if standalone:
        out["python_rss_mib"] = round(self_rss, 1)
        out["binary_rss_mib"] = round(child_rss, 1)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
