"""Checkpoint and resume give the bits of the uninterrupted run (issue 7, acceptance 1).

A "crash" is a simulation that is dropped after running past its last checkpoint: the
recording then holds more than the checkpoint, and the resume cuts it back first.
"""

import os
import time

import h5py
import numpy as np
import pytest

import neurosim
from neurosim import Simulation
from neurosim.cli import main

from ..conftest import DATA, network
from ._util import assert_same, contents

MIXED = os.path.join(DATA, "mixed.yaml")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_spiking_resumed_twice_equals_uninterrupted(tmp_path, backend):
    """mixed.yaml has every model and device (Poisson, spike and noise generators, dc);
    checkpoints fall before, between and after the spike generator's events."""
    ref = tmp_path / "ref.h5"
    Simulation(MIXED, output=ref, backend=backend).run("200 ms").close()

    out = tmp_path / "out.h5"
    sim = Simulation(MIXED, output=out, backend=backend, checkpoint_every="15 ms")
    sim.run("37 ms")  # checkpoints at 15 and 30 ms; "crash" at 37 ms
    del sim
    assert contents(out)[1]["t_stop"] == 37.0
    sim = Simulation.resume(out)
    assert (sim.step, sim.end_step) == (300, 370)
    sim.run()  # the rest of the interrupted run: to 37 ms
    sim.run("120 ms")  # checkpoints every 15 ms up to 150 ms; "crash" at 157 ms
    del sim
    sim = Simulation.resume(out)
    assert sim.step == 1500
    sim.run("50 ms")
    sim.close()
    assert_same(ref, out)
    assert contents(out)[1]["complete"]


def test_parameters_set_between_segments_are_checkpointed(tmp_path):
    ref = tmp_path / "ref.h5"
    a = Simulation(MIXED, output=ref)
    a.run("40 ms").set("E", I_e="150 pA").run("60 ms")
    a.close()
    out = tmp_path / "out.h5"
    b = Simulation(MIXED, output=out, checkpoint_every="50 ms")
    b.run("40 ms").set("E", I_e="150 pA").run("30 ms")
    del b
    c = Simulation.resume(out)
    c.run("50 ms")
    c.close()
    assert_same(ref, out)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_ltc_resumed_twice_equals_uninterrupted(tmp_path, backend):
    net = network("celegans")
    ref = tmp_path / "ref.h5"
    Simulation(net, output=ref, backend=backend).run("6 ms").close()
    out = tmp_path / "out.h5"
    sim = Simulation(net, output=out, backend=backend, checkpoint_every="2 ms")
    sim.run("3 ms")
    del sim
    sim = Simulation.resume(out)
    assert sim.step == 20
    sim.run("2.5 ms")  # to 4.5 ms, checkpoint at 4 ms
    del sim
    sim = Simulation.resume(out)
    assert sim.step == 40
    sim.run("2 ms")
    sim.close()
    assert_same(ref, out)


def test_a_resume_starts_from_the_checkpoint(tmp_path):
    """Changing one neuron's state in the checkpoint changes the continuation."""
    out = tmp_path / "out.h5"
    Simulation(MIXED, output=out, checkpoint_every="50 ms").run("50 ms").close()
    same = tmp_path / "same.h5"
    changed = tmp_path / "changed.h5"
    for dst in (same, changed):
        for suffix in ("", ".ckpt"):
            with open(str(out) + suffix, "rb") as a, open(str(dst) + suffix, "wb") as b:
                b.write(a.read())
    with h5py.File(str(changed) + ".ckpt", "r+") as f:
        gid = f["neurons/gid"][()]
        v = f["neurons/V"]
        i = int(np.searchsorted(gid, 3))  # E neuron 3
        v[i] = v[i] + 5.0  # mV
    for dst in (same, changed):
        sim = Simulation.resume(dst, checkpoint=str(dst) + ".ckpt")
        sim.run("100 ms").close()
    a, b = contents(same)[0], contents(changed)[0]
    t_same, ids_same = a["E"]
    t_chg, ids_chg = b["E"]
    assert not (len(t_same) == len(t_chg) and np.array_equal(ids_same, ids_chg))
    # before the checkpoint both hold the same spikes
    np.testing.assert_array_equal(t_same[t_same <= 50], t_chg[t_chg <= 50])
    # the changed neuron's trace differs from the checkpoint's time on
    _, va, _ = a[("E", "V_m")]
    _, vb, _ = b[("E", "V_m")]
    np.testing.assert_array_equal(va[:500], vb[:500])
    assert not np.array_equal(va[500:, 3], vb[500:, 3])


def test_resume_time_scales_with_the_time_left(tmp_path):
    net = network("cuba")
    spec = neurosim.load(net)
    spec.record_state = []
    walls = {}
    for frac, t_ck in (("late", "9 s"), ("early", "1 s")):
        out = tmp_path / f"{frac}.h5"
        sim = Simulation(spec, output=out, checkpoint_every=t_ck)
        sim.run(t_ck)
        sim.end_step = int(round(10_000 / sim.dt))  # as if interrupted on the way to 10 s
        sim.checkpoint()
        sim.close()
        t = time.perf_counter()
        r = Simulation.resume(out, network=spec)
        r.run()
        r.close()
        walls[frac] = (r.last_run_wall, time.perf_counter() - t)
        assert r.sim_time == 10_000
    # 9 s left against 1 s left: the simulation part takes several times longer
    assert walls["early"][0] > 3 * walls["late"][0], walls


def test_resume_refuses_a_changed_network_file(tmp_path, capsys):
    net = tmp_path / "net.yaml"
    net.write_text(open(MIXED).read())
    out = tmp_path / "out.h5"
    args = ["run", str(net), "-o", str(out), "--quiet", "--duration", "30 ms"]
    assert main([*args, "--checkpoint-every", "20 ms"]) == 0
    with h5py.File(out, "r+") as f:  # as if the run had died after 20 ms
        f.attrs["complete"] = False
    net.write_text(open(MIXED).read().replace("rate: 5 kHz", "rate: 6 kHz"))
    capsys.readouterr()
    assert main(["resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "changed since the checkpoint" in err, err
    assert "Traceback" not in err
    net.write_text(open(MIXED).read())  # restored: the resume goes on
    assert main(["resume", str(out), "--quiet"]) == 0
    assert main(["resume", str(out), "--quiet"]) == 0
    assert "nothing to resume" in capsys.readouterr().out


def test_resume_keeps_set_overrides_seed_and_duration(tmp_path):
    out = tmp_path / "out.h5"
    args = ["run", MIXED, "-o", str(out), "--quiet", "--seed", "11", "--duration", "60 ms"]
    args += ["--set", "populations.E.size=50", "--set", "populations.ext.params.rate=4 kHz"]
    assert main([*args, "--checkpoint-every", "25 ms"]) == 0
    ref = tmp_path / "ref.h5"
    assert main([*args[:3], str(ref), *args[4:]]) == 0
    with h5py.File(str(out) + ".ckpt", "r") as f:
        assert f.attrs["step"] == 500 and f.attrs["end_step"] == 600
    # as if the run had died before its end: the resume redoes 50-60 ms
    with h5py.File(out, "r+") as f:
        f.attrs["complete"] = False
    assert main(["resume", str(out), "--quiet"]) == 0
    assert_same(ref, out)
    assert contents(out)[1]["seed"] == 11


WINDOWED = """
simulation: {dt: 0.1 ms, duration: 50 ms, seed: 4}
populations:
  A: {size: 3, model: iaf_psc_exp, params: {I_e: 400 pA}}
  B: {size: 2, model: iaf_psc_exp, params: {I_e: 500 pA}}
record:
  spikes: [B, A]
  state:
    - {population: A, variables: [V_m], interval: 1 ms, start: 10 ms}
    - {population: B, variables: [V_m], interval: 0.3 ms, start: 2 ms, stop: 31 ms}
"""


def test_a_killed_run_resumes_with_its_windows_and_spike_order(tmp_path):
    """A writer killed after a checkpoint leaves its file with SWMR flags, so the resume
    rebuilds the recording from it: a record window that had started keeps its sample
    times (they started at `interval` before), and record.spikes listed out of the
    file's population order keeps every spike (B's were lost before)."""
    import subprocess
    import sys

    net = tmp_path / "net.yaml"
    net.write_text(WINDOWED)
    ref = tmp_path / "ref.h5"
    Simulation(str(net), output=ref, backend="numpy").run().close()
    out = tmp_path / "crash.h5"
    code = (
        "import os, neurosim\n"
        f"sim = neurosim.Simulation({str(net)!r}, output={str(out)!r}, backend='numpy', "
        "checkpoint_every='20 ms')\n"
        "orig = sim.checkpoint\n"
        "def ck(*a):\n"
        "    orig(*a)\n"
        "    os._exit(9)\n"
        "sim.checkpoint = ck\n"
        "sim.run()\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 9, p.stderr
    sim = Simulation.resume(out)
    assert sim.step == 200
    sim.run()
    sim.close()
    assert_same(ref, out)
    c, _ = contents(ref)
    assert len(c["B"][0]) > 0 and c[("A", "V_m")][0][0] == 11.0
