"""The portable exp (:mod:`neurosim.backends.pexp`) compiled with numba, shared by the
spiking and the LTC kernels.

Written without calls or loops so that loops around it vectorise: ``2 ** n`` (exact for
integral ``n``) is built from its exponent bits, the biased exponent clamped to
[0, 2047], which gives ``inf`` for ``n > 1023`` as ``pow`` does (NaN ``x`` stays NaN
through ``p``); ``n >= -1010`` since ``x >= X_MIN``, so no subnormal power is needed.
Bit-identical to the numpy version (tests/test_units_rng.py).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from . import pexp as _pe

_INV_LN2 = _pe.INV_LN2
_LN2_HI = _pe.LN2_HI
_LN2_LO = _pe.LN2_LO
_X_MIN = _pe.X_MIN
(_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13) = _pe.COEFFS


@intrinsic
def i64_as_f64(typingctx, x):
    """Reinterpret the bits of an int64 as a float64."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(x), codegen


@nb.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def pexp(x):
    """Portable exp of a float64 scalar."""
    n = np.floor(x * _INV_LN2 + 0.5)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = _C0
    p = p * r + _C1
    p = p * r + _C2
    p = p * r + _C3
    p = p * r + _C4
    p = p * r + _C5
    p = p * r + _C6
    p = p * r + _C7
    p = p * r + _C8
    p = p * r + _C9
    p = p * r + _C10
    p = p * r + _C11
    p = p * r + _C12
    p = p * r + _C13
    e = n + 1023.0
    e = e if e < 2047.0 else 2047.0
    e = e if e > 0.0 else 0.0
    out = p * i64_as_f64(np.int64(e) << 52)
    return 0.0 if x < _X_MIN else out


_F = np.float32
_INV_LN2_F = _F(_pe.INV_LN2_F32)
_LN2_HI_F = _F(_pe.LN2_HI_F32)
_LN2_LO_F = _F(_pe.LN2_LO_F32)
_X_MIN_F = _F(_pe.X_MIN_F32)
(_D0, _D1, _D2, _D3, _D4, _D5, _D6, _D7) = (_F(c) for c in _pe.COEFFS_F32)


@intrinsic
def i32_as_f32(typingctx, x):
    """Reinterpret the low 32 bits of an integer as a float32."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        v = args[0]
        if v.type.width != 32:
            v = builder.trunc(v, ir.IntType(32))
        return builder.bitcast(v, ir.FloatType())

    return types.float32(x), codegen


@nb.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def pexp32(x):
    """Portable exp of a float32 scalar, in float32 arithmetic (see pexp.py)."""
    n = np.floor(x * _INV_LN2_F + _F(0.5))
    r = (x - n * _LN2_HI_F) - n * _LN2_LO_F
    p = _D0
    p = p * r + _D1
    p = p * r + _D2
    p = p * r + _D3
    p = p * r + _D4
    p = p * r + _D5
    p = p * r + _D6
    p = p * r + _D7
    e = n + _F(127.0)
    e = e if e < _F(255.0) else _F(255.0)
    e = e if e > _F(0.0) else _F(0.0)
    out = p * i32_as_f32(np.int32(np.int32(e) << np.int32(23)))
    return _F(0.0) if x < _X_MIN_F else out
