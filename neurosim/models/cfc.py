r"""Closed-form continuous-time (CfC) cell: ncps's ``CfCCell`` and ``WiredCfCCell``.

A CfC cell (Hasani et al., Nature Machine Intelligence 2022) is a discrete-time layer
whose update is the closed-form approximation of an LTC neuron's solution over an
elapsed time ``ts``.  This module holds its equations, its tables and the structure of
its weights; the step kernels are :mod:`neurosim.backends.cfc_numpy` (the reference)
and :mod:`neurosim.backends.cfc_numba`.

Update of one layer (one ncps step), input ``u`` (K,), hidden state ``h`` (H,)::

    x   = [u, h]                                   inputs first (K + H,)
    x   = act(W_b x + b_b)   for every backbone layer (none in a wired layer)
    f1  = (W_1 * M) x + b_1                        M: the sparsity mask (or all ones)

    mode "pure":     h' = -A exp(-ts (|w_tau| + |f1|)) f1 + A
    otherwise:       f1 = tanh(f1),  f2 = tanh((W_2 * M) x + b_2)
                     s  = sigmoid((W_a x + b_a) ts + (W_b' x + b_b'))   (never masked)
        "default":   h' = f1 (1 - s) + s f2
        "no_gate":   h' = f1 + s f2

``act`` is one of :data:`ACTIVATIONS` (``lecun_tanh(z) = 1.7159 tanh(0.666 z)``, ncps's
default), ``Linear(x) = W x + b`` with ``W`` stored ``[out, in]`` as torch does.  A
wired cell (``ncps.torch.CfC(K, wiring)``) is a chain of such layers without backbone,
one per wiring layer (NCP: inter, command, motor); layer ``l`` is driven by the new
state of layer ``l - 1`` of the same step (layer 0 by ``u``) and the cell's state is the
concatenation of the layers' states in layer order (the output is the last layer).

With ncps's ``mixed_memory=True`` an LSTM cell runs first on ``u`` and the previous
state, and its output replaces ``h`` before the CfC update (``c`` is its cell state)::

    z = W_i u + b_i + W_r h;   i, g_i, g_f, g_o = the four quarters of z
    c' = c sigmoid(g_f + 1) + tanh(i) sigmoid(g_i);   h = tanh(c') sigmoid(g_o)

Time: ``ts`` is the step's length in time units, one time unit = 1 ms (docs/ltc.md):
``dt`` in ms, or the input series' ``elapsed`` time of the step (ncps's timespans).

Weights are the cell's ``state_dict()`` keys (ncps 1.0.1): ``backbone.<i>.weight`` /
``.bias``, ``ff1``, ``ff2``, ``time_a``, ``time_b`` (``.weight``, ``.bias``), ``w_tau``
and ``A`` (pure mode), ``sparsity_mask``; a wired cell the same per layer under
``layer_<l>.``; ``lstm.input_map.weight``/``.bias``, ``lstm.recurrent_map.weight``
(mixed memory) and ``fc.weight``/``.bias`` (ncps's ``proj_size`` output layer, used by
:func:`neurosim.io.ncps.readout` only).  A sequence module's ``rnn_cell.`` prefix is
stripped before.  The mode (default or no_gate) and the backbone activation are not in
a state dict: they are the population's ``mode`` and ``activation``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .base import Entry

NAME = "cfc"

STATE = {
    "h": Entry(0.0, "1", "Hidden state (dimensionless; ncps's h, 0 at start)"),
}

MODES = ("default", "pure", "no_gate")
#: Backbone activations, by ncps's names; the code used by the kernels is the index.
ACTIVATIONS = ("lecun_tanh", "tanh", "relu", "silu", "gelu")
DTYPES = ("float64", "float32")
#: The ``method`` of a CfC population in :attr:`neurosim.ltc.build.LtcBuilt.pops` (not an
#: LTC integrator: the LTC backends hand such populations to the CfC stepper).
METHOD_ID = -1

_HEADS = ("ff1", "ff2", "time_a", "time_b")


class CfcWeightError(ValueError):
    """A weight file does not describe a CfC cell; ``key`` names the offending entry."""

    def __init__(self, key, message):
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)


@dataclass
class CfcLayer:
    """One CfC layer (a plain cell has one; a wired cell one per wiring layer).

    Attributes
    ----------
    n_in, n : int
        Inputs ``K_l`` and hidden units ``H_l`` of the layer.
    backbone : list of (ndarray [out, in], ndarray [out])
        Backbone Linear layers, in order (empty for a wired layer).
    heads : dict
        ``name -> (W [H_l, cat], b [H_l])`` for ``ff1`` (and ``ff2``, ``time_a``,
        ``time_b`` unless pure), the sparsity mask already multiplied into ff1 and ff2
        (masks are 0/1, so the product is exact).
    w_tau, A : ndarray [H_l] or None
        Pure mode only.
    """

    n_in: int
    n: int
    backbone: list
    heads: dict
    w_tau: np.ndarray | None = None
    A: np.ndarray | None = None


@dataclass
class CfcCell:
    """A CfC cell's structure and weights (float64, as read).

    Attributes
    ----------
    layers : list of CfcLayer
    mode : str
        One of :data:`MODES`.
    activation : str
        One of :data:`ACTIVATIONS` (backbone layers only).
    lstm : tuple (W_i [4H, K], b_i [4H], W_r [4H, H]) or None
        Mixed memory.
    fc : tuple (W [P, M], b [P]) or None
        ncps's output projection (``proj_size``): readout only.
    wired : bool
        Layers from ``layer_<l>.`` keys (ncps's WiredCfCCell).
    """

    layers: list
    mode: str
    activation: str
    lstm: tuple | None = None
    fc: tuple | None = None
    wired: bool = False

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    @property
    def size(self) -> int:
        return sum(layer.n for layer in self.layers)

    @property
    def output_size(self) -> int:
        """ncps's output size: the last layer's units (wired), all units, or fc's rows."""
        if self.fc is not None:
            return self.fc[0].shape[0]
        return self.layers[-1].n if self.wired else self.size


def _get(sd, key, shape=None):
    if key not in sd:
        raise CfcWeightError(key, "missing")
    a = np.asarray(sd[key])
    if a.dtype.kind not in "fiub":
        raise CfcWeightError(key, f"expected numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if shape is not None and a.shape != tuple(shape):
        raise CfcWeightError(key, f"expected shape {tuple(shape)}, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise CfcWeightError(key, "has NaN or infinite values")
    return a


def _layer(sd, pre, mode, n_in=None):
    """One layer from the keys under ``pre`` (``""`` or ``layer_<l>.``)."""
    w1 = _get(sd, pre + "ff1.weight")
    if w1.ndim != 2:
        raise CfcWeightError(pre + "ff1.weight", f"expected a matrix, got shape {w1.shape}")
    n = w1.shape[0]
    idx = sorted(
        int(m.group(1))
        for k in sd
        if (m := re.fullmatch(re.escape(pre) + r"backbone\.(\d+)\.weight", k))
    )
    backbone = []
    width = None
    for i in idx:
        W = _get(sd, f"{pre}backbone.{i}.weight")
        if W.ndim != 2:
            raise CfcWeightError(f"{pre}backbone.{i}.weight", f"expected a matrix, got {W.shape}")
        if width is not None and W.shape[1] != width:
            raise CfcWeightError(
                f"{pre}backbone.{i}.weight",
                f"expected {width} columns (the previous layer's units), got {W.shape[1]}",
            )
        if width is None:
            if W.shape[1] <= n:
                raise CfcWeightError(
                    f"{pre}backbone.{i}.weight",
                    f"expected more than {n} columns (inputs + {n} hidden), got {W.shape[1]}",
                )
            n_in_here = W.shape[1] - n
        b = _get(sd, f"{pre}backbone.{i}.bias", (W.shape[0],))
        backbone.append((W, b))
        width = W.shape[0]
    if not backbone:
        if w1.shape[1] <= n:
            raise CfcWeightError(
                pre + "ff1.weight",
                f"expected more than {n} columns (inputs + {n} hidden), got {w1.shape[1]}",
            )
        n_in_here = w1.shape[1] - n
        width = w1.shape[1]
    if n_in is not None and n_in_here != n_in:
        first = f"{pre}backbone.{idx[0]}.weight" if backbone else pre + "ff1.weight"
        raise CfcWeightError(
            first,
            f"expected {n_in} inputs (the previous layer's units) + {n} hidden columns, "
            f"got {n_in_here + n}",
        )
    cat = width
    mask = None
    if pre + "sparsity_mask" in sd:
        mask = _get(sd, pre + "sparsity_mask", (n, cat))
    heads = {}
    pure_keys = [k for k in ("w_tau", "A") if pre + k in sd]
    if mode == "pure":
        if pre + "ff2.weight" in sd:
            raise CfcWeightError(
                pre + "ff2.weight",
                "present, so this is a default or no_gate cell, not mode pure",
            )
        names = ("ff1",)
    else:
        if pure_keys and pre + "ff2.weight" not in sd:
            raise CfcWeightError(
                pre + pure_keys[0], f"present, so this is a pure cell, not mode {mode}"
            )
        names = _HEADS
    for name in names:
        W = _get(sd, f"{pre}{name}.weight", (n, cat))
        b = _get(sd, f"{pre}{name}.bias", (n,))
        if mask is not None and name in ("ff1", "ff2"):
            W = W * mask
        heads[name] = (W, b)
    layer = CfcLayer(n_in_here, n, backbone, heads)
    if mode == "pure":
        layer.w_tau = _get(sd, pre + "w_tau", (1, n)).reshape(n)
        layer.A = _get(sd, pre + "A", (1, n)).reshape(n)
    return layer


def cell_from_state_dict(sd, mode="default", activation="lecun_tanh"):
    """The :class:`CfcCell` of an ncps CfC state dict (prefix ``rnn_cell.`` stripped).

    Parameters
    ----------
    sd : mapping of str to array
        The weights (any float dtype; read as float64).
    mode : str
        ``default``, ``pure`` or ``no_gate`` (ncps's ``mode``).
    activation : str
        The backbone activation (ncps's ``activation`` / ``backbone_activation``).

    Raises
    ------
    CfcWeightError
        Naming the key when the weights do not form a cell (missing, wrong shape, NaN).
    ValueError
        For an unknown mode or activation.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}")
    sd = {(k[len("rnn_cell.") :] if k.startswith("rnn_cell.") else k): v for k, v in sd.items()}
    layer_ids = sorted(
        {int(m.group(1)) for k in sd if (m := re.match(r"layer_(\d+)\.", k))},
    )
    if layer_ids:
        if layer_ids != list(range(len(layer_ids))):
            raise CfcWeightError(
                f"layer_{layer_ids[-1]}", f"expected layers 0..{len(layer_ids) - 1}"
            )
        layers = []
        for lid in layer_ids:
            layers.append(_layer(sd, f"layer_{lid}.", mode, None if lid == 0 else layers[-1].n))
        wired = True
    else:
        if "ff1.weight" not in sd:
            raise CfcWeightError("ff1.weight", "missing: not an ncps CfC state dict")
        layers = [_layer(sd, "", mode)]
        wired = False
    H = sum(layer.n for layer in layers)
    K = layers[0].n_in
    lstm = None
    if any(k.startswith("lstm.") for k in sd):
        lstm = (
            _get(sd, "lstm.input_map.weight", (4 * H, K)),
            _get(sd, "lstm.input_map.bias", (4 * H,)),
            _get(sd, "lstm.recurrent_map.weight", (4 * H, H)),
        )
    fc = None
    if "fc.weight" in sd:
        W = _get(sd, "fc.weight")
        n_out = layers[-1].n if wired else H
        if W.ndim != 2 or W.shape[1] != n_out:
            raise CfcWeightError("fc.weight", f"expected shape (P, {n_out}), got {W.shape}")
        fc = (W, _get(sd, "fc.bias", (W.shape[0],)))
    return CfcCell(layers, mode, activation, lstm, fc, wired)


def looks_like_cfc(keys) -> bool:
    """Do these state-dict keys belong to an ncps CfC (rather than an LTC)?"""
    for k in keys:
        k = k[len("rnn_cell.") :] if k.startswith("rnn_cell.") else k
        if k.startswith(("ff1.", "backbone.", "layer_")) and not k.startswith("layer_norm"):
            return True
    return False
