"""Statistics and constraints of the connectivity rules, and the numba twins of the
counter-based streams that the build uses."""

import numpy as np
import pytest

from neurosim import rng
from neurosim.network import _build_kernels as K
from neurosim.network import rules
from neurosim.network.build import sample
from neurosim.network.spec import Value

KEY = rng.stream_key(5, rng.CONNECT, 0)
GID0 = 17


def _all(n):
    return np.arange(n, dtype=np.int64)


EVEN_ODD = (lambda a: a[::2], lambda a: a[1::2])


def _no_multapses(src, tgt):
    pairs = np.unique(np.stack([src, tgt], 1), axis=0)
    assert len(pairs) == len(src)


@pytest.mark.parametrize("no_autapse", [False, True])
@pytest.mark.parametrize("multapses", [True, False])
def test_fixed_indegree_exactly_k(no_autapse, multapses):
    n, k = 60, 25
    src, tgt, j = rules.collect(
        rules.fixed_indegree(KEY, k, n, GID0, _all(n), no_autapse, multapses)
    )
    np.testing.assert_array_equal(np.bincount(tgt, minlength=n), np.full(n, k))
    assert src.min() >= 0 and src.max() < n
    np.testing.assert_array_equal(j, np.tile(np.arange(k), n))
    if no_autapse:
        assert not np.any(src == tgt)
    if not multapses:
        _no_multapses(src, tgt)
    else:  # 25 of 60 with replacement: repeats are all but certain somewhere
        assert len(np.unique(np.stack([src, tgt], 1), axis=0)) < len(src)


def test_fixed_indegree_all_sources_without_multapses():
    n = 30  # k = n - 1 with autapses forbidden: every other source exactly once
    src, tgt, _ = rules.collect(rules.fixed_indegree(KEY, n - 1, n, 0, _all(n), True, False))
    for t in range(n):
        np.testing.assert_array_equal(np.sort(src[tgt == t]), np.delete(np.arange(n), t))


@pytest.mark.parametrize("p", [0.02, 0.3])
@pytest.mark.parametrize("no_autapse", [False, True])
def test_pairwise_bernoulli_binomial(p, no_autapse):
    n_pre, n_post = 800, 500
    src, tgt, j = rules.collect(
        rules.pairwise_bernoulli(KEY, p, n_pre, GID0, _all(n_post), no_autapse)
    )
    pairs = n_pre * n_post - (n_post if no_autapse else 0)
    mean, sd = pairs * p, np.sqrt(pairs * p * (1 - p))
    assert abs(len(src) - mean) < 4 * sd
    _no_multapses(src, tgt)
    if no_autapse:
        assert not np.any(src == tgt)
    # sources ascend within a target; j numbers them
    for t in (0, 7, n_post - 1):
        s = src[tgt == t]
        assert np.all(np.diff(s) > 0)
        np.testing.assert_array_equal(j[tgt == t], np.arange(len(s)))
    # per-source counts are Binomial(n_post, p) too (no source favoured)
    c = np.bincount(src, minlength=n_pre)
    assert abs(c.mean() - n_post * p) < 4 * np.sqrt(n_post * p * (1 - p) / n_pre) + 0.05
    assert c.var() == pytest.approx(n_post * p * (1 - p), rel=0.25)


def test_pairwise_bernoulli_edges():
    n = 50
    src, tgt, _ = rules.collect(rules.pairwise_bernoulli(KEY, 1.0, n, 0, _all(n), True))
    assert len(src) == n * (n - 1) and not np.any(src == tgt)
    src, _, _ = rules.collect(rules.pairwise_bernoulli(KEY, 0.0, n, 0, _all(n), False))
    assert len(src) == 0


def test_pairwise_bernoulli_per_target_stream():
    """A target's synapses depend only on its own stream: any subset, any chunking."""
    n = 300
    full = rules.collect(rules.pairwise_bernoulli(KEY, 0.1, n, GID0, _all(n), False))
    sub = np.array([3, 4, 100, 299])
    part = rules.collect(rules.pairwise_bernoulli(KEY, 0.1, n, GID0, sub, False, chunk=1))
    m = np.isin(full[1], sub)
    for a, b in zip(part, full, strict=True):
        np.testing.assert_array_equal(a, b[m])


@pytest.mark.parametrize("no_autapse", [False, True])
@pytest.mark.parametrize("multapses", [True, False])
def test_fixed_outdegree_exactly_k_over_partitions(no_autapse, multapses):
    n, k = 70, 20
    parts = [
        rules.collect(
            rules.fixed_outdegree(KEY, k, n, GID0, n, sel(_all(n)), no_autapse, multapses, chunk=33)
        )
        for sel in EVEN_ODD
    ]
    for (_, tgt, _), sel in zip(parts, EVEN_ODD, strict=True):
        assert np.all(np.isin(tgt, sel(_all(n))))
    src = np.concatenate([p[0] for p in parts])
    tgt = np.concatenate([p[1] for p in parts])
    np.testing.assert_array_equal(np.bincount(src, minlength=n), np.full(n, k))
    if no_autapse:
        assert not np.any(src == tgt)
    if not multapses:
        _no_multapses(src, tgt)
    # j numbers each target's synapses 0, 1, ... in walk order
    whole = rules.collect(rules.fixed_outdegree(KEY, k, n, GID0, n, _all(n), no_autapse, multapses))
    for t in (0, 33, n - 1):
        m = whole[1] == t
        np.testing.assert_array_equal(whole[2][m], np.arange(m.sum()))


@pytest.mark.parametrize("no_autapse", [False, True])
def test_fixed_total_number_exactly_n(no_autapse):
    n_syn, n = 5000, 40
    parts = [
        rules.collect(
            rules.fixed_total_number(KEY, n_syn, n, n, sel(_all(n)), no_autapse, True, chunk=999)
        )
        for sel in EVEN_ODD
    ]
    src = np.concatenate([p[0] for p in parts])
    tgt = np.concatenate([p[1] for p in parts])
    assert len(src) == n_syn
    if no_autapse:
        assert not np.any(src == tgt)
    c = np.bincount(tgt, minlength=n)
    assert abs(c - n_syn / n).max() < 5 * np.sqrt(n_syn / n)
    with pytest.raises(ValueError):
        list(rules.fixed_total_number(KEY, 10, n, n, _all(n), False, False))


def test_all_to_all_and_one_to_one():
    n = 9
    src, tgt, j = rules.collect(rules.all_to_all(n, _all(n), True, chunk=1))
    assert len(src) == n * (n - 1) and not np.any(src == tgt)
    _no_multapses(src, tgt)
    src, tgt, j = rules.collect(rules.one_to_one(np.array([2, 5])))
    np.testing.assert_array_equal(src, [2, 5])
    np.testing.assert_array_equal(tgt, [2, 5])
    np.testing.assert_array_equal(j, [0, 0])


def test_impossible_constraints_raise():
    with pytest.raises(RuntimeError):
        list(rules.fixed_indegree(KEY, 6, 5, 0, _all(5), False, False))


# ---- numba twins of the streams


def test_uniform_twin_is_bit_identical():
    sub = rng.id_keys(KEY, np.arange(50, dtype=np.uint64))
    ctr = np.arange(50, dtype=np.uint64) * np.uint64(977)
    ref = rng.uniform(sub, ctr)
    out = np.empty(50)
    tgt = np.arange(50, dtype=np.int64)
    K.draw_values(rules.KIND["uniform"], 0.0, 1.0, 0.0, 0.0, KEY, 0, tgt, ctr.astype(np.int64), out)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize(
    "value",
    [
        Value("const", (2.5,)),
        Value("uniform", (-1.0, 3.0)),
        Value("normal", (1.0, 2.0, -np.inf, np.inf)),
        Value("normal", (1.0, 2.0, 0.5, 1.5)),
        Value("normal_clipped", (1.0, 2.0, 0.0, 2.0)),
        Value("lognormal", (0.3, 0.4)),
    ],
)
def test_draw_values_twin_matches_sample(value):
    """The build's kernels draw what ``build.sample`` draws (libm may differ in the last
    bit of log1p/cos/exp, hence the tolerance for the normal-based kinds)."""
    tgt = np.repeat(np.arange(40, dtype=np.int64), 25)
    j = np.tile(np.arange(25, dtype=np.int64), 40)
    ref = sample(value, rng.id_keys(KEY, (GID0 + tgt).astype(np.uint64)), j.astype(np.uint64))
    out = np.empty(len(tgt))
    args = (tuple(float(a) for a in value.args) + (0.0,) * 3)[:4]
    K.draw_values(rules.KIND[value.kind], *args, KEY, GID0, tgt, j, out)
    if value.kind in ("const", "uniform"):
        np.testing.assert_array_equal(out, ref)
    else:
        np.testing.assert_allclose(out, ref, rtol=1e-13, atol=1e-13)
    if value.kind == "normal" and np.isfinite(value.args[2]):
        assert out.min() >= value.args[2] and out.max() <= value.args[3]
