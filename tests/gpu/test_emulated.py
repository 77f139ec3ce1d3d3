"""The cupy backend with its CUDA kernels compiled for the CPU (g++, tests/gpu/emulate.py)
against the numpy reference: the same spike trains, recordings and states, bit for
bit; the LTC kernels to the bit too (the GPU tests allow the issue's 1e-5)."""

import sys

import numpy as np
import pytest

import neurosim
from benchmarks.gpu import cases as C
from benchmarks.gpu.make_reference import KEEP_REPORTS, reports_of, run_case
from neurosim.backends import BackendError
from neurosim.backends.base import RecordPlan
from neurosim.backends.cupy_backend import CupyBackend
from neurosim.backends.ltc_cupy import LtcCupyBackend
from neurosim.backends.ltc_numpy import LtcNumpyBackend, ltc_record_plan
from neurosim.backends.numpy_backend import NumpyBackend
from neurosim.ltc.build import TILE, build_ltc
from neurosim.network.build import build
from tests.conftest import DATA, network
from tests.ltc.test_ltc import _series_net
from tests.ltc.test_ltc_shared import _mixed_net


def _launched(emu, kernel):
    return sum(m.launches.get(kernel, 0) for d in emu.devices for m in d.modules.values())


@pytest.mark.parametrize("case", C.EMULATED)
def test_reference_cases(case, emulation, tmp_path):
    """Each case equals its stored numpy reference (so the references shipped for the
    GPU visit are current, and the kernels compute them)."""
    ref = C.load_reference(case)
    out = str(tmp_path / "o.h5") if case in KEEP_REPORTS else None
    sim = run_case(case, "cupy", out)
    if case in C.LTC:
        assert np.array_equal(sim.backend.V, ref["V"])
        assert _launched(emulation, "k_ltc_stage") > 0
    else:
        assert C.compare_spiking(sim, ref) == []
        assert sum(len(ref[f"steps/{p}"]) for p in ref["meta"]["populations"]) > 500
        assert _launched(emulation, "k_neurons") > 0
        assert _launched(emulation, "k_deliver_step") > 0
    if out is not None:
        sim.close()
        got = reports_of(out)
        keys = [k for k in ref if k.startswith("report/")]
        assert keys and sorted(keys) == sorted(got)
        for k in keys:
            assert np.array_equal(got[k], ref[k]), k


def _segments(path, overrides, backend, out):
    """Two segments with a parameter change between them, as a user script does."""
    net = neurosim.load(path, overrides)
    sim = neurosim.Simulation(net, output=out, backend=backend)
    sim.run("60 ms")
    first = sim.get(net.neuron_populations[0].name, "V_m")
    sim.set(net.neuron_populations[0].name, I_e="30 pA")
    sim.run("60 ms")
    sim.close()
    with neurosim.open(out) as rec:
        spikes = {p: rec.spikes(p) for p in rec.spike_populations}
        reports = {
            (p, v): rec.report(p, v)[1] for p in rec.report_populations for v in rec.variables(p)
        }
    return spikes, reports, first


@pytest.mark.parametrize("path", [f"{DATA}/mixed.yaml", network("coba")])
def test_segments_set_and_recording(path, emulation, tmp_path):
    ref = _segments(path, [], "numpy", str(tmp_path / "np.h5"))
    got = _segments(path, [], "cupy", str(tmp_path / "cp.h5"))
    n = 0
    for pop, (t, ids) in ref[0].items():
        assert np.array_equal(t, got[0][pop][0]) and np.array_equal(ids, got[0][pop][1]), pop
        n += len(t)
    assert n > 100
    assert ref[1] and all(np.array_equal(v, got[1][k]) for k, v in ref[1].items())
    assert np.array_equal(ref[2], got[2])


def test_exchange_path(emulation):
    """The MPI loop's calls: steps without delivery (intervals up to the smallest
    delay, here of 7 steps against a smallest delay of 10), then every spike delivered
    by ``deliver``; the result is the reference's."""
    ref = C.load_reference("mixed")
    spec = neurosim.load(C.case_path("mixed"))
    b = build(spec)
    be = CupyBackend(b, RecordPlan(b, []))
    assert b.min_delay == 10
    steps, gids = [], []
    k, end = 0, 2000
    while k < end:
        m = min(7, end - k)
        ks, gs, done = be.run(k, m, deliver=False)
        assert done == m
        be.deliver(ks, gs)
        steps.append(ks)
        gids.append(gs)
        k += m
    steps, gids = np.concatenate(steps), np.concatenate(gids)
    be.sync_to_host()
    assert np.array_equal(be.V, ref["V"])
    for pop in ref["meta"]["populations"]:
        lay = b.layouts[pop]
        sel = (gids >= lay.gid0) & (gids < lay.gid0 + lay.size)
        assert np.array_equal(steps[sel], ref[f"steps/{pop}"]), pop
        assert np.array_equal(gids[sel] - lay.gid0, ref[f"ids/{pop}"]), pop


@pytest.mark.parametrize("first, second", [("cupy", "numpy"), ("numpy", "cupy")])
def test_checkpoint_across_backends(first, second, emulation, tmp_path):
    """A checkpoint written by one backend resumes on the other with the bits of the
    uninterrupted run (ring buffer, refractory counters, noise state all cross)."""
    ref = C.load_reference("mixed")
    out = str(tmp_path / "o.h5")
    sim = neurosim.Simulation(
        C.case_path("mixed"), output=out, backend=first, checkpoint_every="100 ms"
    )
    sim.run("100 ms")
    sim.close()
    sim2 = neurosim.Simulation.resume(out, backend=second)
    sim2.run("100 ms")
    sim2.close()
    assert np.array_equal(sim2.backend.V, ref["V"])
    with neurosim.open(out) as rec:
        for pop in ref["meta"]["populations"]:
            t, ids = rec.spikes(pop)
            steps = np.rint(t / sim2.dt).astype(np.int64) - 1
            o = np.lexsort((ids, steps))
            assert np.array_equal(steps[o], ref[f"steps/{pop}"]), pop
            assert np.array_equal(np.asarray(ids)[o], ref[f"ids/{pop}"]), pop


def test_delivery_order_is_the_cpus(emulation):
    """Weights of very different magnitudes, multapses and many spikes per step land in
    the ring with the CPU's rounding; delivered in any other order the sums would differ
    (checked), so the test can fail."""
    spec = neurosim.load(C.case_path("mixed"))
    b = build(spec)
    rng = np.random.default_rng(5)
    b.weight = rng.choice([-1, 1], len(b.weight)) * 10.0 ** rng.uniform(-8, 4, len(b.weight))
    b.weight = b.weight.astype(np.float32)
    plan = RecordPlan(b, [])
    ref, got = NumpyBackend(b, plan), CupyBackend(b, plan)
    gids = np.unique(b.src_gids)
    steps = np.repeat(np.arange(3), len(gids))
    gids = np.tile(gids, 3)
    ref.deliver(steps, gids)
    got.deliver(steps, gids)
    got.sync_to_host()
    assert np.count_nonzero(ref.ring_flat) > 100
    assert np.array_equal(ref.ring_flat, got.ring_flat)
    shuffled = NumpyBackend(b, plan)
    o = rng.permutation(len(gids))
    for i in o:  # one spike at a time, in another order
        shuffled.deliver(steps[i : i + 1], gids[i : i + 1])
    assert not np.array_equal(ref.ring_flat, shuffled.ring_flat)


def test_plastic_networks_refused(emulation, tmp_path):
    text = (network("brunel2000"),)
    spec = neurosim.load(
        text[0],
        [
            "populations.E.size=200",
            "populations.I.size=50",
            "projections.0.rule.fixed_indegree.k=20",
            "projections.1.rule.fixed_indegree.k=5",
            "projections.0.synapse.model=stdp_synapse",
        ],
    )
    with pytest.raises(BackendError, match="plastic"):
        neurosim.Simulation(spec, backend="cupy")


# ---------------------------------------------------------------------- graded


def _ltc(cls, spec, b, nsteps):
    be = cls(b, ltc_record_plan(b, spec.record_state))
    be.run(0, nsteps)
    return be.V.copy(), be


@pytest.mark.parametrize("method", ["closed_form", "exp_midpoint", "euler", "rk4", "ltc_fused"])
def test_ltc_methods(method, emulation, tmp_path):
    """Every integrator, shared-activation and per-synapse storage, substeps, gap
    junctions, inputs: the numpy reference's bits."""
    spec = neurosim.load(_mixed_net(tmp_path, method))
    for share in (True, False):
        b = build_ltc(spec, share=share)
        ref, _ = _ltc(LtcNumpyBackend, spec, b, 12)
        got, be = _ltc(LtcCupyBackend, spec, b, 12)
        assert np.array_equal(ref, got), share
        assert np.ptp(ref) > 0.05
    assert _launched(emulation, "k_ltc_table") > 0


def test_ltc_series_substeps(emulation, tmp_path):
    path = _series_net(tmp_path, 12, 3, 30, "rk4", substeps=3)
    spec = neurosim.load(path)
    b = build_ltc(spec)
    ref, _ = _ltc(LtcNumpyBackend, spec, b, 30)
    got, _ = _ltc(LtcCupyBackend, spec, b, 30)
    assert np.array_equal(ref, got) and np.ptp(ref) > 0.1


def test_ltc_tiles(emulation, tmp_path):
    """A pre population of two tiles and uint32 counts."""
    spec = neurosim.load(_mixed_net(tmp_path, "closed_form", na=5000, nb=3, T=4, big=TILE + 4500))
    b = build_ltc(spec)
    assert b.cnt.dtype == np.uint32 and b.blk[:, 4].max() == 2
    ref, _ = _ltc(LtcNumpyBackend, spec, b, 4)
    got, _ = _ltc(LtcCupyBackend, spec, b, 4)
    assert np.array_equal(ref, got) and np.ptp(ref) > 0.05


def test_ltc_recording_and_segments(emulation, tmp_path):
    path = _mixed_net(tmp_path, "exp_midpoint")
    res = {}
    for backend in ("numpy", "cupy"):
        out = str(tmp_path / f"{backend}.h5")
        sim = neurosim.Simulation(neurosim.load(path), output=out, backend=backend)
        sim.run(5.0)
        sim.run(7.0)
        sim.close()
        with neurosim.open(out) as rec:
            res[backend] = rec.report("A", "v")[1]
    assert res["numpy"].shape == (12, 300)
    assert np.array_equal(res["numpy"], res["cupy"])


@pytest.mark.parametrize("method", ["adaptive"])
def test_ltc_unsupported_integrator(method, emulation, tmp_path):
    path = _series_net(tmp_path, 6, 2, 5, method)
    with pytest.raises(BackendError, match="adaptive"):
        neurosim.Simulation(neurosim.load(path), backend="cupy")


@pytest.mark.mpi
def test_ranks(emulation, tmp_path):
    """On 3 ranks (the MPI loop: intervals, Allgatherv, ``deliver``), each rank with its
    own device: the references' spike trains."""
    from tests.parallel.test_mpi import launch

    proc = launch(3, sys.executable, "-m", "tests.gpu.mpi_emulated", str(tmp_path), "mixed")
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    assert proc.stdout.split() == ["OK", "mixed"]
