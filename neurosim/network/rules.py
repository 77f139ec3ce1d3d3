"""Connectivity rules drawn from counter-based streams, per target (or per source).

Each function returns the synapses of one projection whose targets are in
``targets`` (post-population-local indices, sorted), as ``(src, tgt)`` arrays of
population-local indices.  Every draw is keyed by ``(seed, CONNECT, projection)``
and the global id of the target (or, for the rules that are not per target, the
source or the synapse number), so any subset of targets -- any partition over
ranks -- gets exactly the synapses it would get in the whole network.
"""

from __future__ import annotations

import numpy as np

from .. import rng

#: Upper bound on the number of random draws held at once (bounds the working set).
CHUNK = 1 << 22
_MAX_REDRAW = 10_000


def _chunks(n_items, per_item):
    step = max(1, CHUNK // max(1, per_item))
    for a in range(0, n_items, step):
        yield a, min(n_items, a + step)


def _redraw_rows(sub, counts, n_pre, forbid, unique, first_counter):
    """Redraw per row with fresh counters until no forbidden or repeated entry remains.

    Parameters
    ----------
    sub : ndarray of uint64, shape (T,)
        Per-row sub-keys.
    counts : ndarray, shape (T, k)
        The first draws (row-wise source indices).
    forbid : ndarray of int64, shape (T,) or None
        A value each row must not contain (the autapse), or None.
    unique : bool
        Whether entries within a row must be distinct (no multapses).
    """
    out = counts.copy()
    k = out.shape[1]
    for r in range(out.shape[0]):
        row = out[r]
        ctr = first_counter
        seen = set()
        for j in range(k):
            v = int(row[j])
            tries = 0
            while (forbid is not None and v == forbid[r]) or (unique and v in seen):
                v = int(np.floor(rng.uniform(sub[r], ctr) * n_pre))
                ctr += 1
                tries += 1
                if tries > _MAX_REDRAW:
                    raise RuntimeError("connection rule cannot satisfy its constraints")
            row[j] = v
            seen.add(v)
    return out


def fixed_indegree(key, k, n_pre, post_gids, targets, autapse_offset, multapses):
    """``k`` sources per target, uniformly with replacement (NEST's fixed_indegree).

    ``autapse_offset`` is None when autapses are allowed or pre != post; otherwise
    source ``t`` is forbidden for target ``t``.
    """
    srcs, tgts = [], []
    for a, b in _chunks(len(targets), k):
        t = targets[a:b]
        sub = rng.id_keys(key, post_gids[t])
        u = rng.uniform(sub[:, None], np.arange(k, dtype=np.uint64)[None, :])
        s = np.floor(u * n_pre).astype(np.int64)
        forbid = t if autapse_offset is not None else None
        bad = np.zeros(len(t), bool)
        if forbid is not None:
            bad |= (s == forbid[:, None]).any(axis=1)
        if not multapses:
            ss = np.sort(s, axis=1)
            bad |= (ss[:, 1:] == ss[:, :-1]).any(axis=1)
        if bad.any():
            rows = np.nonzero(bad)[0]
            s[rows] = _redraw_rows(
                sub[rows], s[rows], n_pre, None if forbid is None else forbid[rows],
                not multapses, k,
            )
        srcs.append(s.ravel())
        tgts.append(np.repeat(t, k))
    return _cat(srcs), _cat(tgts)


def pairwise_bernoulli(key, p, n_pre, post_gids, targets, autapse_offset):
    """Each (source, target) pair connected with probability ``p`` (no multapses)."""
    srcs, tgts = [], []
    pre_idx = np.arange(n_pre, dtype=np.uint64)
    for a, b in _chunks(len(targets), n_pre):
        t = targets[a:b]
        sub = rng.id_keys(key, post_gids[t])
        hit = rng.uniform(sub[:, None], pre_idx[None, :]) < p
        if autapse_offset is not None:
            rows = np.arange(len(t))
            ok = t < n_pre
            hit[rows[ok], t[ok]] = False
        r, s = np.nonzero(hit)
        srcs.append(s.astype(np.int64))
        tgts.append(t[r])
    return _cat(srcs), _cat(tgts)


def all_to_all(n_pre, targets, autapse_offset):
    """Every source to every target (minus the autapse when forbidden)."""
    s = np.tile(np.arange(n_pre, dtype=np.int64), len(targets))
    t = np.repeat(targets, n_pre)
    if autapse_offset is not None:
        keep = s != t
        s, t = s[keep], t[keep]
    return s, t


def one_to_one(targets):
    """Source ``i`` to target ``i``."""
    return targets.copy(), targets.copy()


def fixed_outdegree(key, k, n_post, pre_gids, targets, autapse_offset, multapses):
    """``k`` targets per source; every rank walks all sources and keeps its targets."""
    local = np.zeros(n_post, bool)
    local[targets] = True
    srcs, tgts = [], []
    n_pre = len(pre_gids)
    for a, b in _chunks(n_pre, k):
        s_idx = np.arange(a, b, dtype=np.int64)
        sub = rng.id_keys(key, pre_gids[s_idx])
        u = rng.uniform(sub[:, None], np.arange(k, dtype=np.uint64)[None, :])
        t = np.floor(u * n_post).astype(np.int64)
        forbid = s_idx if autapse_offset is not None else None
        bad = np.zeros(len(s_idx), bool)
        if forbid is not None:
            bad |= (t == forbid[:, None]).any(axis=1)
        if not multapses:
            tt = np.sort(t, axis=1)
            bad |= (tt[:, 1:] == tt[:, :-1]).any(axis=1)
        if bad.any():
            rows = np.nonzero(bad)[0]
            t[rows] = _redraw_rows(
                sub[rows], t[rows], n_post, None if forbid is None else forbid[rows],
                not multapses, k,
            )
        s = np.repeat(s_idx, k)
        t = t.ravel()
        keep = local[t]
        srcs.append(s[keep])
        tgts.append(t[keep])
    return _cat(srcs), _cat(tgts)


def fixed_total_number(key, n, n_pre, n_post, targets, autapse_offset, multapses):
    """``n`` synapses, each (source, target) drawn uniformly; the same split on any rank."""
    if not multapses:
        raise ValueError("fixed_total_number without multapses is not supported")
    local = np.zeros(n_post, bool)
    local[targets] = True
    ks = rng.id_keys(key, np.array([0], np.uint64))[0]
    kt = rng.id_keys(key, np.array([1], np.uint64))[0]
    srcs, tgts = [], []
    for a, b in _chunks(n, 1):
        i = np.arange(a, b, dtype=np.uint64)
        s = np.floor(rng.uniform(ks, i) * n_pre).astype(np.int64)
        t = np.floor(rng.uniform(kt, i) * n_post).astype(np.int64)
        if autapse_offset is not None:
            bad = np.nonzero(s == t)[0]
            tries = 0
            while len(bad):
                tries += 1
                if tries > _MAX_REDRAW:
                    raise RuntimeError("fixed_total_number cannot avoid autapses")
                ctr = np.uint64(n) * np.uint64(tries) + i[bad]
                s[bad] = np.floor(rng.uniform(ks, ctr) * n_pre).astype(np.int64)
                bad = bad[s[bad] == t[bad]]
        keep = local[t]
        srcs.append(s[keep])
        tgts.append(t[keep])
    return _cat(srcs), _cat(tgts)


def _cat(parts):
    if not parts:
        return np.zeros(0, np.int64)
    return np.concatenate(parts).astype(np.int64, copy=False)
