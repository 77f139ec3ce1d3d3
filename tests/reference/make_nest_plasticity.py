"""Reference data for tests/plasticity/test_vs_nest.py, made with NEST 3.x.

Run in an environment with NEST (``python tests/reference/make_nest_plasticity.py``);
writes ``tests/reference/nest_plasticity.json``.  Protocols (dt = 0.1 ms):

- ``stdp``: spike_generator -> parrot_neuron (pre) and spike_generator ->
  parrot_neuron (post); pre parrot -> post parrot by ``stdp_synapse`` onto port 1
  (ignored by the parrot), so that pre and post spike times are imposed.  Spike pairs
  at several intervals (multiplicative and additive, two delays) and Poisson pre/post
  trains (drawn here with numpy, on the dt grid).  Final weights.
- ``stdp_nn``: the same set-up with NEST's nearest-neighbour models
  (``stdp_nn_symm_synapse``, ``stdp_nn_restr_synapse``, ``stdp_nn_pre_centered_synapse``):
  single pairs, bursts of three pre and three post spikes (where the pairing schemes
  differ), a pre spike exactly ``delay`` after a post spike (NEST discards that pair)
  and Poisson trains; and sparse trains (gaps of more than 400 ms, beyond the decay
  tables of neurosim's kernel) for these and ``stdp_synapse``.  Final weights.
- ``tsodyks``: spike_generator -> parrot -> ``tsodyks_synapse`` -> iaf_psc_exp
  (tau_syn_ex = tau_psc), depressing and facilitating; final ``x``, ``y``, ``u`` of the
  synapse and the target's ``V_m`` every 1 ms.
"""

import json
import os

import nest
import numpy as np

DT = 0.1
T_SIM = 2000.0
HERE = os.path.dirname(os.path.abspath(__file__))


def grid(times):
    t = np.unique(np.round(np.asarray(times) / DT).astype(np.int64))
    return [float(x) * DT for x in t if x > 0]


def poisson(rng, rate, t_stop):
    n = rng.poisson(rate * t_stop / 1000.0)
    return grid(np.sort(rng.uniform(0.0, t_stop, n)))


def stdp_cases():
    cases = []
    base = {"tau_plus": 20.0, "lambda": 0.05, "alpha": 1.1, "Wmax": 100.0}
    for mu in (1.0, 0.0):
        for delay in (1.0, 3.0):
            for dtau in (-20.0, -10.0, -4.0, -1.0, 1.0, 4.0, 10.0, 20.0):
                pre = grid([20.0 + 100.0 * i for i in range(15)])
                post = grid([20.0 + 100.0 * i + dtau for i in range(15)])
                p = dict(base, mu_plus=mu, mu_minus=mu)
                cases.append(
                    dict(
                        kind="pairs",
                        pre=pre,
                        post=post,
                        delay=delay,
                        w0=50.0,
                        params=p,
                        tau_minus=20.0 if dtau > 0 else 30.0,
                    )
                )
    rng = np.random.default_rng(12345)
    for i in range(6):
        mu = 1.0 if i % 2 == 0 else 0.0
        p = {
            "tau_plus": 16.8,
            "lambda": 0.02,
            "alpha": 0.9,
            "Wmax": 60.0,
            "mu_plus": mu,
            "mu_minus": mu,
        }
        cases.append(
            dict(
                kind="poisson",
                pre=poisson(rng, 20.0, T_SIM - 50),
                post=poisson(rng, 25.0, T_SIM - 50),
                delay=[1.0, 1.5, 2.0][i % 3],
                w0=30.0,
                params=p,
                tau_minus=33.7,
            )
        )
    return cases


NN_MODELS = ("stdp_nn_symm_synapse", "stdp_nn_restr_synapse", "stdp_nn_pre_centered_synapse")


def stdp_nn_cases():
    cases = []
    rng = np.random.default_rng(2468)
    base = {"tau_plus": 15.0, "lambda": 0.04, "alpha": 1.2, "Wmax": 80.0}
    for model in NN_MODELS:
        for delay in (1.0, 3.0):
            trains = [("pairs", [20.0], [20.0 + dtau]) for dtau in (-10.0, -2.0, 2.0, 10.0)] + [
                ("bursts", [20.0, 24.0, 31.0], [22.0 + s, 29.0 + s, 35.0 + s]) for s in (-5.0, 5.0)
            ]
            # a pre spike exactly delay after a post spike: that pair is discarded
            trains.append(("coincide", [10.0, 20.0 + delay], [20.0]))
            for kind, pre, post in trains:
                p = dict(base, mu_plus=1.0, mu_minus=1.0)
                cases.append(
                    dict(
                        kind=kind,
                        model=model,
                        pre=grid([t + 100.0 * i for i in range(15) for t in pre]),
                        post=grid([t + 100.0 * i for i in range(15) for t in post]),
                        delay=delay,
                        w0=40.0,
                        params=p,
                        tau_minus=25.0,
                    )
                )
        for i in range(4):
            mu = 1.0 if i % 2 == 0 else 0.0
            p = dict(base, mu_plus=mu, mu_minus=mu)
            if model == "stdp_nn_pre_centered_synapse" and i == 3:
                p["Kplus"] = 0.5
            cases.append(
                dict(
                    kind="poisson",
                    model=model,
                    pre=poisson(rng, 30.0, T_SIM - 50),
                    post=poisson(rng, 35.0, T_SIM - 50),
                    delay=[1.0, 2.0][i % 2],
                    w0=40.0,
                    params=p,
                    tau_minus=18.0,
                )
            )
    for model in ("stdp_synapse", *NN_MODELS):
        for delay in (1.0, 2.5):
            cases.append(
                dict(
                    kind="sparse",
                    model=model,
                    pre=grid([20.0, 700.0, 1500.0, 1503.0]),
                    post=grid([25.0, 690.0, 1510.0, 1900.0]),
                    delay=delay,
                    w0=40.0,
                    params=dict(base, mu_plus=1.0, mu_minus=1.0),
                    tau_minus=25.0,
                )
            )
    return cases


def tsodyks_cases():
    rng = np.random.default_rng(777)
    out = []
    for params in (
        {"U": 0.5, "tau_psc": 3.0, "tau_rec": 800.0, "tau_fac": 0.0},
        {"U": 0.1, "tau_psc": 3.0, "tau_rec": 100.0, "tau_fac": 1000.0},
        {"U": 0.3, "tau_psc": 2.0, "tau_rec": 200.0, "tau_fac": 50.0},
    ):
        pre = sorted(
            set(grid([10.0 + 25.0 * i for i in range(30)]) + poisson(rng, 15.0, T_SIM - 50))
        )
        out.append(dict(pre=pre, params=params, delay=1.5, weight=250.0))
    return out


def run_stdp(cases):
    nest.ResetKernel()
    nest.resolution = DT
    nest.local_num_threads = 1
    conns = []
    for c in cases:
        sg_pre = nest.Create("spike_generator", params={"spike_times": c["pre"]})
        sg_post = nest.Create("spike_generator", params={"spike_times": c["post"]})
        a = nest.Create("parrot_neuron")
        b = nest.Create("parrot_neuron", params={"tau_minus": c["tau_minus"]})
        nest.Connect(sg_pre, a, syn_spec={"delay": 1.0})
        nest.Connect(sg_post, b, syn_spec={"delay": 1.0})
        syn = dict(
            c["params"],
            synapse_model=c.get("model", "stdp_synapse"),
            weight=c["w0"],
            delay=c["delay"],
            receptor_type=1,
        )
        nest.Connect(a, b, syn_spec=syn)
        conns.append(nest.GetConnections(a, b))
    nest.Simulate(T_SIM)
    for c, conn in zip(cases, conns, strict=True):
        c["w_final"] = float(conn.get("weight"))


def run_tsodyks(cases):
    nest.ResetKernel()
    nest.resolution = DT
    nest.local_num_threads = 1
    conns, mms = [], []
    for c in cases:
        sg = nest.Create("spike_generator", params={"spike_times": c["pre"]})
        a = nest.Create("parrot_neuron")
        post = nest.Create(
            "iaf_psc_exp", params={"tau_syn_ex": c["params"]["tau_psc"], "V_th": 1e6}
        )
        mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": 1.0})
        nest.Connect(sg, a, syn_spec={"delay": 1.0})
        syn = dict(
            c["params"], synapse_model="tsodyks_synapse", weight=c["weight"], delay=c["delay"]
        )
        nest.Connect(a, post, syn_spec=syn)
        nest.Connect(mm, post)
        conns.append(nest.GetConnections(a, post))
        mms.append(mm)
    nest.Simulate(T_SIM)
    for c, conn, mm in zip(cases, conns, mms, strict=True):
        st = conn.get(["x", "y", "u"])
        c.update({k: float(st[k]) for k in ("x", "y", "u")})
        ev = mm.get("events")
        c["V_times"] = [float(t) for t in ev["times"]]
        c["V_m"] = [float(v) for v in ev["V_m"]]


def main():
    stdp, nn, tsod = stdp_cases(), stdp_nn_cases(), tsodyks_cases()
    run_stdp(stdp)
    run_stdp(nn)
    run_tsodyks(tsod)
    out = {
        "nest_version": nest.__version__,
        "dt": DT,
        "T": T_SIM,
        "stdp": stdp,
        "stdp_nn": nn,
        "tsodyks": tsod,
    }
    with open(os.path.join(HERE, "nest_plasticity.json"), "w") as f:
        json.dump(out, f)
    print(f"{len(stdp)} stdp cases, {len(nn)} stdp_nn cases, {len(tsod)} tsodyks cases")


if __name__ == "__main__":
    main()
