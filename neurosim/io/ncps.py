"""ncps LTC and CfC models -> neurosim network files (``neurosim convert ncps``).

:func:`convert` looks at the state dict and calls :func:`convert_ltc` or
:func:`convert_cfc`; :func:`readout` applies ncps's output mapping to a recording.

A trained ncps ``LTC`` (sequence module) or ``LTCCell`` is given by its state dict: a
``.pt`` file of ``state_dict()`` (read by :func:`read_pt` without torch, by an
unpickler that refuses every global but the few a state dict of tensors needs, so no
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
import pickle

import numpy as np
import yaml

from ..models import cfc as CFC
from ..models.cfc import looks_like_cfc
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
    """Arrays of a state dict from ``.pt`` or ``.npz``, float64; prefixes stripped.

    ``.pt`` files are read by :func:`read_pt` (no torch needed, no pickled code run);
    ``.npz`` files with ``allow_pickle=False``.
    """
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
        raw = {k: v.astype(np.float64) for k, v in read_pt(path).items()}
    else:
        raise SpecError(
            path, None, f"expected a .pt or .npz state dict, got {ext or 'no extension'}"
        )
    return _strip(raw)


# ------------------------------------------------------------------ .pt without torch

#: torch's storage classes in a pickled state dict -> numpy dtypes (bfloat16: uint16
#: bits, widened below).
_STORAGES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _Storage:
    """Marker for a torch storage class (what ``torch.FloatStorage`` unpickles to)."""

    def __init__(self, name):
        self.name = name
        self.dtype = _STORAGES[name]


class _Tensor:
    """A tensor rebuilt from a storage: only its values (refuses any pickled state)."""

    __slots__ = ("values",)

    def __init__(self, values):
        self.values = values

    def __setstate__(self, state):
        raise pickle.UnpicklingError("state on a tensor")


class _StateDict(dict):
    """``collections.OrderedDict`` of a state dict; its ``_metadata`` state is dropped."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("unexpected state of a state dict")


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    """``torch._utils._rebuild_tensor_v2`` in numpy: a strided view, bounds checked."""
    if not isinstance(storage, np.ndarray):
        raise pickle.UnpicklingError("a tensor without a storage")
    try:
        offset = int(offset)
        size = tuple(int(n) for n in size)
        stride = tuple(int(n) for n in stride)
    except (TypeError, ValueError):
        raise pickle.UnpicklingError("malformed tensor shape") from None
    if len(size) != len(stride) or offset < 0 or min(size + stride, default=0) < 0:
        raise pickle.UnpicklingError("malformed tensor shape")
    if 0 in size:
        return _Tensor(np.zeros(size, storage.dtype))
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= storage.size:  # as_strided would read past the storage
        raise pickle.UnpicklingError("a tensor larger than its storage")
    it = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], size, tuple(s * it for s in stride), writeable=False
    )
    return _Tensor(np.array(view))


def _rebuild_parameter(data, *_ignored):
    """``torch._utils._rebuild_parameter`` (a state dict saved with keep_vars)."""
    if not isinstance(data, _Tensor):
        raise pickle.UnpicklingError("a parameter without a tensor")
    return data


class _PtUnpickler(pickle.Unpickler):
    """Only the few globals a state dict of tensors needs, each mapped to numpy; every
    other global (``os.system``, ``builtins.eval`` ...) is refused before it is looked
    up, so no code named in the file ever runs."""

    def __init__(self, fh, zf, prefix, big_endian):
        super().__init__(fh)
        self.zf = zf
        self.prefix = prefix
        self.big_endian = big_endian
        self.storages = {}

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return _StateDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGES:
            return _Storage(name)
        raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in a state dict")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError("unexpected persistent id")
        _tag, kind, key, _location, numel = pid
        if not isinstance(kind, _Storage) or not isinstance(key, str) or not key.isalnum():
            raise pickle.UnpicklingError("malformed storage reference")
        if key not in self.storages:
            try:
                raw = self.zf.read(f"{self.prefix}data/{key}")
            except KeyError:
                raise pickle.UnpicklingError(f"storage data/{key} missing") from None
            bf16 = kind.dtype == "bfloat16"
            dt = np.dtype(np.uint16 if bf16 else kind.dtype)
            if self.big_endian:
                dt = dt.newbyteorder(">")
            if len(raw) < int(numel) * dt.itemsize:
                raise pickle.UnpicklingError(f"storage data/{key} is truncated")
            a = np.frombuffer(raw, dt, count=int(numel)).astype(dt.newbyteorder("="))
            if bf16:  # the upper half of a float32
                a = (a.astype(np.uint32) << 16).view(np.float32)
            self.storages[key] = a
        return self.storages[key]


def read_pt(path):
    """The tensors of a PyTorch state dict file (``torch.save(module.state_dict())``).

    Reads torch's zip format (``<name>/data.pkl`` and one raw file per storage)
    without torch: the pickle is read by an unpickler that knows only
    ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` /
    ``_rebuild_parameter`` and the storage classes, maps them to numpy, and refuses any
    other global, so a file carrying code is refused and nothing in it runs.

    Parameters
    ----------
    path : str
        The ``.pt`` / ``.pth`` file.

    Returns
    -------
    dict of str to ndarray
        Key -> array in the file's dtype and shape (C order).

    Raises
    ------
    SpecError
        Not a zip-format state dict, a disallowed global (pickled code), a malformed or
        truncated tensor, or values that are not tensors.
    """
    import io
    import zipfile

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SpecError(
            path, None, f"not a PyTorch zip file (torch.save of torch >= 1.6): {exc}"
        ) from None
    with zf:
        pkl = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise SpecError(path, None, "not a PyTorch state dict file: no <name>/data.pkl")
        prefix = pkl[0][: -len("data.pkl")]
        try:
            order = zf.read(prefix + "byteorder").decode().strip()
        except KeyError:
            order = "little"
        try:
            sd = _PtUnpickler(io.BytesIO(zf.read(pkl[0])), zf, prefix, order == "big").load()
        except Exception as exc:  # UnpicklingError and malformed pickles alike
            raise SpecError(
                path, None, f"refused: not a plain state dict of tensors ({exc})"
            ) from None
    if not isinstance(sd, dict):
        raise SpecError(path, None, "expected a state dict (a mapping of tensors)")
    out = {}
    for k, v in sd.items():
        if not isinstance(k, str) or not isinstance(v, _Tensor):
            raise SpecError(path, str(k), "expected a tensor under every key of the state dict")
        out[k] = v.values
    return out


def _strip(sd):
    """Keys of a sequence module's state dict (``rnn_cell.w``) as the cell's (``w``)."""
    return {(k.split(".", 1)[1] if k.startswith("rnn_cell.") else k): v for k, v in sd.items()}


def _check(sd, path):
    missing = [k for k in LTC_KEYS if k not in sd]
    if missing:
        if looks_like_cfc(sd):
            raise SpecError(path, None, "this is an ncps CfC model: convert it with convert_cfc")
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
    dtype="float64",
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
    dtype : str
        ``float64`` or ``float32``: the integrator's ``dtype`` in the network file.
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
                "integrator": {"method": integrator, "substeps": int(ode_unfolds)}
                | ({"dtype": dtype} if dtype != "float64" else {}),
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


def _read_inputs(inputs_path, K):
    """``inputs`` [T, K] and ``elapsed`` [T] (or None) of a sequence file."""
    if not os.path.isfile(inputs_path):
        raise SpecError(inputs_path, None, "file not found")
    try:
        with np.load(inputs_path, allow_pickle=False) as z:
            if "inputs" not in z.files:
                raise SpecError(inputs_path, "inputs", "expected an array 'inputs' [T, K]")
            seq = np.asarray(z["inputs"])
            elapsed = np.asarray(z["elapsed"]) if "elapsed" in z.files else None
    except SpecError:
        raise
    except Exception as exc:  # not an npz, pickled content ...
        raise SpecError(inputs_path, None, f"cannot read: {exc}") from None
    if seq.dtype.kind not in "fiu" or seq.ndim != 2 or seq.shape[1] != K:
        raise SpecError(
            inputs_path, "inputs", f"expected numbers of shape [T, {K}], got {seq.shape}"
        )
    seq = seq.astype(np.float64)
    if elapsed is not None:
        if elapsed.dtype.kind not in "fiu" or elapsed.shape != (seq.shape[0],):
            raise SpecError(
                inputs_path, "elapsed", f"expected shape ({seq.shape[0]},), got {elapsed.shape}"
            )
        elapsed = elapsed.astype(np.float64)
        if not np.all(elapsed > 0):
            raise SpecError(inputs_path, "elapsed", "expected positive elapsed times")
    return seq, elapsed


def convert_cfc(
    model_path, out_yaml, inputs_path, mode=None, activation="lecun_tanh", state_dict=None
):
    """Write ``out_yaml``, ``<stem>_params.npz`` and ``<stem>_inputs.npz`` for an ncps CfC.

    The network has the ``time_series`` population ``inputs`` and the ``cfc``
    population ``cfc`` (:mod:`neurosim.models.cfc`) driven by it, recording ``h`` of every
    unit after every step (``/report/cfc/h``; a wired cell's state in ncps's layer
    order, inter | command | motor).  One ncps step is one tick of 1 ms; ``elapsed``
    in the sequence file becomes ncps's timespans.

    Parameters
    ----------
    model_path : str
        ``.pt`` (read without torch, :func:`read_pt`) or ``.npz`` state dict of
        ``ncps.torch.CfC`` (keys ``rnn_cell.*``, ``lstm.*``, ``fc.*``) or of a
        ``CfCCell`` / ``WiredCfCCell``; ignored when ``state_dict`` is given.
    out_yaml : str
        Network file to write.
    inputs_path : str
        ``.npz`` with ``inputs`` [T, K] and optionally ``elapsed`` [T] (time units).
    mode : str, optional
        ncps's ``mode`` (``default``, ``pure``, ``no_gate``): not stored in a state dict.
        None: ``pure`` if the weights have ``w_tau`` and no ``ff2``, else ``default``.
    activation : str
        ncps's backbone activation (default ``lecun_tanh``, ncps's default).

    Returns
    -------
    str
        ``out_yaml``.
    """
    sd = _strip(state_dict) if state_dict is not None else load_state_dict(model_path)
    for k, a in sd.items():
        if np.asarray(a).dtype.kind not in "fiub":
            raise SpecError(model_path, k, f"expected numbers, got dtype {np.asarray(a).dtype}")
    sd = {k: np.asarray(v, np.float64) for k, v in sd.items()}
    if mode is None:
        mode = (
            "pure"
            if any(k.endswith("w_tau") for k in sd) and not any("ff2." in k for k in sd)
            else "default"
        )
    if mode not in CFC.MODES:
        raise SpecError(model_path, "mode", f"expected one of {', '.join(CFC.MODES)}, got {mode!r}")
    if activation not in CFC.ACTIVATIONS:
        raise SpecError(
            model_path,
            "activation",
            f"expected one of {', '.join(CFC.ACTIVATIONS)}, got {activation!r}",
        )
    try:
        cell = CFC.cell_from_state_dict(sd, mode, activation)
    except CFC.CfcWeightError as exc:
        raise SpecError(model_path, exc.key, f"{exc.message} (mode {mode})") from None
    seq, elapsed = _read_inputs(inputs_path, cell.n_inputs)
    base = os.path.splitext(out_yaml)[0]
    pfile, sfile = base + "_params.npz", base + "_inputs.npz"
    np.savez(pfile, **sd)
    series = {"inputs": seq}
    if elapsed is not None:
        series["elapsed"] = elapsed
    np.savez(sfile, **series)
    P, S = os.path.basename(pfile), os.path.basename(sfile)
    inp = {"file": S, "key": "inputs"}
    if elapsed is not None:
        inp["elapsed_key"] = "elapsed"
    kind = "wired " if cell.wired else ""
    doc = {
        "name": os.path.basename(base),
        "description": f"converted from the ncps {kind}CfC model "
        f"{os.path.basename(str(model_path))} (mode {mode}, {len(cell.layers)} layer(s), "
        f"{cell.size} units, {cell.n_inputs} inputs"
        + (", mixed memory" if cell.lstm is not None else "")
        + ")",
        "simulation": {"dt": "1 ms", "duration": f"{seq.shape[0]} ms", "seed": 1},
        "populations": {
            "inputs": {"model": "time_series", "params": inp},
            "cfc": {
                "size": int(cell.size),
                "model": "cfc",
                "input": "inputs",
                "params": {"file": P, "mode": mode, "activation": activation},
            },
        },
        "record": {"state": [{"population": "cfc", "variables": ["h"], "interval": "1 ms"}]},
    }
    with open(out_yaml, "w") as fh:
        fh.write("# Written by neurosim convert ncps; CfC weights in " + P + "\n")
        yaml.safe_dump(doc, fh, sort_keys=False)
    return out_yaml


def convert(
    model_path,
    out_yaml,
    inputs_path,
    integrator="ltc_fused",
    ode_unfolds=6,
    implicit_constraints=True,
    state_dict=None,
    mode=None,
    activation="lecun_tanh",
    dtype="float64",
):
    """An ncps LTC or CfC model -> a network file: :func:`convert_ltc` or
    :func:`convert_cfc`, by the keys of the state dict.  ``integrator``,
    ``ode_unfolds``, ``implicit_constraints`` and ``dtype`` apply to LTC models,
    ``mode`` and ``activation`` to CfC models."""
    sd = _strip(state_dict) if state_dict is not None else load_state_dict(model_path)
    if looks_like_cfc(sd):
        if dtype != "float64":
            raise SpecError(str(model_path), "--dtype", f"{dtype}: CfC cells run in float64 only")
        return convert_cfc(model_path, out_yaml, inputs_path, mode, activation, state_dict=sd)
    return convert_ltc(
        model_path,
        out_yaml,
        inputs_path,
        integrator=integrator,
        ode_unfolds=ode_unfolds,
        implicit_constraints=implicit_constraints,
        state_dict=sd,
        dtype=dtype,
    )


def readout(params_npz, v):
    """ncps's output of a recorded trajectory, from the converter's parameter file.

    LTC: ``v[:, :M] * output_w + output_b`` (the motor neurons, the first M).  CfC:
    the state ``h`` (a wired cell: its last layer, the last M units), then ncps's
    ``fc`` projection when the model has one (``proj_size``).

    Parameters
    ----------
    params_npz : str
        ``<stem>_params.npz`` written by :func:`convert`.
    v : ndarray, shape (T, N)
        Recorded ``/report/ltc/v`` or ``/report/cfc/h``.

    Returns
    -------
    ndarray, shape (T, M)
    """
    with np.load(params_npz, allow_pickle=False) as z:
        if "output_w" in z.files:
            ow, ob = z["output_w"], z["output_b"]
            return v[:, : len(ow)] * ow + ob
        layers = sorted(
            int(k.split(".")[0][6:])
            for k in z.files
            if k.endswith("ff1.weight") and k.startswith("layer_")
        )
        y = np.asarray(v, np.float64)
        if layers:
            y = y[:, -z[f"layer_{layers[-1]}.ff1.weight"].shape[0] :]
        if "fc.weight" in z.files:
            y = y @ z["fc.weight"].T + z["fc.bias"]
    return y
