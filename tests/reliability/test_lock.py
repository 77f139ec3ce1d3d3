"""Two runs writing the same output: the second refuses and the first stays valid."""

import os
import subprocess
import sys
import time

import pytest

import neurosim
from neurosim import Simulation
from neurosim.cli import main
from neurosim.io.hdf5 import OutputError

from ..conftest import DATA, ROOT, network

MIXED = os.path.join(DATA, "mixed.yaml")


def test_second_run_refuses_even_with_overwrite(tmp_path, capsys):
    out = tmp_path / "out.h5"
    args = ["run", network("cuba"), "-o", str(out), "--quiet", "--overwrite"]
    first = subprocess.Popen(
        [sys.executable, "-m", "neurosim.cli", *args, "--duration", "15 s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )
    try:
        deadline = time.time() + 60
        while not out.exists() and time.time() < deadline and first.poll() is None:
            time.sleep(0.02)
        # the second run (in this process: no start-up time) while the first runs
        assert main(args) == 2
        assert main(["resume", str(out), "--quiet"]) == 2
        assert first.poll() is None, "the first run ended before the second was refused"
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 1 and "in use by another run" in err
        assert f"pid {first.pid}" in err
        _, err = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 0, err
    with neurosim.open(out) as rec:
        assert rec.complete and rec.attrs["t_stop"] == 15_000.0
        assert rec.n_spikes("E") > 0
    assert not os.path.exists(str(out) + ".lock")


def test_in_process_takeover_never_interleaves(tmp_path):
    out = tmp_path / "out.h5"
    a = Simulation(MIXED, output=out)
    a.run("10 ms")
    with pytest.raises(OutputError, match="already exists"):
        Simulation(MIXED, output=out)  # refused: a keeps the file
    a.run("5 ms")
    b = Simulation(MIXED, output=out, overwrite=True)  # a is idle: b takes the file
    with pytest.raises(OutputError, match="another Simulation in this process"):
        a.run("10 ms")
    b.run("20 ms").close()
    with neurosim.open(out) as rec:
        assert rec.attrs["t_stop"] == 20.0 and rec.complete
    c = Simulation(MIXED, output=tmp_path / "other.h5")
    c.close()
    c.run("5 ms")  # a closed simulation takes its output again
    assert os.path.exists(str(tmp_path / "other.h5") + ".lock")
    c.close()
    assert not os.path.exists(str(tmp_path / "other.h5") + ".lock")
