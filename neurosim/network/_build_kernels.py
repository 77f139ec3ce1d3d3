"""Numba kernels of the network build (private; the build is not a backend).

Bit-identical twins of :mod:`neurosim.rng`'s integer hashing (``mix64``, ``id_keys``,
``bits``, ``uniform``) and twins of ``rng.normal`` and ``build.sample`` (the same
formulas; ``log1p``/``cos``/``exp`` come from LLVM's libm here, so a normal deviate
may differ from numpy's in the last bit).  Every connectivity kernel writes the
synapses of a chunk of targets (or sources, for the rules that walk sources) into
caller-owned buffers and returns where it stopped, so the build never holds more
than one chunk of draws at a time, and regenerating a chunk gives the same synapses
(the build counts in a first pass and scatters in a second).

Synapse ordinal ``j``: the position of a synapse among its target's synapses in
generation order (draw index for ``fixed_indegree``, ascending source for
``pairwise_bernoulli`` and ``all_to_all``, walk order for ``fixed_outdegree`` and
``fixed_total_number``). Weights and delays are drawn at counter ``j`` of streams
keyed by the target's gid, so they too depend on nothing but (seed, projection, target).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

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

# value kinds: rules.KIND
_jit = nb.njit(cache=True, nogil=True)
_inline = nb.njit(cache=True, nogil=True, inline="always")


@_inline
def mix64(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@_inline
def id_key(key, gid):
    """``rng.id_keys`` for one id."""
    return mix64(mix64(key ^ np.uint64(gid)))


@_inline
def uniform(sub, ctr):
    """``rng.uniform`` for one (sub-key, counter)."""
    b = mix64(sub + (np.uint64(ctr) + _ONE) * _GOLDEN)
    return np.float64(b >> _S11) * _TWO_M53


@_inline
def normal(sub, ctr):
    """``rng.normal`` for one (sub-key, counter)."""
    c = np.uint64(ctr) * _TWO
    u1 = uniform(sub, c)
    u2 = uniform(sub, c + _ONE)
    return math.sqrt(-2.0 * math.log1p(-u1)) * math.cos(_TWO_PI * u2)


@_inline
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
        if attempt >= 64:
            raise ValueError("normal distribution bounds reject almost every draw")
        v = a0 + a1 * normal(sub, base + np.uint64(attempt))
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
        out[i] = _draw(kind, a0, a1, a2, a3, sub, j[i])


@_inline
def _pick(sub, ctr, n):
    return np.int64(math.floor(uniform(sub, ctr) * n))


@_inline
def _constrained_draws(sub, k, n, forbid, unique, seen, out, off):
    """``k`` draws in ``[0, n)`` into ``out[off:off+k]`` at counters ``0..k-1``; then, in
    order, an entry equal to ``forbid`` (>= 0) or, when ``unique``, to an earlier entry
    is redrawn at counters ``k, k+1, ...`` until it is neither.  ``seen`` (bool, ``n``,
    all False) marks the entries taken and is cleared again on return."""
    for j in range(k):
        out[off + j] = _pick(sub, j, n)
    if forbid < 0 and not unique:
        return
    ctr = k
    for j in range(k):
        v = out[off + j]
        tries = 0
        while v == forbid or (unique and seen[v]):
            v = _pick(sub, ctr, n)
            ctr += 1
            tries += 1
            if tries > MAX_REDRAW:
                raise RuntimeError("connection rule cannot satisfy its constraints")
        out[off + j] = v
        if unique:
            seen[v] = True
    if unique:
        for j in range(k):
            seen[out[off + j]] = False


@_jit
def fixed_indegree(key, k, n_pre, gid0, targets, start, no_autapse, unique, seen, src, tgt, j):
    """Sources of ``targets[start:]`` until the buffers are full: returns (stop, count)."""
    cap = src.shape[0]
    n = 0
    i = start
    while i < targets.shape[0] and n + k <= cap:
        t = targets[i]
        sub = id_key(key, gid0 + t)
        _constrained_draws(sub, k, n_pre, t if no_autapse else -1, unique, seen, src, n)
        for m in range(k):
            tgt[n + m] = t
            j[n + m] = m
        n += k
        i += 1
    return i, n


@_jit
def pairwise_bernoulli(key, p, n_pre, gid0, targets, start, no_autapse, src, tgt, j):
    """Each source with probability ``p``, by geometric skips over the sources: the
    gap before the next source is ``floor(log(1 - u) / log(1 - p))`` with ``u`` the
    target's c-th uniform.  Needs ``len(src) >= n_pre``; returns (stop, count)."""
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
    return i, n


@_jit
def all_to_all(n_pre, targets, start, no_autapse, src, tgt, j):
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
    return i, n


@_jit
def fixed_outdegree(
    key, k, n_post, gid0, n_pre, start, local, count, no_autapse, unique, seen, draws, src, tgt, j
):
    """``k`` targets per source from source ``start`` on; keeps local targets (``local``),
    numbering each target's synapses in walk order (``count``, per target, carried
    across calls).  ``draws`` holds ``k`` entries.  Returns (stop, count)."""
    cap = src.shape[0]
    n = 0
    s = start
    while s < n_pre and n + k <= cap:
        sub = id_key(key, gid0 + s)
        _constrained_draws(sub, k, n_post, s if no_autapse else -1, unique, seen, draws, 0)
        for m in range(k):
            t = draws[m]
            if local[t]:
                src[n] = s
                tgt[n] = t
                j[n] = count[t]
                count[t] += 1
                n += 1
        s += 1
    return s, n


@_jit
def fixed_total_number(
    ks, kt, n_total, n_pre, n_post, start, local, count, no_autapse, src, tgt, j
):
    """Synapses ``start, start+1, ...`` of ``n_total``: source and target uniformly
    (an autapse redraws the source at counter ``n_total * try + i``); keeps local targets."""
    cap = src.shape[0]
    n = 0
    i = start
    while i < n_total and n < cap:
        ui = np.uint64(i)
        s = _pick(ks, ui, n_pre)
        t = _pick(kt, ui, n_post)
        if no_autapse:
            tries = 0
            while s == t:
                tries += 1
                if tries > MAX_REDRAW:
                    raise RuntimeError("fixed_total_number cannot avoid autapses")
                s = _pick(ks, np.uint64(n_total) * np.uint64(tries) + ui, n_pre)
        if local[t]:
            src[n] = s
            tgt[n] = t
            j[n] = count[t]
            count[t] += 1
            n += 1
        i += 1
    return i, n


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
    """Draw the weights and delays of a chunk of synapses and append them to their
    source rows of the CSR (``fill[gid]``: the row's next free position).

    A weight is ``warr[i]`` when ``wkind < 0``, else ``_draw(wkind, *wa)`` at counter
    ``j[i]`` of the stream ``id_key(wkey, post_gid0 + tgt[i])`` (delays likewise, in
    ms, then rounded half to even to ticks of ``dt``).  The receptor port is
    ``rec_fixed`` when >= 0, else by the weight's sign; ``absw``: store ``|w|``.
    ``lim[0]``, ``lim[1]``: running min and max delay in ticks.  Returns 0, or 1 for
    a delay below one tick, 2 for one above 65535 ticks (stops there).
    """
    if wkind == 0 and dkind == 0:  # constant weight and delay: one value for all
        st = np.int64(np.rint(da[0] / dt))
        if st < 1:
            return 1
        if st > 65535:
            return 2
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
    last = -1
    wsub = np.uint64(0)
    dsub = np.uint64(0)
    lo = lim[0]
    hi = lim[1]
    err = 0
    for i in range(src.shape[0]):
        t = tgt[i]
        if t != last:
            wsub = id_key(wkey, post_gid0 + t)
            dsub = id_key(dkey, post_gid0 + t)
            last = t
        if wkind < 0:
            w = warr[i]
        else:
            w = _draw(wkind, wa[0], wa[1], wa[2], wa[3], wsub, j[i])
        if dkind < 0:
            d = darr[i]
        else:
            d = _draw(dkind, da[0], da[1], da[2], da[3], dsub, j[i])
        st = np.int64(np.rint(d / dt))
        if st < 1:
            err = 1
            break
        if st > 65535:
            err = 2
            break
        lo = min(lo, st)
        hi = max(hi, st)
        if rec_fixed >= 0:
            rec = rec_fixed
        elif w < 0:
            rec = rec_in
        else:
            rec = rec_ex
        if absw:
            w = abs(w)
        g = pre_gid0 + src[i]
        pos = fill[g]
        fill[g] = pos + 1
        target[pos] = rec * n_neurons + n0 + t
        weight[pos] = w
        delay[pos] = st
    lim[0] = lo
    lim[1] = hi
    return err
