"""The build's fast normal deviates (SIMD log1p and cos, neurosim/network/_build_kernels.py)
store exactly what the libm deviates store: the same float32 weight and sign, the same
delay in ticks; where the fast value cannot settle it, the kernel draws with libm."""

import math

import numpy as np
import pytest

import neurosim
from neurosim import rng
from neurosim.network import _build_kernels as K
from neurosim.network import rules
from neurosim.network.build import build, sample
from neurosim.network.timing import delay_steps

KEY = rng.stream_key(9, rng.WEIGHT, 3)


def test_fast_log1p_and_cos_are_within_the_margin_assumed():
    """The margin (FAST_MARGIN on z) assumes both within 1e-15 of libm; check 1e-14
    on edges (u near 0 and 1, x near the zeros of cos and the quadrant limits) and
    on 200,000 random points."""
    r = np.random.default_rng(4)
    u = np.concatenate(
        [
            [0.0, 5e-324, 2.0**-53, 0.25, 0.5, 1.0 - 2.0**-53, 1.0 - 2.0**-52],
            r.random(100_000),
            r.random(20_000) * 1e-9,
            1.0 - r.random(20_000) * 1e-9,
        ]
    )
    out = np.empty_like(u)
    K.fast_log1p_neg(u, out, np.empty_like(u), np.empty(len(u), np.int64), np.empty_like(u))
    ref = np.array([math.log1p(-x) for x in u])
    nz = ref != 0
    assert np.all(out[~nz] == 0)
    assert np.max(np.abs(out[nz] - ref[nz]) / np.abs(ref[nz])) < 1e-14
    quarter = 0.25 * K._TWO_PI
    x = np.concatenate(
        [
            np.arange(9) * quarter / 2,
            [K._TWO_PI * (1.0 - 2.0**-53)],
            K._TWO_PI * r.random(100_000),
            np.repeat(np.arange(1, 4) * quarter, 5_000) + (r.random(15_000) - 0.5) * 1e-9,
        ]
    )
    x = np.clip(x, 0.0, K._TWO_PI)
    c = np.empty_like(x)
    K.fast_cos(x, c)
    assert np.max(np.abs(c - np.cos(x))) < 1e-14


def _draws(value, quant, dt, margin, n=20_000, n_tgt=50):
    """``_draw_batch`` output for ``n`` synapses of ``n_tgt`` targets, batch by batch
    as the scatter kernel draws them (``quant`` -1: the values themselves)."""
    kind, args = value
    tgt = np.repeat(np.arange(n_tgt, dtype=np.int64), n // n_tgt)
    j = np.tile(np.arange(n // n_tgt, dtype=np.int64), n_tgt)
    out = np.empty(len(tgt))
    tmp, buf, scr = np.empty(K.BATCH), np.empty(K.BATCH), np.empty((3, K.BATCH))
    iscr = np.empty((2, K.BATCH), np.int64)
    a, subs = np.array(args, np.float64), np.zeros(0, np.uint64)
    for lo in range(0, len(tgt), K.BATCH):
        hi = min(lo + K.BATCH, len(tgt))
        assert K._draw_batch(
            kind, a, KEY, subs, 7, tgt, j, lo, hi, buf, tmp, scr, iscr, quant, dt, margin
        )
        out[lo:hi] = buf[: hi - lo]
    return out


def _stored(v, quant, dt):
    """What the CSR keeps: float32 weight and its sign, or the delay in ticks."""
    if quant == 0:
        return v.astype(np.float32), np.signbit(v)
    return delay_steps(v, dt), None


N = rules.KIND["normal"]
CLIP = rules.KIND["normal_clipped"]
VALUES = {
    # the microcircuit's weights and delays
    "w_E": (N, (87.8085, 8.78085, 0.0, math.inf)),
    "w_I": (N, (-351.234, 35.1234, -math.inf, 0.0)),
    "d_E": (N, (1.5, 0.75, 0.1, 20.0)),
    "zero_mean": (N, (0.0, 1.0, -math.inf, math.inf)),
    "clipped": (CLIP, (0.5, 1.0, 0.0, 1.0)),
}


@pytest.mark.parametrize("name", list(VALUES))
@pytest.mark.parametrize("quant, dt", [(0, 0.1), (1, 0.1), (1, 3e-12)], ids=["w", "d", "d_fine"])
@pytest.mark.parametrize("margin", [K.FAST_MARGIN, 1e-7, 1e300], ids=["fast", "mixed", "libm"])
def test_fast_deviates_store_what_libm_deviates_store(name, quant, dt, margin):
    """Any margin at least the fast deviates' error stores the libm values: the build's
    (most settle fast), wider ones (delays on a 3e-12 ms grid, weights with a margin
    of 1e-7: a large share falls back to libm), and one that settles none."""
    value = VALUES[name]
    ref = _stored(_draws(value, -1, dt, margin), quant, dt)
    got = _stored(_draws(value, quant, dt, margin), quant, dt)
    for x, y in zip(got, ref, strict=True):
        np.testing.assert_array_equal(x, y)


NET = """
name: normals
simulation: {dt: 0.1 ms, duration: 10 ms, seed: 21}
populations:
  E: {size: 300, model: iaf_psc_exp}
projections:
  - {pre: E, post: E, rule: {fixed_indegree: {k: 40}},
     weight: {normal: {mean: 87.8085 pA, std: 8.78085 pA, min: 0 pA}},
     delay: {normal: {mean: 1.5 ms, std: 0.75 ms, min: 0.1 ms, max: 20 ms}}}
"""


def test_built_weights_and_delays_are_the_numpy_draws(tmp_path):
    """Each target's stored weights (float32) and delays (ticks) are, as multisets,
    ``build.sample`` (numpy: its own log1p and cos) at counters 0..k-1 of the target's
    streams: the fast deviates change no stored bit."""
    path = tmp_path / "normals.yaml"
    path.write_text(NET)
    spec = neurosim.load(str(path))
    b = build(spec)
    proj = spec.projections[0]
    n, k = b.n_neurons, 40
    tgt = b.target.astype(np.int64) % n
    assert len(tgt) == n * k
    o = np.argsort(tgt, kind="stable")
    w = b.weight[o].reshape(n, k)
    d = b.delay[o].astype(np.int64).reshape(n, k)
    gids = np.repeat(np.arange(n, dtype=np.uint64), k)  # E's gids start at 0
    j = np.tile(np.arange(k, dtype=np.uint64), n)
    for value, purpose, got in ((proj.weight, rng.WEIGHT, w), (proj.delay, rng.DELAY, d)):
        sub = rng.id_keys(rng.stream_key(spec.seed, purpose, proj.index), gids)
        ref = sample(value, sub, j).reshape(n, k)
        ref = ref.astype(np.float32) if purpose == rng.WEIGHT else np.rint(ref / spec.dt)
        np.testing.assert_array_equal(np.sort(got, axis=1), np.sort(ref, axis=1))
