"""Weights in the recording (``record.weights``, final weights), read back with
``neurosim.open(path).weights`` / ``.weight_series``, a run started from them
(``weight: {from_file: ...}``), and the errors of both keys."""

import copy

import numpy as np
import pytest

import neurosim
from neurosim.network.spec import SpecError, build_spec
from neurosim.plasticity import get_weights

from .mpi_stdp import NET


def _net(**record):
    net = copy.deepcopy(NET)
    net["simulation"]["duration"] = 60.0
    net["record"] = {"spikes": ["E"], **record}
    return net


def _sim(net, path, **kw):
    spec = build_spec(net, path=str(path.parent / "net.yaml"))
    return neurosim.Simulation(spec, output=str(path), overwrite=True, **kw)


def test_samples_hold_the_updates_up_to_their_time(tmp_path):
    """A sample stamped t equals the weights after every spike up to t, as a run
    stopped at t gives them (whatever the delivery intervals)."""
    rec = {"weights": [{"projection": "E->E", "synapses": "3:700:5", "interval": 1.5}]}
    sim = _sim(_net(**rec), tmp_path / "a.h5", backend="numba")
    sim.run("60 ms")
    t, pre, post, w = neurosim.open(str(tmp_path / "a.h5")).weight_series("E->E")
    np.testing.assert_allclose(t, 1.5 * np.arange(1, 41))
    ref = _sim(_net(), tmp_path / "b.h5", backend="numba")
    moved = 0
    for i in range(len(t)):
        ref.run(1.5)  # segments of one sample interval: delivery ends at t
        rp, rq, rw = get_weights(ref, "E->E")
        o = np.lexsort((rp, rq))
        np.testing.assert_array_equal(rw[o][3:700:5], w[i])
        moved += int(np.any(w[i] != w[max(i - 1, 0)]))
        np.testing.assert_array_equal(rp[o][3:700:5], pre)
        np.testing.assert_array_equal(rq[o][3:700:5], post)
    assert moved > 10  # the weights changed between many samples


def test_final_weights_rewritten_after_every_run(tmp_path):
    out = tmp_path / "o.h5"
    sim = _sim(_net(), out, backend="numba")
    sim.run("20 ms")
    first = neurosim.open(str(out)).weights("E->E")
    sim.run("40 ms")
    with neurosim.open(str(out)) as rec:
        pre, post, w = rec.weights("E->E")
        assert rec.plastic_projections == ["E->E", "E->I"]
        assert rec.weight_units("E->E") == "mV" and rec.weight_units("E->I") == "pA"
        with pytest.raises(KeyError, match="not recorded"):
            rec.weight_series("E->E")
        with pytest.raises(KeyError, match="E->E, E->I"):
            rec.weights("I->E")
    gp, gq, gw = get_weights(sim, "E->E")
    o = np.lexsort((gp, gq))
    np.testing.assert_array_equal(pre, gp[o])
    np.testing.assert_array_equal(post, gq[o])
    np.testing.assert_array_equal(w, gw[o])
    assert np.all(np.diff(post) >= 0) and not np.array_equal(w, first[2])


def test_start_from_learned_weights_is_exact(tmp_path):
    learned = tmp_path / "learned.h5"
    sim = _sim(_net(), learned, backend="numpy")
    sim.run("60 ms")
    net = _net()
    net["projections"][2]["weight"] = {"from_file": str(learned)}
    net["projections"][3]["weight"] = {"from_file": {"path": "learned.h5", "projection": "E->I"}}
    again = _sim(net, tmp_path / "again.h5", backend="numpy")
    for name in ("E->E", "E->I"):
        p, q, w = get_weights(again, name)
        o = np.lexsort((p, q))
        fp, fq, fw = neurosim.open(str(learned)).weights(name)
        np.testing.assert_array_equal(p[o], fp)
        np.testing.assert_array_equal(q[o], fq)
        assert w.dtype == np.float64 and np.array_equal(w[o], fw)


def _error(net, tmp_path):
    with pytest.raises(SpecError) as e:
        _sim(net, tmp_path / "x.h5", backend="numpy")
    return str(e.value)


@pytest.mark.parametrize(
    "entry, words",
    [
        ({"projection": "I->E"}, ["record.weights[0].projection", "no plastic projection 'I->E'"]),
        ({"projection": "E->EE"}, ["did you mean 'E->E'", "expected one of: E->E, E->I"]),
        ({"projection": "E->E", "synapses": "5:2"}, ["record.weights[0].synapses", "slice"]),
        ({"projection": "E->E", "interval": 0.25}, ["weights[0].interval", "multiple of dt"]),
        ({"projection": "E->E", "synapses": "0:961"}, ["record.weights[0].synapses", "below 960"]),
        ({"projection": "E->E", "synapses": [1, 5000]}, ["below 960", "5000"]),
        ({"projection": "E->E", "every": 1}, ["record.weights[0]", "every"]),
    ],
)
def test_record_weights_errors(tmp_path, entry, words):
    msg = _error(_net(weights=[entry]), tmp_path)
    assert "net.yaml" in msg
    for w in words:
        assert w in msg, msg


def test_record_weights_twice_refused(tmp_path):
    msg = _error(_net(weights=[{"projection": "E->E"}, {"projection": "E->E"}]), tmp_path)
    assert "record.weights[1].projection" in msg and "already recorded" in msg


def test_weights_from_file_errors(tmp_path):
    learned = tmp_path / "learned.h5"
    _sim(_net(), learned, backend="numpy").run("5 ms")
    net = _net()
    net["projections"][4]["weight"] = {"from_file": str(learned)}  # I->E: static
    msg = _error(net, tmp_path)
    assert "projections[4].weight.from_file" in msg and "plastic synapse" in msg
    net = _net()
    net["projections"][2]["weight"] = {"from_file": str(tmp_path / "none.h5")}
    assert "file not found" in _error(net, tmp_path)
    net = _net()
    net["projections"][2]["weight"] = {"from_file": {"path": str(learned), "projection": "A->B"}}
    msg = _error(net, tmp_path)
    assert "no final weights of 'A->B'" in msg and "E->E, E->I" in msg
    # another connectivity (seed) than the file's: refused at the build
    net = _net()
    net["simulation"]["seed"] = 4
    net["projections"][2]["weight"] = {"from_file": str(learned)}
    msg = _error(net, tmp_path)
    assert "projections[2].weight.from_file" in msg and "differ" in msg, msg
    net = _net()
    net["populations"]["E"]["size"] = 81
    net["projections"][2]["weight"] = {"from_file": str(learned)}
    msg = _error(net, tmp_path)
    assert "960 in all" in msg and "the projection has 972" in msg, msg


def _everything(path):
    with neurosim.open(str(path)) as rec:
        out = {"spikes": rec.spikes("E"), "t": rec.attrs["t_stop"]}
        for name in rec.plastic_projections:
            out[name] = rec.weights(name)
        out["series"] = rec.weight_series("E->E")
    return out


def _assert_same(a, b):
    assert a["t"] == b["t"]
    for key in a:
        if key == "t":
            continue
        for x, y in zip(a[key], b[key], strict=True):
            assert x.dtype == y.dtype, key
            np.testing.assert_array_equal(x, y, err_msg=key)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_resume_gives_the_uninterrupted_weights(tmp_path, backend):
    """A crash after a checkpoint, then a resume: spikes, final weights and weight
    samples equal the uninterrupted run's, bit for bit (the weights, traces and spike
    histories are in the checkpoint; the samples after it are cut)."""
    net = _net(weights=[{"projection": "E->E", "synapses": "0:960:3", "interval": 2.5}])
    spec = build_spec(net, path=str(tmp_path / "net.yaml"))
    ref = tmp_path / "ref.h5"
    neurosim.Simulation(spec, output=str(ref), backend=backend).run("60 ms").close()
    out = tmp_path / "out.h5"
    sim = neurosim.Simulation(spec, output=str(out), backend=backend, checkpoint_every="20 ms")
    sim.run("47 ms")  # checkpoints at 20 and 40 ms; "crash" at 47 ms
    del sim
    assert len(neurosim.open(str(out)).weight_series("E->E")[0]) == 18
    sim = neurosim.Simulation.resume(str(out), network=spec)
    assert sim.step == 400
    sim.run()
    sim.run("13 ms")
    sim.close()
    got, want = _everything(out), _everything(ref)
    _assert_same(got, want)
    assert len(want["series"][0]) == 24 and np.any(want["series"][3][0] != want["series"][3][-1])


def test_sigkill_keeps_flushed_weight_samples(tmp_path):
    """Weight samples are appended and flushed with the spikes: after SIGKILL the file
    holds every sample up to its t_stop, equal to an uninterrupted run's."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml

    net = _net(weights=[{"projection": "E->E", "synapses": "0:960:7", "interval": 2.5}])
    net["simulation"]["duration"] = 600_000.0
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(net))
    out = tmp_path / "killed.h5"
    cmd = [sys.executable, "-m", "neurosim.cli", "run", str(path), "-o", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t_stop, deadline = 0.0, time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None and t_stop < 300.0:
            time.sleep(0.2)
            try:
                with neurosim.open(str(out)) as rec:
                    t_stop = rec.attrs["t_stop"]
            except (OSError, KeyError):
                continue  # the writer is creating the file
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert t_stop >= 300.0, proc.stderr.read().decode()[-2000:]
    with neurosim.open(str(out)) as rec:
        assert not rec.complete
        t_stop = rec.attrs["t_stop"]
        t, pre, post, w = rec.weight_series("E->E")
    assert len(t) == int(t_stop // 2.5) and t[-1] <= t_stop  # every sample up to t_stop
    net["simulation"]["duration"] = float(t[-1])
    ref = _sim(net, tmp_path / "ref.h5", backend="numba")
    ref.run(float(t[-1]))
    rt, rp, rq, rw = neurosim.open(str(tmp_path / "ref.h5")).weight_series("E->E")
    np.testing.assert_array_equal(t, rt)
    np.testing.assert_array_equal(pre, rp)
    np.testing.assert_array_equal(w, rw)


def test_projection_names_with_a_slash(tmp_path):
    """Population names may hold '/' (L2/3E); HDF5 names may not: the group is
    'L2%2F3E->L2%2F3E' and the reader finds it by the name."""
    net = _net(weights=[{"projection": "L2/3E->L2/3E", "synapses": [0, 5], "interval": 5.0}])
    net["populations"]["L2/3E"] = net["populations"].pop("E")
    net["record"]["spikes"] = ["L2/3E"]
    for p in net["projections"]:
        p["pre"] = "L2/3E" if p["pre"] == "E" else p["pre"]
        p["post"] = "L2/3E" if p["post"] == "E" else p["post"]
    sim = _sim(net, tmp_path / "o.h5", backend="numpy")
    sim.run("20 ms")
    with neurosim.open(str(tmp_path / "o.h5")) as rec:
        assert rec.plastic_projections == ["L2/3E->L2/3E", "L2/3E->I"]
        pre, post, w = rec.weights("L2/3E->L2/3E")
        t, sp, sq, sw = rec.weight_series("L2/3E->L2/3E")
    assert len(w) == 960 and sw.shape == (4, 2)
    np.testing.assert_array_equal(sw[-1], w[[0, 5]])
