"""SIGINT / SIGTERM end a run with a checkpoint; SIGKILL after a checkpoint loses
nothing either: every resume continues with the bits of the uninterrupted run."""

import os
import signal
import subprocess
import sys
import time

import pytest

import neurosim
from neurosim import Simulation

from ..conftest import ROOT, network
from ._util import assert_same, contents


def _start(out, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "neurosim.cli", "run", network("cuba"), "-o", str(out)]
        + ["--duration", "600 s", "--quiet", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )


def _wait_for(out, t_min, proc, ckpt=None, timeout=90):
    """Poll the recording until it has reached t_min ms (and the checkpoint exists)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
        if not out.exists() or (ckpt is not None and not os.path.exists(ckpt)):
            continue
        try:
            with neurosim.open(out) as rec:
                if rec.attrs["t_stop"] >= t_min:
                    return
        except (OSError, KeyError):
            continue
    proc.kill()
    raise AssertionError(f"the run did not get to {t_min} ms: {proc.stderr.read()[-2000:]}")


def _resume_and_compare(tmp_path, out, more="300 ms"):
    """Resume through the Python API for a while, compare with one uninterrupted run."""
    sim = Simulation.resume(out)
    t0 = sim.sim_time
    sim.run(more)
    sim.close()
    ref = tmp_path / "ref.h5"
    Simulation(network("cuba"), output=ref).run(sim.sim_time).close()
    assert_same(ref, out)
    return t0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_with_a_checkpoint(tmp_path, sig):
    out = tmp_path / "out.h5"
    proc = _start(out)
    _wait_for(out, 1000.0, proc)
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"neurosim resume {out}" in err and "interrupted" in err
    _, attrs = contents(out)
    assert not attrs["complete"]
    assert not os.path.exists(str(out) + ".lock")
    t_ck = _resume_and_compare(tmp_path, out)
    assert t_ck == attrs["t_stop"] >= 1000.0


def test_sigkill_after_a_checkpoint_resumes(tmp_path):
    """The killed writer leaves SWMR flags that HDF5 will not open for writing: the
    resume rebuilds the recording from what was flushed, cut back to the checkpoint."""
    out = tmp_path / "out.h5"
    ck = str(out) + ".ckpt"
    proc = _start(out, "--checkpoint-every", "700 ms")
    _wait_for(out, 1500.0, proc, ckpt=ck)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with neurosim.open(out) as rec:
        assert not rec.complete
    t_ck = _resume_and_compare(tmp_path, out)
    assert t_ck % 700.0 == 0 and t_ck >= 700.0
    assert not [f for f in os.listdir(tmp_path) if "resume-old" in f or "tmp" in f]
