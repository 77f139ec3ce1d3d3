"""Connectivity rules drawn from counter-based streams, per target (or per source).

Each rule is a generator over chunks of one projection's synapses whose targets are
in ``targets`` (post-population-local indices, sorted): it yields ``(src, tgt, j)``,
int64 arrays of population-local source and target indices and the synapse's ordinal
``j`` among its target's synapses (the counter of its weight and delay draws).  The
arrays are views of buffers that the next chunk overwrites; :func:`collect` copies.
A chunk holds at most ``max(chunk, k or n_pre)`` synapses, and iterating again yields
the same synapses (the build counts in one pass and scatters in a second).

Every draw is keyed by ``(seed, CONNECT, projection)`` and the global id of the target
(or, for the rules that are not per target, the source or the synapse number), so any
subset of targets -- any partition over ranks, any chunking -- gets exactly the
synapses it would get in the whole network:

- ``fixed_indegree``: target ``t``'s ``m``-th source is ``floor(u(t, m) * n_pre)``
  (``m < k``); an autapse or (without multapses) a repeat is redrawn, in order, at
  counters ``k, k+1, ...``; ``j = m``.
- ``pairwise_bernoulli``: geometric skips over the sources with target ``t``'s
  uniforms (``gap = floor(log(1 - u) / log(1 - p))``); ``j`` counts the hits.
- ``fixed_outdegree``: the same as ``fixed_indegree`` with sources and targets swapped;
  every rank walks all sources and keeps its own targets; ``j`` counts per target in
  walk order.
- ``fixed_total_number``: synapse ``i`` is ``(floor(u_s(i) n_pre), floor(u_t(i) n_post))``;
  every rank walks all ``n`` and keeps its own targets; ``j`` counts per target in ``i``.
"""

from __future__ import annotations

import numpy as np

from .. import rng

#: Value kinds, as the kernels number them (build.sample's names).
KIND = {"const": 0, "uniform": 1, "lognormal": 2, "normal_clipped": 3, "normal": 4}

#: Synapses per chunk (bounds the working set of a build).
CHUNK = 1 << 18


def _k():
    """The numba kernels, imported on first use (``import neurosim`` stays numba-free)."""
    from . import _build_kernels

    return _build_kernels


def _chunk(chunk):
    return int(chunk or CHUNK)


def _buffers(cap):
    return (np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int64))


def _targets(targets):
    return np.ascontiguousarray(targets, dtype=np.int64)


def _check(err):
    """Raise for a kernel's error code (the kernels return codes, never raise)."""
    if err:
        raise RuntimeError("connection rule cannot satisfy its constraints")


def fixed_indegree(key, k, n_pre, gid0, targets, no_autapse, multapses, chunk=None):
    """``k`` sources per target, uniformly (NEST's fixed_indegree).

    ``gid0``: gid of post-population neuron 0; ``no_autapse``: source ``t`` forbidden
    for target ``t`` (pre == post and autapses not allowed).
    """
    targets = _targets(targets)
    k = int(k)
    if k <= 0 or not len(targets):
        return
    src, tgt, j = _buffers(max(_chunk(chunk), k))
    seen = np.zeros(max(n_pre, 1), np.bool_)
    i = 0
    while i < len(targets):
        i, n, err = _k().fixed_indegree(
            np.uint64(key),
            k,
            int(n_pre),
            int(gid0),
            targets,
            i,
            bool(no_autapse),
            not multapses,
            seen,
            src,
            tgt,
            j,
        )
        _check(err)
        yield src[:n], tgt[:n], j[:n]


def pairwise_bernoulli(key, p, n_pre, gid0, targets, no_autapse, chunk=None):
    """Each (source, target) pair connected with probability ``p`` (no multapses)."""
    targets = _targets(targets)
    if not len(targets) or n_pre <= 0:
        return
    src, tgt, j = _buffers(max(_chunk(chunk), n_pre))
    i = 0
    while i < len(targets):
        i, n, _ = _k().pairwise_bernoulli(
            np.uint64(key),
            float(p),
            int(n_pre),
            int(gid0),
            targets,
            i,
            bool(no_autapse),
            src,
            tgt,
            j,
        )
        yield src[:n], tgt[:n], j[:n]


def all_to_all(n_pre, targets, no_autapse, chunk=None):
    """Every source to every target (minus the autapse when forbidden)."""
    targets = _targets(targets)
    if not len(targets) or n_pre <= 0:
        return
    src, tgt, j = _buffers(max(_chunk(chunk), n_pre))
    i = 0
    while i < len(targets):
        i, n, _ = _k().all_to_all(int(n_pre), targets, i, bool(no_autapse), src, tgt, j)
        yield src[:n], tgt[:n], j[:n]


def one_to_one(targets, chunk=None):
    """Source ``i`` to target ``i``."""
    targets = _targets(targets)
    chunk = _chunk(chunk)
    for a in range(0, len(targets), chunk):
        t = targets[a : a + chunk]
        yield t, t, np.zeros(len(t), np.int64)


def fixed_outdegree(key, k, n_post, gid0, n_pre, targets, no_autapse, multapses, chunk=None):
    """``k`` targets per source; every rank walks all sources and keeps its targets.

    ``gid0``: gid of pre-population neuron 0.
    """
    k = int(k)
    if k <= 0 or n_pre <= 0:
        return
    local = np.zeros(n_post, np.bool_)
    local[_targets(targets)] = True
    count = np.zeros(n_post, np.int64)
    src, tgt, j = _buffers(max(_chunk(chunk), k))
    seen = np.zeros(max(n_post, 1), np.bool_)
    draws = np.empty(k, np.int64)
    s = 0
    while s < n_pre:
        s, n, err = _k().fixed_outdegree(
            np.uint64(key),
            k,
            int(n_post),
            int(gid0),
            int(n_pre),
            s,
            int(n_pre),
            local,
            count,
            bool(no_autapse),
            not multapses,
            seen,
            draws,
            src,
            tgt,
            j,
        )
        _check(err)
        if n:
            yield src[:n], tgt[:n], j[:n]


def fixed_total_number(key, n, n_pre, n_post, targets, no_autapse, multapses, chunk=None):
    """``n`` synapses, each (source, target) drawn uniformly; the same split on any rank."""
    if not multapses:
        raise ValueError("fixed_total_number without multapses is not supported")
    n = int(n)
    local = np.zeros(n_post, np.bool_)
    local[_targets(targets)] = True
    count = np.zeros(n_post, np.int64)
    ks = rng.id_keys(key, np.array([0], np.uint64))[0]
    kt = rng.id_keys(key, np.array([1], np.uint64))[0]
    src, tgt, j = _buffers(_chunk(chunk))
    i = 0
    while i < n:
        i, m, err = _k().fixed_total_number(
            ks, kt, n, int(n_pre), int(n_post), i, n, local, count, bool(no_autapse), src, tgt, j
        )
        _check(err)
        if m:
            yield src[:m], tgt[:m], j[:m]


def collect(chunks):
    """Concatenate (copies of) a rule's chunks: ``(src, tgt, j)`` int64 arrays."""
    parts = [tuple(a.copy() for a in c) for c in chunks]
    if not parts:
        z = np.zeros(0, np.int64)
        return z, z.copy(), z.copy()
    return tuple(np.concatenate(x) for x in zip(*parts, strict=True))
