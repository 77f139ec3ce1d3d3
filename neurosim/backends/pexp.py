"""A portable ``exp`` whose bits are the same in numpy, numba and CUDA.

numpy, LLVM (numba) and CUDA each bring their own ``exp``, which may differ in the
last bit; a conductance update evaluates ``exp`` every step, and one differing bit
can move a spike by a step.  This ``exp`` uses only +, *, floor and a power of two
(all correctly rounded in IEEE arithmetic), so any backend that evaluates the same
expression in the same order, without fused multiply-add contraction, gets the
same result.  Accuracy: within 2 ulp of the true value on [-700, 700] (tested).

Range reduction ``x = n ln2 + r`` with Cody-Waite constants (fdlibm's), ``|r| <=
ln2 / 2``; the Taylor polynomial of degree 13 has truncation error below 4e-18.
The arithmetic is written out in :func:`pexp_expr` for scalars and arrays alike.
"""

from __future__ import annotations

INV_LN2 = 1.4426950408889634
LN2_HI = 0.6931471803691238
LN2_LO = 1.9082149292705877e-10
# 1/k! for k = 13 .. 0 (Horner order)
COEFFS = (
    1.6059043836821613e-10,
    2.08767569878681e-09,
    2.505210838544172e-08,
    2.755731922398589e-07,
    2.7557319223985893e-06,
    2.48015873015873e-05,
    0.0001984126984126984,
    0.001388888888888889,
    0.008333333333333333,
    0.041666666666666664,
    0.16666666666666666,
    0.5,
    1.0,
    1.0,
)
#: Below this argument the result is flushed to exactly 0 (no denormals).
X_MIN = -700.0

# -- float32 ----------------------------------------------------------------------------
# The same scheme in float32 arithmetic (``simulation.dtype: float32``): Cody-Waite
# constants of cephes' expf (LN2_HI_F32 has 9 significant bits, so n * LN2_HI_F32 is
# exact for |n| <= 2**15), Taylor polynomial of degree 7 (truncation below 5e-9
# relative on |r| <= ln2 / 2, a tenth of float32's epsilon).  Within 2 ulp of the true
# value on [-87, 88] (tested).  2**n is built from its exponent bits, the biased
# exponent clamped to [0, 255] (255: inf).
INV_LN2_F32 = 1.4426950408889634
LN2_HI_F32 = 0.693359375
LN2_LO_F32 = -2.12194440e-4
#: 1/k! for k = 7 .. 0 (Horner order), rounded to float32 where they are used
COEFFS_F32 = (
    1.0 / 5040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
)
#: Below this argument the float32 result is flushed to exactly 0 (no denormals).
X_MIN_F32 = -87.0

# -- flushing ----------------------------------------------------------------------------
#: A synaptic state below this magnitude becomes +0.0 in every backend, so that decaying
#: states never crawl through denormal numbers (float64, and float32 states).
FLUSH_F64 = 1e-300
FLUSH_F32 = 1e-30
