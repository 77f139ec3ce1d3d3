"""Numba kernels of the network build (private; the build is not a backend).

Bit-identical twins of :mod:`neurosim.rng`'s integer hashing (``mix64``, ``id_keys``,
``bits``, ``uniform``) and twins of ``rng.normal`` and ``build.sample`` (the same
formulas; ``log1p``/``cos``/``exp`` come from LLVM's libm here, so a normal deviate
may differ from numpy's in the last bit).  Every connectivity kernel writes the
synapses of a chunk of walk units (targets, or sources or synapse numbers for the
rules that walk those) into caller-owned buffers and returns where it stopped, so
the build never holds more than one chunk of draws per thread, and regenerating a
chunk gives the same synapses (the build counts in a first pass and scatters in a
second).

Synapse ordinal ``j``: the position of a synapse among its target's synapses in
generation order (draw index for ``fixed_indegree``, ascending source for
``pairwise_bernoulli`` and ``all_to_all``, walk order for ``fixed_outdegree`` and
``fixed_total_number``). Weights and delays are drawn at counter ``j`` of streams
keyed by the target's gid, so they too depend on nothing but (seed, projection, target).

Threads: :func:`count_block` and :func:`fill_block` do the two passes over one block
of a projection's walk; the build runs one block per thread (they release the GIL)
and gives each block the offsets that the counts of the blocks before it imply, so
any number of threads writes the same CSR.  Kernels return error codes (``ERR_*``)
and the build raises for them.

Weights and delays drawn from normal distributions are stored as float32 and as
ticks, so the scatter needs only what a deviate rounds to: :func:`_draw_batch` draws
them with SIMD ``log1p`` and ``cos`` (:func:`fast_log1p_neg`, :func:`fast_cos`, within
1e-15 of libm), keeps the stored value where the interval of ``FAST_MARGIN`` around the
fast deviate settles it (:func:`_bracket`: rounding is monotone), and draws the rest
with libm, so the CSR holds the bits the libm draws give, at about a fifth of the cost.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .. import rng as _rng
from .._numba_gate import gate

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_TWO = np.uint64(2)
_U64 = np.uint64(64)
_TWO_M53 = 1.0 / 9007199254740992.0
_TWO_PI = 2.0 * np.pi
MAX_REDRAW = 10_000
NORMAL_TRIES = _rng.NORMAL_TRIES  # a bounded normal's draws (rng.py: which counters)
_REDRAW_ID = _rng.REDRAW_ID
_U1024 = np.uint64(1024)


_jit = nb.njit(cache=True, nogil=True)


@_jit
def mix64(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@_jit
def _dsteps_f(d, dt):
    """A delay (ms) in steps as :func:`neurosim.network.timing.delay_steps` (NEST's
    ``floor(d * steps_per_ms + 0.5)``), as a float (infinite for huge ``d``)."""
    return np.floor(d * (1.0 / dt) + 0.5)


@_jit
def id_key(key, gid):
    """``rng.id_keys`` for one id."""
    return mix64(mix64(key ^ np.uint64(gid)))


@_jit
def uniform(sub, ctr):
    """``rng.uniform`` for one (sub-key, counter)."""
    b = mix64(sub + (np.uint64(ctr) + _ONE) * _GOLDEN)
    return np.float64(b >> _S11) * _TWO_M53


@_jit
def normal(sub, ctr):
    """``rng.normal`` for one (sub-key, counter)."""
    c = np.uint64(ctr) * _TWO
    u1 = uniform(sub, c)
    u2 = uniform(sub, c + _ONE)
    return math.sqrt(-2.0 * math.log1p(-u1)) * math.cos(_TWO_PI * u2)


@_jit
def _draw(kind, a0, a1, a2, a3, sub, ctr):
    """``build.sample`` for one (sub-key, counter)."""
    if kind == 0:
        return a0
    if kind == 1:
        return a0 + (a1 - a0) * uniform(sub, ctr)
    if kind == 2:
        return math.exp(a0 + a1 * normal(sub, ctr))
    base = np.uint64(ctr) * _U64
    v = a0 + a1 * normal(sub, base)
    if kind == 3:
        return min(max(v, a2), a3)
    attempt = 1
    while v < a2 or v > a3:
        if attempt >= NORMAL_TRIES:
            return math.nan  # the bounds reject almost every draw (ERR_BOUNDS)
        if attempt < 64:
            v = a0 + a1 * normal(sub, base + np.uint64(attempt))
        else:  # the 64 counters of this draw are used up: a stream of its own
            c2 = np.uint64(ctr) * _U1024 + np.uint64(attempt)
            v = a0 + a1 * normal(id_key(sub, _REDRAW_ID), c2)
        attempt += 1
    return v


@_jit
def draw_values(kind, a0, a1, a2, a3, key, gid0, tgt, j, out):
    """``out[i] = sample(value, id_keys(key, gid0 + tgt[i]), j[i])`` (float64)."""
    last = -1
    sub = np.uint64(0)
    for i in range(tgt.shape[0]):
        t = tgt[i]
        if t != last:
            sub = id_key(key, gid0 + t)
            last = t
        v = _draw(kind, a0, a1, a2, a3, sub, j[i])
        if math.isnan(v):
            raise ValueError("normal distribution bounds reject almost every draw")
        out[i] = v


# Error codes of the kernels: the build raises for them once every block of a pass
# has returned (blocks run in threads of their own).
ERR_DELAY_LOW = 1  # a delay below one tick
ERR_DELAY_HIGH = 2  # a delay above 65535 ticks
ERR_CONSTRAINTS = 3  # a rule cannot satisfy its constraints (autapses, multapses)
ERR_BOUNDS = 4  # a bounded normal's bounds reject almost every draw
ERR_INTERNAL = 5  # scatter told the values are constants when they are not (a bug)

# Rule codes of rule_chunk (build._Projection.kernel_rule)
R_INDEGREE = 0
R_BERNOULLI = 1
R_ALL = 2
R_ONE = 3
R_OUTDEGREE = 4
R_TOTAL = 5


@_jit
def _pick(sub, ctr, n):
    return np.int64(math.floor(uniform(sub, ctr) * n))


@_jit
def _constrained_draws(sub, k, n, forbid, unique, seen, out, off):
    """``k`` draws in ``[0, n)`` into ``out[off:off+k]`` at counters ``0..k-1``; then, in
    order, an entry equal to ``forbid`` (>= 0) or, when ``unique``, to an earlier entry
    is redrawn at counters ``k, k+1, ...`` until it is neither.  ``seen`` (bool, ``n``,
    all False) marks the entries taken and is cleared again on return.  Returns False
    when an entry needs more than ``MAX_REDRAW`` redraws."""
    for j in range(k):
        out[off + j] = _pick(sub, j, n)
    if forbid < 0 and not unique:
        return True
    ctr = k
    ok = True
    for j in range(k):
        v = out[off + j]
        tries = 0
        while v == forbid or (unique and seen[v]):
            v = _pick(sub, ctr, n)
            ctr += 1
            tries += 1
            if tries > MAX_REDRAW:
                ok = False
                break
        if not ok:
            break
        out[off + j] = v
        if unique:
            seen[v] = True
    if unique:
        for j in range(k):
            seen[out[off + j]] = False
    return ok


@_jit
def fixed_indegree(key, k, n_pre, gid0, targets, start, no_autapse, unique, seen, src, tgt, j):
    """Sources of ``targets[start:]`` until the buffers are full: returns
    (stop, count, error code)."""
    cap = src.shape[0]
    n = 0
    i = start
    while i < targets.shape[0] and n + k <= cap:
        t = targets[i]
        sub = id_key(key, gid0 + t)
        if not _constrained_draws(sub, k, n_pre, t if no_autapse else -1, unique, seen, src, n):
            return i, n, ERR_CONSTRAINTS
        for m in range(k):
            tgt[n + m] = t
            j[n + m] = m
        n += k
        i += 1
    return i, n, 0


@_jit
def pairwise_bernoulli(key, p, n_pre, gid0, targets, start, no_autapse, src, tgt, j):
    """Each source with probability ``p``, by geometric skips over the sources: the
    gap before the next source is ``floor(log(1 - u) / log(1 - p))`` with ``u`` the
    target's c-th uniform.  Needs ``len(src) >= n_pre``; returns (stop, count, 0)."""
    cap = src.shape[0]
    n = 0
    i = start
    logq = math.log1p(-p) if p < 1.0 else -math.inf
    while i < targets.shape[0] and n + n_pre <= cap:
        t = targets[i]
        m = 0
        if p > 0.0:
            sub = id_key(key, gid0 + t)
            s = -1.0
            c = 0
            while True:
                gap = np.floor(math.log1p(-uniform(sub, c)) / logq) if p < 1.0 else 0.0
                c += 1
                s = s + 1.0 + gap
                if s >= n_pre:
                    break
                si = np.int64(s)
                if no_autapse and si == t:
                    continue
                src[n] = si
                tgt[n] = t
                j[n] = m
                n += 1
                m += 1
        i += 1
    return i, n, 0


@_jit
def all_to_all(n_pre, targets, start, no_autapse, src, tgt, j):
    """Every source to ``targets[start:]`` (``len(src) >= n_pre``): (stop, count, 0)."""
    cap = src.shape[0]
    n = 0
    i = start
    while i < targets.shape[0] and n + n_pre <= cap:
        t = targets[i]
        m = 0
        for s in range(n_pre):
            if no_autapse and s == t:
                continue
            src[n] = s
            tgt[n] = t
            j[n] = m
            n += 1
            m += 1
        i += 1
    return i, n, 0


@_jit
def one_to_one(targets, start, src, tgt, j):
    """Source ``t`` to each target ``t`` of ``targets[start:]``: (stop, count, 0)."""
    n = min(src.shape[0], targets.shape[0] - start)
    for m in range(n):
        src[m] = targets[start + m]
        tgt[m] = targets[start + m]
        j[m] = 0
    return start + n, n, 0


@_jit
def fixed_outdegree(
    key,
    k,
    n_post,
    gid0,
    n_pre,
    start,
    stop,
    local,
    count,
    no_autapse,
    unique,
    seen,
    draws,
    src,
    tgt,
    j,
):
    """``k`` targets per source, sources ``start`` to ``stop - 1`` (``stop <= n_pre``);
    keeps local targets (``local``), numbering each target's synapses in walk order
    (``count``, per target, carried across calls).  ``draws`` holds ``k`` entries.
    Returns (stop, count, error code)."""
    cap = src.shape[0]
    n = 0
    s = start
    while s < stop and n + k <= cap:
        sub = id_key(key, gid0 + s)
        if not _constrained_draws(sub, k, n_post, s if no_autapse else -1, unique, seen, draws, 0):
            return s, n, ERR_CONSTRAINTS
        for m in range(k):
            t = draws[m]
            if local[t]:
                src[n] = s
                tgt[n] = t
                j[n] = count[t]
                count[t] += 1
                n += 1
        s += 1
    return s, n, 0


@_jit
def fixed_total_number(
    ks, kt, n_total, n_pre, n_post, start, stop, local, count, no_autapse, src, tgt, j
):
    """Synapses ``start`` to ``stop - 1`` of ``n_total``: source and target uniformly
    (an autapse redraws the source at counter ``n_total * try + i``); keeps local
    targets, numbering each target's synapses in ``i`` order (``count``, carried
    across calls).  Returns (stop, count, error code)."""
    cap = src.shape[0]
    n = 0
    i = start
    while i < stop and n < cap:
        ui = np.uint64(i)
        s = _pick(ks, ui, n_pre)
        t = _pick(kt, ui, n_post)
        if no_autapse:
            tries = 0
            while s == t:
                tries += 1
                if tries > MAX_REDRAW:
                    return i, n, ERR_CONSTRAINTS
                s = _pick(ks, np.uint64(n_total) * np.uint64(tries) + ui, n_pre)
        if local[t]:
            src[n] = s
            tgt[n] = t
            j[n] = count[t]
            count[t] += 1
            n += 1
        i += 1
    return i, n, 0


@_jit
def rule_chunk(
    rule,
    key,
    key2,
    k,
    p,
    n_total,
    n_pre,
    n_post,
    gid0,
    targets,
    start,
    stop,
    local,
    count,
    no_autapse,
    unique,
    seen,
    draws,
    src,
    tgt,
    j,
):
    """One chunk of a rule's synapses from walk unit ``start`` on, before ``stop``.

    Units are indices into ``targets`` for the per-target rules (``R_INDEGREE``,
    ``R_BERNOULLI``, ``R_ALL``, ``R_ONE``), sources for ``R_OUTDEGREE`` and synapse
    numbers for ``R_TOTAL`` (``key``, ``key2``: its source and target sub-keys).  The
    other arguments are those of the rule's kernel above.  Returns (stop, count,
    error code).
    """
    if rule == R_INDEGREE:
        return fixed_indegree(
            key, k, n_pre, gid0, targets[:stop], start, no_autapse, unique, seen, src, tgt, j
        )
    if rule == R_BERNOULLI:
        return pairwise_bernoulli(
            key, p, n_pre, gid0, targets[:stop], start, no_autapse, src, tgt, j
        )
    if rule == R_ALL:
        return all_to_all(n_pre, targets[:stop], start, no_autapse, src, tgt, j)
    if rule == R_ONE:
        return one_to_one(targets[:stop], start, src, tgt, j)
    if rule == R_OUTDEGREE:
        return fixed_outdegree(
            key,
            k,
            n_post,
            gid0,
            n_pre,
            start,
            stop,
            local,
            count,
            no_autapse,
            unique,
            seen,
            draws,
            src,
            tgt,
            j,
        )
    return fixed_total_number(
        key, key2, n_total, n_pre, n_post, start, stop, local, count, no_autapse, src, tgt, j
    )


#: Draws per batch of :func:`_draw_batch` (its scratch arrays stay in L1).
BATCH = 256
#: Bound on |z_fast - z_libm| for a standard normal deviate of :func:`_draw_batch`:
#: the fast log1p and cos below are within 1e-15 (relative; absolute) of the exact
#: values and libm's within 1 ulp, so |z| <= 8.6 makes the difference < 3e-14.
FAST_MARGIN = 1e-12

# Cody-Waite splits (fdlibm's): k * _PIO2_1 and e * _LN2_HI are exact for small k, e
_PIO2_1 = 1.57079632673412561417e00  # pi/2, first 33 bits
_PIO2_1T = 6.07710050650619224932e-11  # pi/2 - _PIO2_1
_INV_PIO2 = 6.36619772367581382433e-01
_LN2_HI = 6.93147180369123816490e-01  # ln 2, first 32 bits
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI
_SQRT2 = 1.4142135623730951
_MANT = np.int64(0x000FFFFFFFFFFFFF)
_EXP1 = np.int64(0x3FF0000000000000)  # the exponent bits of 1.0
_EXP_MASK = np.int64(0x7FF)
_S52 = np.int64(52)

#: Post populations up to this size get a table of their sub-keys (fill_block).
SUBS_MAX = 1 << 16

# Vectorised loops (no calls, no branches; error_model numpy: no zero-division checks
# in the loop -- the divisors here are >= 1 -- and the same IEEE results).
_vec = nb.njit(cache=True, nogil=True, error_model="numpy")


@_vec
def fast_log1p_neg(u, out, xs, es, ms):
    """``out[q] = log1p(-u[q])`` for ``u`` in [0, 1), within 1e-15 relative (5e-16
    measured against libm), in SIMD lanes: ``x = 1 - u`` and its rounding error
    ``c``; ``x = m 2^e`` with ``m`` in [sqrt(1/2), sqrt(2)); ``log m = 2 atanh(s)``,
    ``s = (m - 1) / (m + 1)``, ``|s| <= 0.172``, by its series to ``s^23`` (remainder
    < 3e-17); ``log1p(-u) = e ln 2 + log m + c / x``.  ``u`` and ``out`` may be one
    array; ``xs``, ``ms`` (float64), ``es`` (int64): scratch, as long as ``u``."""
    n = u.shape[0]
    xi = xs.view(np.int64)
    mi = ms.view(np.int64)
    for q in range(n):
        x = 1.0 - u[q]
        xs[q] = x
        out[q] = (-u[q] - (x - 1.0)) / x  # x - 1 is exact (Sterbenz)
    for q in range(n):
        b = xi[q]
        es[q] = ((b >> _S52) & _EXP_MASK) - 1023
        mi[q] = (b & _MANT) | _EXP1
    for q in range(n):
        m = ms[q]
        e = np.float64(es[q])
        big = m > _SQRT2
        m = m * 0.5 if big else m
        e = e + 1.0 if big else e
        s = (m - 1.0) / (m + 1.0)
        s2 = s * s
        p = 1.0 / 23.0
        p = p * s2 + 1.0 / 21.0
        p = p * s2 + 1.0 / 19.0
        p = p * s2 + 1.0 / 17.0
        p = p * s2 + 1.0 / 15.0
        p = p * s2 + 1.0 / 13.0
        p = p * s2 + 1.0 / 11.0
        p = p * s2 + 1.0 / 9.0
        p = p * s2 + 1.0 / 7.0
        p = p * s2 + 1.0 / 5.0
        p = p * s2 + 1.0 / 3.0
        p = p * s2 + 1.0
        out[q] = e * _LN2_HI + (e * _LN2_LO + (2.0 * s * p + out[q]))


@_vec
def fast_cos(x, out):
    """``out[q] = cos(x[q])`` for ``x`` in [0, 2 pi], within 1e-15 absolute (1.1e-16
    measured against libm), in SIMD lanes: ``x = k pi/2 + r``, ``|r| <= pi/4``
    (Cody-Waite), ``cos x`` = +-cos r or +-sin r by their Taylor series to ``r^18``
    and ``r^17`` (remainders < 1e-17).  ``x`` and ``out`` may be one array."""
    for q in range(x.shape[0]):
        xq = x[q]
        k = np.rint(xq * _INV_PIO2)
        r = (xq - k * _PIO2_1) - k * _PIO2_1T
        r2 = r * r
        c = 1.0 / 6402373705728000.0
        c = c * r2 - 1.0 / 20922789888000.0
        c = c * r2 + 1.0 / 87178291200.0
        c = c * r2 - 1.0 / 479001600.0
        c = c * r2 + 1.0 / 3628800.0
        c = c * r2 - 1.0 / 40320.0
        c = c * r2 + 1.0 / 720.0
        c = c * r2 - 1.0 / 24.0
        c = c * r2 + 0.5
        c = 1.0 - c * r2
        s = 1.0 / 355687428096000.0
        s = s * r2 - 1.0 / 1307674368000.0
        s = s * r2 + 1.0 / 6227020800.0
        s = s * r2 - 1.0 / 39916800.0
        s = s * r2 + 1.0 / 362880.0
        s = s * r2 - 1.0 / 5040.0
        s = s * r2 + 1.0 / 120.0
        s = s * r2 - 1.0 / 6.0
        s = r + r * r2 * s
        # cos(k pi/2 + r), k in 0..4: cos r, -sin r, -cos r, sin r, cos r
        sv = -s if k == 1.0 else s
        cv = -c if k == 2.0 else c
        out[q] = sv if (k == 1.0 or k == 3.0) else cv


@_vec
def _bracket(kind, a0, a1, a2, a3, z, out, exact, quant, dt, margin):
    """For each fast deviate ``z[q]`` (within ``margin`` of libm's), the value
    ``v = a0 + a1 z`` (kind 3: clipped to [a2, a3]) as :func:`_draw` computes it is
    in ``[v(z - margin), v(z + margin)]`` (IEEE rounding is monotone).  Where every
    value there is stored alike -- ``quant`` 0: the same float32 and sign; 1: the same
    delay step (:func:`_dsteps_f`) -- and (kind 4) inside the bounds, ``out[q]`` is that
    interval's low end, else ``exact[q]`` is set (drawn exactly, or redrawn, by the caller)."""
    for q in range(z.shape[0]):
        v1 = a0 + a1 * (z[q] - margin)
        v2 = a0 + a1 * (z[q] + margin)
        lo = min(v1, v2)
        hi = max(v1, v2)
        if kind == 3:
            lo = min(max(lo, a2), a3)
            hi = min(max(hi, a2), a3)
            inside = True
        else:
            inside = lo >= a2 and hi <= a3
        if quant == 0:
            same = np.float32(lo) == np.float32(hi) and (lo > 0.0) == (hi > 0.0)
            same = same and lo != 0.0 and hi != 0.0
        else:
            same = _dsteps_f(lo, dt) == _dsteps_f(hi, dt)  # float: no int overflow
        out[q] = lo
        exact[q] = not (inside and same)


@_jit
def _draw_batch(kind, a, key, subs, gid0, tgt, j, lo, hi, out, tmp, scr, iscr, quant, dt, margin):
    """``out[i - lo]``: the draw ``_draw(kind, *a, id_key(key, gid0 + tgt[i]), j[i])``
    for ``i`` in ``lo:hi`` (``quant`` < 0), or a value stored alike (``quant`` 0: the
    same float32 and sign, for weights; 1: the same delay step, for delays).
    ``subs``: the sub-keys ``id_key(key, gid0 + t)`` of all targets ``t``, or empty
    (then computed here).

    Stage by stage over the batch, so that draws of different synapses overlap: the
    hashes, then (normal and clipped normal kinds, ``quant`` >= 0) :func:`fast_log1p_neg`
    and :func:`fast_cos` in SIMD lanes and :func:`_bracket`; a draw whose stored value
    the fast deviate does not settle (a few weights in a million, about one delay in
    1e10, and the draws a bound rejects) is drawn exactly by :func:`_draw` (libm), as
    is every lognormal.  So the stored values are those of the serial build, bit for
    bit.
    ``tmp``: float64 scratch (``BATCH``); ``scr``: float64 (3, ``BATCH``); ``iscr``:
    int64 (2, ``BATCH``).  Returns False when a bounded normal's bounds reject almost
    every draw.
    """
    a0, a1, a2, a3 = a[0], a[1], a[2], a[3]
    m = hi - lo
    if kind == 0:
        out[:m] = a0
        return True
    last = -1
    sub = np.uint64(0)
    have = subs.shape[0] > 0
    if kind == 1:
        for i in range(lo, hi):
            t = tgt[i]
            if t != last:
                sub = subs[t] if have else id_key(key, gid0 + t)
                last = t
            out[i - lo] = a0 + (a1 - a0) * uniform(sub, j[i])
        return True
    # normal deviates: the two uniforms of Box-Muller for every draw first
    for i in range(lo, hi):
        t = tgt[i]
        if t != last:
            sub = subs[t] if have else id_key(key, gid0 + t)
            last = t
        c = np.uint64(j[i]) if kind == 2 else np.uint64(j[i]) * _U64
        c = c * _TWO
        tmp[i - lo] = uniform(sub, c)
        out[i - lo] = uniform(sub, c + _ONE)
    if kind == 2 or quant < 0:
        for q in range(m):
            tmp[q] = math.sqrt(-2.0 * math.log1p(-tmp[q]))
        for q in range(m):
            tmp[q] = tmp[q] * math.cos(_TWO_PI * out[q])
        if kind == 2:
            for q in range(m):
                out[q] = math.exp(a0 + a1 * tmp[q])
            return True
        for q in range(m):
            out[q] = a0 + a1 * tmp[q]
            if kind == 3:
                out[q] = min(max(out[q], a2), a3)
            elif out[q] < a2 or out[q] > a3:
                iscr[0, q] = 1
            else:
                iscr[0, q] = 0
        if kind == 3:
            return True
    else:
        u1, x = tmp[:m], out[:m]
        fast_log1p_neg(u1, u1, scr[0, :m], iscr[1, :m], scr[1, :m])
        for q in range(m):
            x[q] = _TWO_PI * x[q]
        fast_cos(x, x)
        z = scr[2, :m]
        for q in range(m):
            z[q] = math.sqrt(-2.0 * u1[q]) * x[q]
        _bracket(kind, a0, a1, a2, a3, z, out, iscr[0, :m], quant, dt, margin)
    for q in range(m):
        if iscr[0, q]:  # exactly, with libm (and redrawn where a bound rejects)
            i = lo + q
            v = _draw(kind, a0, a1, a2, a3, id_key(key, gid0 + tgt[i]), j[i])
            if math.isnan(v):
                return False
            out[q] = v
    return True


@_jit
def count_sources(src, gid0, counts):
    for i in range(src.shape[0]):
        counts[gid0 + src[i]] += 1


@_jit
def scatter(
    src,
    tgt,
    j,
    pre_gid0,
    post_gid0,
    n0,
    n_neurons,
    wkind,
    wa,
    wkey,
    warr,
    dkind,
    da,
    dkey,
    darr,
    subs,
    dt,
    rec_fixed,
    rec_ex,
    rec_in,
    absw,
    fill,
    target,
    weight,
    delay,
    lim,
    drawn,
):
    """Draw the weights and delays of a chunk of synapses and append them to their
    source rows of the CSR (``fill[pre_gid0 + src]``: the row's next free position).

    A weight is ``warr[i]`` when ``wkind < 0``, else ``_draw(wkind, *wa)`` at counter
    ``j[i]`` of the stream ``id_key(wkey, post_gid0 + tgt[i])`` (delays likewise, in
    ms, then rounded to steps as NEST rounds them, :func:`_dsteps_f`); ``subs``
    (uint64, (2, n_post) or (2, 0)): those streams' sub-keys by target, if precomputed.
    The receptor port is ``rec_fixed`` when >= 0, else by the weight's sign; ``absw``:
    store ``|w|``.  ``lim[0]``, ``lim[1]``: running min and max delay in ticks.  Returns 0 or an
    error code (``ERR_DELAY_LOW``, ``ERR_DELAY_HIGH``, ``ERR_BOUNDS``; stops there).
    ``drawn``: None when weight and delay are constants (``wkind == dkind == 0``), so
    that the drawing code is not compiled (neurosim/_numba_gate.py); True otherwise.
    """
    if wkind == 0 and dkind == 0:  # constant weight and delay: one value for all
        sf = _dsteps_f(da[0], dt)
        if sf < 1.0:
            return ERR_DELAY_LOW
        if sf > 65535.0:
            return ERR_DELAY_HIGH
        st = np.int64(sf)
        lim[0] = min(lim[0], st)
        lim[1] = max(lim[1], st)
        w = wa[0]
        rec = rec_fixed if rec_fixed >= 0 else (rec_in if w < 0 else rec_ex)
        wf = np.float32(abs(w) if absw else w)
        off = rec * n_neurons + n0
        for i in range(src.shape[0]):
            g = pre_gid0 + src[i]
            pos = fill[g]
            fill[g] = pos + 1
            target[pos] = off + tgt[i]
            weight[pos] = wf
            delay[pos] = st
        return 0
    return _g_drawn(
        drawn,
        src,
        tgt,
        j,
        pre_gid0,
        post_gid0,
        n0,
        n_neurons,
        wkind,
        wa,
        wkey,
        warr,
        dkind,
        da,
        dkey,
        darr,
        subs,
        dt,
        rec_fixed,
        rec_ex,
        rec_in,
        absw,
        fill,
        target,
        weight,
        delay,
        lim,
    )


@_jit
def _scatter_drawn(
    src,
    tgt,
    j,
    pre_gid0,
    post_gid0,
    n0,
    n_neurons,
    wkind,
    wa,
    wkey,
    warr,
    dkind,
    da,
    dkey,
    darr,
    subs,
    dt,
    rec_fixed,
    rec_ex,
    rec_in,
    absw,
    fill,
    target,
    weight,
    delay,
    lim,
):
    """:func:`scatter` for drawn or given weights and delays."""
    n = src.shape[0]
    wv = np.empty(BATCH)
    dv = np.empty(BATCH)
    tmp = np.empty(BATCH)
    scr = np.empty((3, BATCH))
    iscr = np.empty((2, BATCH), np.int64)
    slot = np.empty(BATCH, np.int64)
    wf = np.empty(BATCH, np.float32)
    st = np.empty(BATCH, np.int64)
    lo = lim[0]
    hi = lim[1]
    err = 0
    for a in range(0, n, BATCH):
        e = min(a + BATCH, n)
        m = e - a
        if wkind < 0:
            wv[:m] = warr[a:e]
        elif not _draw_batch(
            wkind,
            wa,
            wkey,
            subs[0],
            post_gid0,
            tgt,
            j,
            a,
            e,
            wv,
            tmp,
            scr,
            iscr,
            0,
            dt,
            FAST_MARGIN,
        ):
            err = ERR_BOUNDS
            break
        if dkind < 0:
            dv[:m] = darr[a:e]
        elif not _draw_batch(
            dkind,
            da,
            dkey,
            subs[1],
            post_gid0,
            tgt,
            j,
            a,
            e,
            dv,
            tmp,
            scr,
            iscr,
            1,
            dt,
            FAST_MARGIN,
        ):
            err = ERR_BOUNDS
            break
        # what to store, then the stores: the scattered stores (cache misses) no
        # longer hold up the arithmetic of the next synapses
        low = False
        high = False
        for q in range(m):
            w = wv[q]
            sf = _dsteps_f(dv[q], dt)
            low |= sf < 1.0
            high |= sf > 65535.0
            s = np.int64(sf) if sf <= 65535.0 else np.int64(65536)
            lo = min(lo, s)
            hi = max(hi, s)
            if rec_fixed >= 0:
                rec = rec_fixed
            elif w < 0:
                rec = rec_in
            else:
                rec = rec_ex
            slot[q] = rec * n_neurons + n0 + tgt[a + q]
            wf[q] = abs(w) if absw else w
            st[q] = s
        if low or high:
            err = ERR_DELAY_LOW if low else ERR_DELAY_HIGH
            break
        for q in range(m):
            g = pre_gid0 + src[a + q]
            pos = fill[g]
            fill[g] = pos + 1
            target[pos] = slot[q]
            weight[pos] = wf[q]
            delay[pos] = st[q]
    lim[0] = lo
    lim[1] = hi
    return err


_g_drawn = gate(_scatter_drawn, ERR_INTERNAL)


# The blocks of a projection's two passes (count_block, fill_block) take the rule as
# rule_chunk does (rule, key, key2, k, p, n_total, n_pre, n_post, gid0, targets, local,
# no_autapse, unique; ``local``: bool mask of this process's targets, for the
# walk-order rules), then the block's walk units ``u0:u1`` and ``cap``, the synapses
# per chunk buffer (>= k, and >= n_pre for R_BERNOULLI and R_ALL).


@_jit
def count_block(
    rule,
    key,
    key2,
    k,
    p,
    n_total,
    n_pre,
    n_post,
    gid0,
    targets,
    local,
    no_autapse,
    unique,
    u0,
    u1,
    cap,
    cs,
    ct,
):
    """First pass over one block of a projection's walk (units ``u0:u1``).

    Adds the block's synapses of source ``s`` to ``cs[s]`` and, for the walk-order
    rules (``R_OUTDEGREE``, ``R_TOTAL``), those of target ``t`` to ``ct[t]`` (the
    count that numbers a target's synapses; ``ct`` is empty for the other rules).
    Returns 0 or an error code.
    """
    if rule == R_TOTAL and not no_autapse:
        # fixed_total_number's draws without the chunk buffers (the microcircuit's rule)
        for i in range(u0, u1):
            ui = np.uint64(i)
            t = _pick(key2, ui, n_post)
            if local[t]:
                cs[_pick(key, ui, n_pre)] += 1
                ct[t] += 1
        return 0
    src = np.empty(cap, np.int64)
    tgt = np.empty(cap, np.int64)
    j = np.empty(cap, np.int64)
    seen = np.zeros(max(n_pre, n_post, 1) if unique else 1, np.bool_)
    draws = np.empty(max(k, 1), np.int64)
    u = u0
    while u < u1:
        nxt, n, e = rule_chunk(
            rule, key, key2, k, p, n_total, n_pre, n_post, gid0, targets, u, u1,
            local, ct, no_autapse, unique, seen, draws, src, tgt, j,
        )  # fmt: skip
        for m in range(n):
            cs[src[m]] += 1
        if e == 0 and nxt == u:
            e = ERR_CONSTRAINTS  # a buffer too small for one unit (not reached)
        if e:
            return e
        u = nxt
    return 0


@_jit
def fill_block(
    rule,
    key,
    key2,
    k,
    p,
    n_total,
    n_pre,
    n_post,
    gid0,
    targets,
    local,
    no_autapse,
    unique,
    u0,
    u1,
    cap,
    fb,
    cb,
    post_gid0,
    n0,
    n_neurons,
    wkind,
    wa,
    wkey,
    dkind,
    da,
    dkey,
    dt,
    rec_fixed,
    rec_ex,
    rec_in,
    absw,
    target,
    weight,
    delay,
    lim,
    drawn,
):
    """Second pass over the block of :func:`count_block`: its synapses again, drawn
    and scattered into the CSR by :func:`scatter` from the block's own offsets.

    ``fb[s]``: where the block's first synapse of source ``s`` goes (the row's fill
    position plus the synapses of ``s`` in the blocks before), advanced as it writes;
    ``cb[t]``: the synapses of target ``t`` in the blocks before (walk-order rules:
    the ordinal ``j`` of the block's first synapse onto ``t``).  So each synapse
    lands where a serial fill puts it, with the same ``j``.  ``lim``: running min and
    max delay (ticks).  Returns 0 or an error code.  The weight and delay arguments
    are those of :func:`scatter`.
    """
    none = np.zeros(0)
    # walk-order rules change target at every synapse: their targets' sub-keys once
    # (a small table, cache-resident), not two hashes per draw
    walk = rule == R_OUTDEGREE or rule == R_TOTAL
    n_subs = n_post if walk and n_post <= SUBS_MAX else 0
    subs = np.empty((2, n_subs), np.uint64)
    for t in range(n_subs):
        subs[0, t] = id_key(wkey, post_gid0 + t)
        subs[1, t] = id_key(dkey, post_gid0 + t)
    src = np.empty(cap, np.int64)
    tgt = np.empty(cap, np.int64)
    j = np.empty(cap, np.int64)
    seen = np.zeros(max(n_pre, n_post, 1) if unique else 1, np.bool_)
    draws = np.empty(max(k, 1), np.int64)
    u = u0
    while u < u1:
        nxt, n, e = rule_chunk(
            rule, key, key2, k, p, n_total, n_pre, n_post, gid0, targets, u, u1,
            local, cb, no_autapse, unique, seen, draws, src, tgt, j,
        )  # fmt: skip
        if e == 0 and nxt == u:
            e = ERR_CONSTRAINTS
        if e == 0 and n:
            e = scatter(
                src[:n], tgt[:n], j[:n], 0, post_gid0, n0, n_neurons,
                wkind, wa, wkey, none, dkind, da, dkey, none, subs, dt,
                rec_fixed, rec_ex, rec_in, absw, fb, target, weight, delay, lim, drawn,
            )  # fmt: skip
        if e:
            return e
        u = nxt
    return 0


def n_threads():
    """numba's thread count (``--threads`` / ``NUMBA_NUM_THREADS``): the build's blocks."""
    return nb.get_num_threads()
