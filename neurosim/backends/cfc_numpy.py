"""CfC cells, numpy reference: one step of a ``cfc`` population in the kernels' order.

The equations are in :mod:`neurosim.models.cfc`.  Arithmetic (so that
:mod:`neurosim.backends.cfc_numba` gives the same bits):

* every Linear layer ``y = W x + b`` is accumulated input by input,
  ``y = ((0 + W[:, 0] x_0) + W[:, 1] x_1) + ... + b``, in the cell's dtype (float64, or
  float32 with ``dtype: float32``: weights, inputs and states rounded to float32);
  the four heads of a layer (ff1, ff2, time_a, time_b) are one stacked matrix;
* everything elementwise (activations, the gate, the update) is evaluated in float64
  and rounded to the dtype once, when stored;
* ``exp``, ``tanh`` and the logistic function are portable (:mod:`neurosim.backends.
  pexp`): ``tanh(x) = sign(x) t``, ``t = -e / (2 + e)`` with ``e = expm1(-2|x|)`` from
  the exp polynomial when ``|x| < ln2 / 4``, else ``t = (1 - e) / (1 + e)`` with ``e =
  exp(-2|x|)`` -- within a few ulp of the true value, and the same bits in numba.

Weights are packed once (:func:`pack`) into one flat array and integer tables that
both backends read: per layer ``[n_in, n, h_off, op0, op1, w_heads, b_heads, cat,
n_heads, w_tau, A]``, per backbone Linear ``[n_in, n_out, w, b]`` (matrices stored
transposed, ``[in, out]``, so that the accumulation over outputs is contiguous).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..models import cfc as C
from . import pexp as _pe
from .numpy_backend import pexp

#: Below this |x| tanh uses expm1 (exact range of the exp polynomial: |2x| <= ln2 / 2).
TANH_SMALL = 0.17328679513998632
# columns of Packed.L
(L_NIN, L_N, L_HOFF, L_OP0, L_OP1, L_HW, L_HB, L_CAT, L_NH, L_WTAU, L_A) = range(11)
MODE_IDS = {m: i for i, m in enumerate(C.MODES)}


def sigmoid(z):
    """Logistic function of float64 values (as ltc_numpy.sigmoid: clipped, portable exp)."""
    z = np.clip(np.asarray(z, np.float64), -700.0, 700.0)
    return 1.0 / (1.0 + pexp(-z))


def ptanh(x):
    """Portable tanh of float64 values (see the module docstring)."""
    x = np.asarray(x, np.float64)
    a = np.abs(x)
    r = -2.0 * a
    with np.errstate(invalid="ignore", over="ignore"):  # the branch not taken at |x| = inf
        q = np.full_like(r, _pe.COEFFS[0])
        for c in _pe.COEFFS[1:13]:
            q = q * r + c
        em1 = r * q
        small = -em1 / (2.0 + em1)
        e = pexp(r)
        big = (1.0 - e) / (1.0 + e)
    t = np.where(a < TANH_SMALL, small, big)
    return np.where(x < 0.0, -t, t)


def activation(code, x):
    """Backbone activation ``ACTIVATIONS[code]`` of float64 values."""
    x = np.asarray(x, np.float64)
    name = C.ACTIVATIONS[code]
    if name == "lecun_tanh":
        return 1.7159 * ptanh(0.666 * x)
    if name == "tanh":
        return ptanh(x)
    if name == "relu":
        return np.where(x > 0.0, x, 0.0)
    if name == "silu":
        return x * sigmoid(x)
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return x * 0.5 * (1.0 + erf(x * 0.7071067811865476))


@dataclass
class Packed:
    """A cell's weights in the kernels' layout (see the module docstring).

    Attributes
    ----------
    P : ndarray, float64 or float32
        Every matrix (transposed, ``[in, out]``) and vector, back to back.
    L : ndarray of int64, shape (layers, 11)
    O : ndarray of int64, shape (backbone Linear layers, 4)
    lstm : ndarray of int64, shape (4,)
        ``[present, W_i, b_i, W_r]`` offsets (mixed memory).
    mode, act : int
        Index into MODES / ACTIVATIONS.
    K, H, width, heads : int
        Inputs, hidden units, the widest layer input, the most head outputs.
    """

    P: np.ndarray
    L: np.ndarray
    O: np.ndarray
    lstm: np.ndarray
    mode: int
    act: int
    K: int
    H: int
    width: int
    heads: int


def pack(cell, dtype="float64"):
    """Pack a :class:`neurosim.models.cfc.CfcCell` for the step kernels."""
    parts, size = [], 0

    def put(a):
        nonlocal size
        a = np.ascontiguousarray(a, np.float64).reshape(-1)
        off = size
        parts.append(a)
        size += a.size
        return off

    L, O = [], []
    hoff, width, heads = 0, 0, 0
    for layer in cell.layers:
        op0 = len(O)
        w = layer.n_in + layer.n
        width = max(width, w)
        for W, b in layer.backbone:
            O.append((W.shape[1], W.shape[0], put(W.T), put(b)))
            width = max(width, W.shape[0])
            w = W.shape[0]
        names = ("ff1",) if cell.mode == "pure" else ("ff1", "ff2", "time_a", "time_b")
        WT = np.concatenate([layer.heads[k][0].T for k in names], axis=1)  # [cat, nh * n]
        bh = np.concatenate([layer.heads[k][1] for k in names])
        hw, hb = put(WT), put(bh)
        wt = put(layer.w_tau) if cell.mode == "pure" else -1
        A = put(layer.A) if cell.mode == "pure" else -1
        L.append((layer.n_in, layer.n, hoff, op0, len(O), hw, hb, w, len(names), wt, A))
        heads = max(heads, len(names) * layer.n)
        hoff += layer.n
    H, K = cell.size, cell.n_inputs
    lstm = np.zeros(4, np.int64)
    if cell.lstm is not None:
        Wi, bi, Wr = cell.lstm
        lstm[:] = (1, put(Wi.T), put(bi), put(Wr.T))
        width = max(width, K, 4 * H)
    P = np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)
    return Packed(
        P=P,
        L=np.array(L, np.int64).reshape(-1, 11),
        O=np.array(O, np.int64).reshape(-1, 4),
        lstm=lstm,
        mode=MODE_IDS[cell.mode],
        act=C.ACTIVATIONS.index(cell.activation),
        K=K,
        H=H,
        width=max(width, 1),
        heads=max(heads, 4 * H if cell.lstm is not None else 0, 1),
    )


def _affine(P, w, b, nin, nout, x):
    """``W x + b`` accumulated input by input (W^T stored at P[w:], [nin, nout])."""
    WT = P[w : w + nin * nout].reshape(nin, nout)
    y = np.zeros(nout, P.dtype)
    for i in range(nin):
        y += WT[i] * x[i]
    if b >= 0:
        y += P[b : b + nout]
    return y


class CfcNumpy:
    """One ``cfc`` population stepped with numpy.

    Parameters
    ----------
    cell : neurosim.models.cfc.CfcCell
    dtype : str
        ``float64`` or ``float32``.
    xin : ndarray of int64, shape (K,)
        Indices of the cell's inputs in the engine's value vector ``X``.
    i0 : int
        Index of the population's first unit in ``X`` (units ``i0 .. i0 + H``).
    """

    def __init__(self, cell, dtype, xin, i0):
        self.pk = pack(cell, dtype)
        self.dtype = np.dtype(dtype)
        self.xin = np.asarray(xin, np.int64)
        self.i0, self.i1 = i0, i0 + self.pk.H
        self.c = np.zeros(self.pk.H, self.dtype)  # LSTM cell state (mixed memory)

    def step(self, X, ts, out=None):
        """New hidden state (float64, shape (H,)) after a step of ``ts`` time units.

        ``X`` holds the values at the start of the step (inputs at ``xin``, the state at
        ``i0:i1``); the LSTM cell state advances in place.
        """
        pk, dt = self.pk, self.dtype
        P = pk.P
        u = X[self.xin].astype(dt)
        h = X[self.i0 : self.i1].astype(dt)
        H = pk.H
        if pk.lstm[0]:
            z = _affine(P, pk.lstm[1], pk.lstm[2], pk.K, 4 * H, u)
            z = z + _affine(P, pk.lstm[3], -1, H, 4 * H, h)
            z = z.astype(np.float64)
            i, gi, gf, go = z[:H], z[H : 2 * H], z[2 * H : 3 * H], z[3 * H :]
            c = self.c.astype(np.float64) * sigmoid(gf + 1.0) + ptanh(i) * sigmoid(gi)
            self.c = c.astype(dt)
            h = (ptanh(self.c.astype(np.float64)) * sigmoid(go)).astype(dt)
        new = np.empty(H, dt)
        inp = u
        for row in pk.L:
            n, hoff = row[L_N], row[L_HOFF]
            x = np.concatenate([inp, h[hoff : hoff + n]])
            for op in pk.O[row[L_OP0] : row[L_OP1]]:
                y = _affine(P, op[2], op[3], op[0], op[1], x)
                x = activation(pk.act, y.astype(np.float64)).astype(dt)
            hd = _affine(P, row[L_HW], row[L_HB], row[L_CAT], row[L_NH] * n, x)
            hd = hd.astype(np.float64)
            f1 = hd[:n]
            if pk.mode == MODE_IDS["pure"]:
                A = P[row[L_A] : row[L_A] + n].astype(np.float64)
                wt = P[row[L_WTAU] : row[L_WTAU] + n].astype(np.float64)
                r = -A * pexp(-ts * (np.abs(wt) + np.abs(f1))) * f1 + A
            else:
                f1 = ptanh(f1)
                f2 = ptanh(hd[n : 2 * n])
                s = sigmoid(hd[2 * n : 3 * n] * ts + hd[3 * n : 4 * n])
                if pk.mode == MODE_IDS["no_gate"]:
                    r = f1 + s * f2
                else:
                    r = f1 * (1.0 - s) + s * f2
            new[hoff : hoff + n] = r
            inp = new[hoff : hoff + n]
        if out is None:
            return new.astype(np.float64)
        out[:] = new
        return out


def input_indices(built, pop):
    """Indices in ``X`` of the values feeding a ``cfc`` population (its ``input``)."""
    lay = built.layouts
    parts = [np.arange(lay[s].n0, lay[s].n0 + lay[s].size) for s in pop.params["input"]]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def steppers(built, backend="numpy"):
    """The steppers of a built graded network's ``cfc`` populations, by first index.

    ``backend`` ``numba`` gives :class:`neurosim.backends.cfc_numba.CfcNumba` (imported
    only then: the numpy backend never imports numba).
    """
    out = {}
    for name, i0, _i1, method, *_ in built.pops:
        if method != C.METHOD_ID:
            continue
        pop = built.spec.populations[name]
        args = (pop.params["cell"], pop.params["dtype"], input_indices(built, pop), i0)
        if backend == "numba":
            from .cfc_numba import CfcNumba

            out[i0] = CfcNumba(*args)
        else:
            out[i0] = CfcNumpy(*args)
    return out
