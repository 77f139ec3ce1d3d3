"""ncps LTC models -> neurosim network files (``neurosim convert ncps``).

A trained ncps ``LTC`` (sequence module) or ``LTCCell`` is given by its state dict: a
``.pt`` file of ``state_dict()`` (read with ``torch.load(weights_only=True)``, so no
pickled code ever runs) or an ``.npz`` with the same keys.  The conversion writes a
network file and an ``.npz`` of parameters beside it:

- population ``ltc`` (``ltc_neuron``): ``c_m = softplus(cm)``, ``g_leak =
  softplus(gleak)``, ``v_leak = vleak`` (softplus only where ncps applies it:
  ``implicit_param_constraints=True``, the LTC module's default, on w, sensory_w, cm,
  gleak; the stored values are not the physical ones);
- one LTC synapse per non-zero entry of ``sparsity_mask`` (pre i -> post j):
  ``w = softplus(w_ij) * mask_ij``, ``gamma = sigma_ij``, ``mu = mu_ij``,
  ``E_rev = erev_ij``; sensory synapses likewise from the input channels;
- population ``inputs`` (``time_series``): the sequence's ``inputs`` [T, K] with ncps's
  affine input mapping as ``scale = input_w``, ``offset = input_b``, and ``elapsed`` [T]
  when given (ncps's timespans);
- integrator ``ltc_fused`` with ncps's ``ode_unfolds`` (default 6), so that the network
  reproduces the trained model; ``integrator=`` switches to a closed form.

Units: one ncps step is one tick of ``dt = 1 ms``; ncps's dimensionless numbers are read
as mV, nS, pF, 1/mV (one time unit = 1 ms), so the numbers are unchanged.  The output
mapping ``y = v[:M] * output_w + output_b`` of the motor neurons (the first M) is
stored in the parameter file (``output_w``, ``output_b``) for :func:`readout`.
"""

from __future__ import annotations

import os

import numpy as np
import yaml

from ..network.spec import SpecError

LTC_KEYS = (
    "gleak",
    "vleak",
    "cm",
    "sigma",
    "mu",
    "w",
    "erev",
    "sensory_sigma",
    "sensory_mu",
    "sensory_w",
    "sensory_erev",
    "sparsity_mask",
    "sensory_sparsity_mask",
)


def softplus(x):
    """torch.nn.functional.softplus (beta 1, threshold 20) in float64."""
    x = np.asarray(x, np.float64)
    return np.where(x > 20.0, x, np.log1p(np.exp(np.minimum(x, 20.0))))


def load_state_dict(path):
    """Arrays of a state dict from ``.pt`` (weights only) or ``.npz``; prefixes stripped."""
    ext = os.path.splitext(path)[1].lower()
    if not os.path.isfile(path):
        raise SpecError(path, None, "file not found")
    if ext == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                raw = {k: z[k] for k in z.files}
        except Exception as exc:  # malformed or pickled content
            raise SpecError(path, None, f"cannot read as a state dict: {exc}") from None
    elif ext in (".pt", ".pth"):
        try:
            import torch
        except ImportError:
            raise SpecError(
                path,
                None,
                "reading .pt files needs torch (pip install torch); or save the state dict as .npz",
            ) from None
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # weights_only refuses pickled code
            raise SpecError(
                path, None, f"refused: not a plain state dict of tensors ({exc})"
            ) from None
        if not isinstance(sd, dict):
            raise SpecError(path, None, "expected a state dict (a mapping of tensors)")
        raw = {k: v.detach().cpu().double().numpy() for k, v in sd.items() if hasattr(v, "detach")}
    else:
        raise SpecError(
            path, None, f"expected a .pt or .npz state dict, got {ext or 'no extension'}"
        )
    return _strip(raw)


def _strip(sd):
    """Keys of a sequence module's state dict (``rnn_cell.w``) as the cell's (``w``)."""
    return {(k.split(".", 1)[1] if k.startswith("rnn_cell.") else k): v for k, v in sd.items()}


def _check(sd, path):
    missing = [k for k in LTC_KEYS if k not in sd]
    if missing:
        if any(k.startswith(("ff1", "backbone", "layer_")) for k in sd):
            raise SpecError(path, None, "this is an ncps CfC model; only LTC models convert so far")
        raise SpecError(path, "state_dict", f"not an ncps LTC state dict: missing {missing}")
    N = np.asarray(sd["gleak"]).shape[0] if np.ndim(sd["gleak"]) == 1 else -1
    if N < 1:
        raise SpecError(path, "gleak", f"expected shape (N,), got {np.shape(sd['gleak'])}")
    K = np.shape(sd["sensory_w"])[0] if np.ndim(sd["sensory_w"]) == 2 else -1
    shapes = {
        "vleak": (N,),
        "cm": (N,),
        "sigma": (N, N),
        "mu": (N, N),
        "w": (N, N),
        "erev": (N, N),
        "sparsity_mask": (N, N),
        "sensory_sigma": (K, N),
        "sensory_mu": (K, N),
        "sensory_w": (K, N),
        "sensory_erev": (K, N),
        "sensory_sparsity_mask": (K, N),
    }
    for k, shape in shapes.items():
        a = np.asarray(sd[k])
        if a.shape != shape:
            raise SpecError(
                path, k, f"expected shape {shape} for {N} neurons and {K} inputs, got {a.shape}"
            )
    for k, a in sd.items():
        a = np.asarray(a)
        if a.dtype.kind not in "fiub":
            raise SpecError(path, k, f"expected numbers, got dtype {a.dtype}")
        if not np.all(np.isfinite(a.astype(np.float64))):
            raise SpecError(path, k, "has NaN or infinite values")
    for k, shape in (("input_w", (K,)), ("input_b", (K,))):
        if k in sd and np.shape(sd[k]) != shape:
            raise SpecError(path, k, f"expected shape {shape}, got {np.shape(sd[k])}")
    return N, K


def convert_ltc(
    model_path,
    out_yaml,
    inputs_path,
    integrator="ltc_fused",
    ode_unfolds=6,
    implicit_constraints=True,
    state_dict=None,
):
    """Write ``out_yaml`` and ``<out_yaml stem>_params.npz`` for an ncps LTC model.

    Parameters
    ----------
    model_path : str
        ``.pt`` or ``.npz`` state dict (ignored when ``state_dict`` is given).
    out_yaml : str
        Network file to write.
    inputs_path : str
        ``.npz`` with ``inputs`` [T, K] and optionally ``elapsed`` [T].
    integrator : str
        ``ltc_fused`` (reproduces ncps) or a closed form (``closed_form``,
        ``exp_midpoint``).
    """
    sd = _strip(state_dict) if state_dict is not None else load_state_dict(model_path)
    for k, a in sd.items():
        if np.asarray(a).dtype.kind not in "fiub":
            raise SpecError(model_path, k, f"expected numbers, got dtype {np.asarray(a).dtype}")
    sd = {k: np.asarray(v, np.float64) for k, v in sd.items()}
    N, K = _check(sd, model_path)
    sp = softplus if implicit_constraints else (lambda x: np.asarray(x, np.float64))
    with np.load(inputs_path, allow_pickle=False) as z:
        if "inputs" not in z.files:
            raise SpecError(inputs_path, "inputs", "expected an array 'inputs' [T, K]")
        seq = np.asarray(z["inputs"], np.float64)
        elapsed = np.asarray(z["elapsed"], np.float64) if "elapsed" in z.files else None
    if seq.ndim != 2 or seq.shape[1] != K:
        raise SpecError(inputs_path, "inputs", f"expected shape [T, {K}], got {seq.shape}")
    mask = sd["sparsity_mask"]
    pre, post = np.nonzero(mask)
    smask = sd["sensory_sparsity_mask"]
    spre, spost = np.nonzero(smask)
    base = os.path.splitext(out_yaml)[0]
    pfile = base + "_params.npz"
    sfile = base + "_inputs.npz"
    params = {
        "c_m": sp(sd["cm"]),
        "g_leak": sp(sd["gleak"]),
        "v_leak": sd["vleak"],
        "pre": pre,
        "post": post,
        "w": sp(sd["w"])[pre, post] * mask[pre, post],
        "gamma": sd["sigma"][pre, post],
        "mu": sd["mu"][pre, post],
        "E_rev": sd["erev"][pre, post],
        "s_pre": spre,
        "s_post": spost,
        "s_w": sp(sd["sensory_w"])[spre, spost] * smask[spre, spost],
        "s_gamma": sd["sensory_sigma"][spre, spost],
        "s_mu": sd["sensory_mu"][spre, spost],
        "s_E_rev": sd["sensory_erev"][spre, spost],
        "input_w": sd.get("input_w", np.ones(K)),
        "input_b": sd.get("input_b", np.zeros(K)),
        "output_w": sd.get("output_w", np.ones(0)),
        "output_b": sd.get("output_b", np.zeros(0)),
    }
    np.savez(pfile, **params)
    series = {"inputs": seq}
    if elapsed is not None:
        series["elapsed"] = elapsed
    np.savez(sfile, **series)
    P, S = os.path.basename(pfile), os.path.basename(sfile)

    def arr(key):
        return {"file": P, "key": key}

    inp = {"file": S, "key": "inputs", "scale": arr("input_w"), "offset": arr("input_b")}
    if elapsed is not None:
        inp["elapsed_key"] = "elapsed"
    doc = {
        "name": os.path.basename(base),
        "description": f"converted from the ncps LTC model {os.path.basename(str(model_path))}",
        "simulation": {"dt": "1 ms", "duration": f"{seq.shape[0]} ms", "seed": 1},
        "populations": {
            "inputs": {"model": "time_series", "params": inp},
            "ltc": {
                "size": int(N),
                "model": "ltc_neuron",
                "params": {"c_m": arr("c_m"), "g_leak": arr("g_leak"), "v_leak": arr("v_leak")},
                "integrator": {"method": integrator, "substeps": int(ode_unfolds)},
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
        "record": {"state": [{"population": "ltc", "variables": ["v"], "interval": "1 ms"}]},
    }
    with open(out_yaml, "w") as fh:
        fh.write("# Written by neurosim convert ncps; parameters in " + P + "\n")
        yaml.safe_dump(doc, fh, sort_keys=False)
    return out_yaml


def readout(params_npz, v):
    """ncps's output mapping of the motor neurons: ``v[:, :M] * output_w + output_b``."""
    with np.load(params_npz, allow_pickle=False) as z:
        ow, ob = z["output_w"], z["output_b"]
    return v[:, : len(ow)] * ow + ob
