"""ncps side of benchmarks/ltc_vs_ncps.py: time one ncps LTC or wired CfC step, print JSON.

Runs in the ncps venv (torch CPU + ncps 1.0.1, see tests/reference/README_ncps.md):

    /work/ncps-venv/bin/python benchmarks/peers/ncps_step.py --model model.npz \
        [--cell ltc|cfc] [--unfolds 6] [--dtype float32|float64] [--min-s 1.0] \
        [--max-steps 200] [--repeats 3] [--check-steps 4] [--states-out h.npz] \
        [--wiring given|autoncp]

``model.npz`` is a sparse LTC model as written by ltc_vs_ncps.py: ``N, K, n_out``,
recurrent synapses ``pre, post`` with raw ncps parameters ``w, sigma, mu, erev``,
sensory ``s_pre, s_post, s_w, s_sigma, s_mu, s_erev``, per neuron ``cm, gleak, vleak``,
``input_w, input_b, output_w, output_b`` and an input sequence ``inputs`` [T, K].

* ``--cell ltc``: ``ncps.torch.LTC(K, wiring, ode_unfolds=U)`` (implicit constraints,
  i.e. softplus, the LTC default), the wiring's adjacency = the model's synapses, and
  every parameter overwritten from the file (dense N x N tensors; entries without a
  synapse are masked by ncps's sparsity_mask).
* ``--cell cfc``: ``ncps.torch.CfC(K, wiring, mode="default")`` (WiredCfCCell), default
  initialisation (timing only).  ``--wiring autoncp`` uses ``AutoNCP(N, n_out)`` (the
  real 3-layer NCP; its adjacency is checked against the file); ``given`` uses a plain
  ``Wiring`` with the file's adjacency: ncps's WiredCfCCell then has one layer whose
  recurrent weights are dense (it masks only the sensory->layer inputs).

Protocol: batch 1, one thread (torch.set_num_threads(1)), ``torch.inference_mode``.
The first ``--check-steps`` steps from h = 0 with the file's inputs are run through the
sequence module (warm-up; the LTC's hidden state after them goes to --states-out for
the parity check against neurosim).  Then ``repeats`` timed calls of the sequence
module (``LTC.forward`` / ``CfC.forward``, return_sequences=False) over S steps each,
S chosen so that a call lasts about --min-s (at most --max-steps); ms per step = best
call / S (CPU time, process_time, likewise as ``cpu_ms_per_step``).  ``--repeats 0``:
the warm-up steps themselves are timed (for models that take seconds per step;
includes first-call allocations).
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass

from ncps.torch import LTC, CfC  # noqa: E402
from ncps.wirings import AutoNCP, Wiring  # noqa: E402


class GivenWiring(Wiring):
    """A wiring with a given adjacency (ncps's FullyConnected would draw 1e8 polarities
    in a Python loop for 10,000 neurons)."""

    def __init__(self, N, K, n_out, pre, post, sign, s_pre, s_post, s_sign):
        super().__init__(N)
        self.adjacency_matrix[pre, post] = sign
        self._sens = (K, s_pre, s_post, s_sign)
        self.set_output_dim(n_out)

    def set_input_dim(self, input_dim):
        K, s_pre, s_post, s_sign = self._sens
        assert input_dim == K, (input_dim, K)
        self.input_dim = input_dim
        self.sensory_adjacency_matrix = np.zeros([input_dim, self.units], dtype=np.int32)
        self.sensory_adjacency_matrix[s_pre, s_post] = s_sign


def _sign(e):
    s = np.sign(e).astype(np.int32)
    s[s == 0] = 1  # a synapse with E_rev = 0 still exists
    return s


def build_ltc(m, unfolds, dtype):
    N, K, n_out = int(m["N"]), int(m["K"]), int(m["n_out"])
    wiring = GivenWiring(
        N,
        K,
        n_out,
        m["pre"],
        m["post"],
        _sign(m["erev"]),
        m["s_pre"],
        m["s_post"],
        _sign(m["s_erev"]),
    )
    model = LTC(K, wiring, return_sequences=False, batch_first=True, ode_unfolds=unfolds)
    model = model.to(dtype)
    p = model.rnn_cell._params

    def dense(key, pre, post, vals, fill=0.0):
        t = p[key].data
        t.fill_(fill)
        t[torch.from_numpy(np.asarray(pre)), torch.from_numpy(np.asarray(post))] = torch.from_numpy(
            np.asarray(vals, np.float64)
        ).to(dtype)

    with torch.no_grad():
        pre, post, spre, spost = m["pre"], m["post"], m["s_pre"], m["s_post"]
        for key, vals, fill in (
            ("w", m["w"], 0.0),
            ("sigma", m["sigma"], 1.0),
            ("mu", m["mu"], 0.0),
            ("erev", m["erev"], 0.0),
            ("sparsity_mask", np.ones(len(pre)), 0.0),
        ):
            dense(key, pre, post, vals, fill)
        for key, vals, fill in (
            ("sensory_w", m["s_w"], 0.0),
            ("sensory_sigma", m["s_sigma"], 1.0),
            ("sensory_mu", m["s_mu"], 0.0),
            ("sensory_erev", m["s_erev"], 0.0),
            ("sensory_sparsity_mask", np.ones(len(spre)), 0.0),
        ):
            dense(key, spre, spost, vals, fill)
        for key in ("cm", "gleak", "vleak", "input_w", "input_b", "output_w", "output_b"):
            if key in p:
                p[key].data.copy_(torch.from_numpy(np.asarray(m[key], np.float64)).to(dtype))
    model.eval()
    return model


def build_cfc(m, wiring_kind, dtype):
    N, K, n_out = int(m["N"]), int(m["K"]), int(m["n_out"])
    if wiring_kind == "autoncp":
        wiring = AutoNCP(N, n_out)
        wiring.build(K)
        adj = np.zeros((N, N), np.int32)
        adj[m["pre"], m["post"]] = 1
        assert np.array_equal(adj, np.abs(wiring.adjacency_matrix)), "AutoNCP != the file"
    else:
        wiring = GivenWiring(
            N,
            K,
            n_out,
            m["pre"],
            m["post"],
            _sign(m["erev"]),
            m["s_pre"],
            m["s_post"],
            _sign(m["s_erev"]),
        )
    torch.manual_seed(0)
    model = CfC(K, wiring, return_sequences=False, batch_first=True, mode="default")
    model = model.to(dtype)
    model.eval()
    return model, wiring.num_layers


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--cell", choices=["ltc", "cfc"], default="ltc")
    ap.add_argument("--unfolds", type=int, default=6)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--wiring", choices=["given", "autoncp"], default="given")
    ap.add_argument("--min-s", type=float, default=1.0)
    ap.add_argument("--max-steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--check-steps", type=int, default=4)
    ap.add_argument("--states-out", default=None)
    a = ap.parse_args(argv)
    dtype = getattr(torch, a.dtype)
    torch.set_default_dtype(dtype)
    with np.load(a.model, allow_pickle=False) as z:
        m = {k: z[k] for k in z.files}
    inputs = np.asarray(m["inputs"], np.float64)
    t0 = time.perf_counter()
    layers = None
    if a.cell == "ltc":
        model = build_ltc(m, a.unfolds, dtype)
    else:
        model, layers = build_cfc(m, a.wiring, dtype)
    build_s = time.perf_counter() - t0

    def seq(k0, n):
        idx = np.arange(k0, k0 + n) % len(inputs)
        return torch.from_numpy(inputs[idx][None]).to(dtype)

    with torch.inference_mode():
        c = max(1, a.check_steps)
        t0, c0 = time.perf_counter(), time.process_time()
        out = model(seq(0, c))
        h = out[1]
        est = (time.perf_counter() - t0) / c
        est_cpu = (time.process_time() - c0) / c
        if a.states_out and a.cell == "ltc":
            np.savez(a.states_out, h=h[0].double().numpy(), steps=c)
        if a.repeats <= 0:  # very slow models: the warm-up steps are the measurement
            S, best, best_cpu = c, est * c, est_cpu * c
        else:
            S = int(min(a.max_steps, max(1, round(a.min_s / max(est, 1e-9)))))
            x = seq(c, S)
            best = best_cpu = float("inf")
            for _ in range(a.repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                model(x, h)
                best = min(best, time.perf_counter() - t0)
                best_cpu = min(best_cpu, time.process_time() - c0)
    N = int(m["N"])
    print(
        json.dumps(
            {
                "cell": a.cell,
                "dtype": a.dtype,
                "unfolds": a.unfolds if a.cell == "ltc" else None,
                "wiring": a.wiring,
                "cfc_layers": layers,
                "N": N,
                "K": int(m["K"]),
                "n_syn": int(len(m["pre"])),
                "n_sensory": int(len(m["s_pre"])),
                "build_s": build_s,
                "first_steps_s_per_step": est,
                "steps": S,
                "repeats": a.repeats,
                "ms_per_step": best / S * 1e3,
                "cpu_ms_per_step": best_cpu / S * 1e3,
                "check_steps": c,
                "torch": torch.__version__,
                "torch_threads": torch.get_num_threads(),
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
