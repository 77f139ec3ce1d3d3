"""Host-side logic of the cupy backend, on the CPU emulation: launch geometry, argument
checks, input lists, spike buffers, chunked recording, LTC synapse positions."""

import numpy as np
import pytest

import neurosim
from benchmarks.gpu import cases as C
from neurosim.backends import cupy_backend as cb
from neurosim.backends.base import RecordPlan
from neurosim.backends.cupy_backend import CupyBackend
from neurosim.backends.ltc_cupy import block_positions
from neurosim.backends.numpy_backend import NumpyBackend
from neurosim.ltc.build import B_CRS, build_ltc
from neurosim.network.build import build
from tests.gpu.emulate import EmuDevice


def test_grid():
    assert [cb.grid_for(n) for n in (0, 1, 255, 256, 257, 512)] == [0, 1, 1, 1, 2, 2]
    assert cb.grid_for(10, block=4) == 3
    with pytest.raises(ValueError):
        cb.grid_for(-1)


@pytest.mark.parametrize("n", [1, 255, 256, 257, 1000])
def test_launch_covers_exactly_n_threads(n, emulation):
    """Every item below n is computed once, nothing past it is touched."""
    mod = EmuDevice(workdir=emulation.workdir).module("ltc.cu")
    x = np.arange(n + 1, dtype=np.float64)
    y = np.ones(n + 1)
    out = np.full(n + 1, -7.0)
    mod.launch("k_ltc_axpy", n, n, out, x, 2.0, y)
    assert np.array_equal(out[:n], x[:n] + 2.0) and out[n] == -7.0
    mod.launch("k_ltc_axpy", 0, 0, out, x, 2.0, y)  # n = 0: no launch at all
    assert mod.launches["k_ltc_axpy"] == 1


def test_arguments_checked(emulation):
    mod = EmuDevice(workdir=emulation.workdir).module("ltc.cu")
    a = np.zeros(4)
    with pytest.raises(TypeError, match="4 arguments for 5 parameters"):
        mod.launch("k_ltc_axpy", 4, 4, a, a, 1.0)
    with pytest.raises(TypeError, match="expected float64, got float32"):
        mod.launch("k_ltc_axpy", 4, 4, a, a.astype(np.float32), 1.0, a)
    with pytest.raises(TypeError, match="not C-contiguous"):
        mod.launch("k_ltc_axpy", 2, 2, a[::2], a[:2], 1.0, a[:2])
    with pytest.raises(TypeError, match="expected a scalar"):
        mod.launch("k_ltc_axpy", 4, 4, a, a, a, a)
    with pytest.raises(TypeError, match="expected an array"):
        mod.launch("k_ltc_axpy", 4, 4, a, 1.0, 1.0, a)


def test_lists_by_target():
    target = np.array([5, 2, 5, 9, 2, 2], np.int32)
    order, targets, ptr = cb._lists_by_target(target)
    assert targets.tolist() == [2, 5, 9] and ptr.tolist() == [0, 3, 5, 6]
    assert order.tolist() == [1, 4, 5, 0, 2, 3]  # synapse order kept per target
    order, targets, ptr = cb._lists_by_target(np.zeros(0, np.int32))
    assert len(order) == len(targets) == 0 and ptr.tolist() == [0]


def _pair(case="mixed", record=True):
    spec = neurosim.load(C.case_path(case))
    b = build(spec)
    specs = spec.record_state if record else []
    return b, NumpyBackend(b, RecordPlan(b, specs)), CupyBackend(b, RecordPlan(b, specs))


def test_chunks_of_any_length(emulation):
    """Chunks of awkward lengths (not multiples of the sampling intervals or of the
    smallest delay): the same spikes per chunk and the same samples per chunk."""
    b, ref, got = _pair()
    assert got.rec.n_entries and len(np.unique(got.rec.every)) == 2
    k = 0
    for n in (1, 7, 13, 5, 40, 3, 111, 9):
        r = ref.run(k, n)
        g = got.run(k, n)
        assert r[2] == g[2] == n
        assert np.array_equal(r[0], g[0]) and np.array_equal(r[1], g[1])
        rs, gs = ref.rec.chunk_samples(k, n), got.rec.chunk_samples(k, n)
        for (p, v, a, f), (p2, v2, a2, f2) in zip(rs, gs, strict=True):
            assert (p, v, f) == (p2, v2, f2) and np.array_equal(a, a2)
        k += n
    assert np.array_equal(ref.V, got.V) and np.array_equal(ref.syn, got.syn)
    assert np.array_equal(ref.refr, got.refr)


def test_spike_buffer_grows(emulation):
    """A buffer too small for a batch is enlarged, keeping what it holds."""
    b, ref, got = _pair(record=False)
    got.d_sp_step = np.zeros(1, np.int64)
    got.d_sp_gid = np.zeros(1, np.int64)
    got.cap = 1
    r = ref.run(0, 400)
    g = got.run(0, 400)
    assert len(r[0]) > 100 and got.cap >= len(r[0])
    assert np.array_equal(r[0], g[0]) and np.array_equal(r[1], g[1])


def test_host_copies(emulation):
    """Between chunks the host holds V, syn and refr (the NaN check reads them); the
    ring buffer comes back only when asked for, and host changes go out on request."""
    b, ref, got = _pair(record=False)
    ref.run(0, 50)
    got.run(0, 50)
    assert np.array_equal(ref.V, got.V) and np.array_equal(ref.syn, got.syn)
    got.sync_to_host()
    assert np.array_equal(ref.ring_flat, got.ring_flat)
    for be in (ref, got):
        be.sync_to_host()
        be.V[:10] += 1.0
        be.sync_to_device()
    assert np.array_equal(ref.run(50, 50)[1], got.run(50, 50)[1])
    assert np.array_equal(ref.V, got.V)


def test_wide_delivery_blocks(emulation, monkeypatch):
    """Where the segment table would be too large, each delivery block owns more ring
    targets (threads own several): the same spikes."""
    b, ref, _ = _pair("cuba", record=False)
    monkeypatch.setattr(cb, "SEGMENT_BYTES", len(b.src_gids) * 3 * 4)
    got = CupyBackend(b, RecordPlan(b, []))
    assert got.tb > cb.DELIVER_TARGETS and got.n_tb == 2
    r, g = ref.run(0, 300), got.run(0, 300)
    assert len(r[0]) > 200
    assert np.array_equal(r[0], g[0]) and np.array_equal(r[1], g[1])
    assert np.array_equal(ref.V, got.V)


@pytest.mark.parametrize("block, descending", [(8, 0), (8, 1), (256, 1)])
def test_blocks_of_many_threads(emulation, monkeypatch, block, descending):
    """The kernels with barriers (k_neurons, k_gather, k_deliver_step) run with blocks of
    several threads as fibers, each barrier interval in ascending or descending thread
    order: the numpy spikes and V.  Every E neuron fires in the first step, so a
    delivery block stages more than ITEM_CAP synapses (several rounds) and sees more
    spikes than threads (several tiles).  (Both checked to fail when a barrier or the
    ordering of a bucket is taken out.)"""
    path, overrides, _ = C.ALL["brunel2000_small"]
    spec = neurosim.load(
        C.case_path("brunel2000_small"),
        [
            *overrides,
            "populations.E.initial.V_m.uniform=[25 mV, 30 mV]",
            # weights over many binades: float32 weights of one binade add exactly in
            # float64, whatever the order; these do not, so the order shows in the bits
            "projections.0.weight={lognormal: {mu: 0, sigma: 5}}",
        ],
    )
    b = build(spec)
    ref = NumpyBackend(b, RecordPlan(b, []))
    monkeypatch.setattr(cb, "COOP_BLOCK", block)
    got = CupyBackend(b, RecordPlan(b, []))
    dll = got.kern.dll
    dll.ns_emu_order(descending)
    try:
        r, g = ref.run(0, 10), got.run(0, 10)
        assert (r[0] == 0).sum() >= 2000 and np.array_equal(r[1], g[1])
        # the burst waits in the ring (the neurons are refractory when it arrives)
        got.sync_to_host()
        assert np.array_equal(ref.ring_flat, got.ring_flat)
        r, g = ref.run(10, 20), got.run(10, 20)
    finally:
        dll.ns_emu_order(0)
    assert got.coop == block
    assert np.array_equal(r[0], g[0]) and np.array_equal(r[1], g[1])
    assert np.array_equal(ref.V, got.V)


def test_blocks_of_many_threads_generators(emulation, monkeypatch):
    """Spike generators' events merged into the steps' lists by k_gather with blocks
    of several threads (fibers, descending order): the numpy spikes and V."""
    b, ref, _ = _pair(record=False)
    assert len(b.sg_steps)
    monkeypatch.setattr(cb, "COOP_BLOCK", 8)
    got = CupyBackend(b, RecordPlan(b, []))
    got.kern.dll.ns_emu_order(1)
    try:
        r, g = ref.run(0, 300), got.run(0, 300)
    finally:
        got.kern.dll.ns_emu_order(0)
    assert len(r[0]) > 50
    assert np.array_equal(r[0], g[0]) and np.array_equal(r[1], g[1])
    assert np.array_equal(ref.V, got.V)


def test_no_sync_per_step(emulation):
    """Device-to-host copies: one per ``sync_every`` steps (the spike count, so that the
    buffer can grow) and a fixed few per chunk; none per step or per delivery."""
    b, ref, got = _pair(record=False)
    dev = got.dev
    for k0, every, most in ((0, 1000, 1 + 5), (100, 10, 10 + 5)):
        got.sync_every = every
        before = dev.to_host_calls
        r, g = ref.run(k0, 100), got.run(k0, 100)
        assert dev.to_host_calls - before <= most
        assert np.array_equal(r[0], g[0]) and np.array_equal(r[1], g[1]) and len(r[0]) > 20


def test_ltc_block_positions(tmp_path):
    from tests.ltc.test_ltc_shared import _mixed_net

    b = build_ltc(neurosim.load(_mixed_net(tmp_path)))
    for bi in range(len(b.blk)):
        pos = block_positions(b, bi)
        assert pos[0] == 0 and np.all(np.diff(pos) >= 0)
    b.crs[b.blk[0, B_CRS] + 1] += 1  # a coarse pointer out of step with the counts
    with pytest.raises(ValueError, match="disagree"):
        block_positions(b, 0)
