"""A run killed with SIGKILL leaves every flushed spike readable (SWMR file)."""

import os
import signal
import subprocess
import sys
import time

import numpy as np

import neurosim
from tests.conftest import network


def test_sigkill_keeps_flushed_spikes(tmp_path):
    out = tmp_path / "killed.h5"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "neurosim.cli",
            "run",
            network("cuba"),
            "-o",
            out,
            "--duration",
            "600 s",
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    t_stop = 0.0
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if not out.exists():
                continue
            try:
                with neurosim.open(out) as rec:
                    t_stop = rec.attrs["t_stop"]
            except OSError:
                continue  # the writer is creating the file
            if t_stop >= 1000.0:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert t_stop >= 1000.0, proc.stderr.read().decode()[-2000:]
    with neurosim.open(out) as rec:
        assert not rec.complete
        t_stop = rec.attrs["t_stop"]
        got = {p: rec.spikes(p) for p in ("E", "I")}
    # the same run, uninterrupted up to the last flushed time, gives the same spikes
    spec = neurosim.load(network("cuba"))
    spec.record_state = []
    sim = neurosim.Simulation(spec, backend="numba")
    sim.run(t_stop)
    for pop, (t, ids) in got.items():
        ref_t, ref_ids = sim.spikes(pop)
        assert np.all(t <= t_stop)
        assert np.array_equal(t, ref_t) and np.array_equal(ids, ref_ids)
        assert len(ref_t) > 100
