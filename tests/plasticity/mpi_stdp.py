"""Run under mpiexec by test_mpi_plastic.py: a small Brunel-type network with STDP on
E->E and tsodyks_synapse on E->I; each rank writes its synapses' final weights, and the
recording holds samples of some of them and every final weight.

``python -m tests.plasticity.mpi_stdp OUT BACKEND [LEARNED.h5]``: with a third argument,
the plastic projections start from that recording's final weights, and each rank writes
its weights before running."""

import sys

import numpy as np

import neurosim
from neurosim.plasticity import get_weights

NET = {
    "simulation": {"dt": 0.1, "duration": 300.0, "seed": 3},
    "populations": {
        "E": {
            "model": "iaf_psc_delta",
            "size": 80,
            "params": {
                "tau_m": 20.0,
                "V_th": 20.0,
                "V_reset": 10.0,
                "E_L": 0.0,
                "t_ref": 2.0,
                "tau_minus": 25.0,
            },
            "initial": {"V_m": {"uniform": [0.0, 20.0]}},
        },
        "I": {
            "model": "iaf_psc_exp",
            "size": 20,
            "params": {"V_th": -55.0},
        },
        "ext": {"model": "poisson_generator", "params": {"rate": 20000.0}},
    },
    "record": {
        "spikes": ["E"],
        "weights": [
            {"projection": "E->E", "synapses": "5:900:11", "interval": 2.5},
            {"projection": "E->I", "synapses": [0, 7, 150, 199]},
        ],
    },
    "projections": [
        {"pre": "ext", "post": "E", "rule": "all_to_all", "weight": 0.12, "delay": 0.1},
        {"pre": "ext", "post": "I", "rule": "all_to_all", "weight": 25.0, "delay": 0.1},
        {
            "pre": "E",
            "post": "E",
            "rule": {"fixed_indegree": {"k": 12}},
            "weight": 0.5,
            "delay": {"uniform": [1.0, 2.5]},
            "allow_multapses": False,
            "synapse": {
                "model": "stdp_synapse",
                "params": {"lambda": 0.05, "Wmax": 2.0, "mu_plus": 0.0, "mu_minus": 1.0},
            },
        },
        {
            "pre": "E",
            "post": "I",
            "rule": {"fixed_indegree": {"k": 10}},
            "weight": 300.0,
            "delay": 1.2,
            "allow_multapses": False,
            "synapse": {"model": "tsodyks_synapse", "params": {"U": 0.4, "tau_fac": 20.0}},
        },
        {
            "pre": "I",
            "post": "E",
            "rule": {"fixed_indegree": {"k": 5}},
            "weight": -1.0,
            "delay": 1.5,
        },
    ],
}


def main(out, backend, learned=None):
    import copy

    from neurosim.network.spec import build_spec

    net = copy.deepcopy(NET)
    if learned:
        for p in net["projections"]:
            if "synapse" in p:
                p["weight"] = {"from_file": learned}
    spec = build_spec(net, path=f"{out}/net.yaml")
    sim = neurosim.Simulation(spec, output=f"{out}/o.h5", backend=backend, overwrite=True)
    if not learned:
        sim.run("300 ms")
    r = sim.comm.rank
    res = {}
    for name in ("E->E", "E->I"):
        pre, post, w = get_weights(sim, name)
        key = name.replace("->", "")
        res[f"{key}_pre"], res[f"{key}_post"], res[f"{key}_w"] = pre, post, w
    np.savez(f"{out}/w.rank{r}.npz", **res)


if __name__ == "__main__":
    main(*sys.argv[1:])
