"""A checkpoint made on 2 ranks resumes on 3 (and on 1) with the bits of one process."""

import os
import sys

import pytest

from neurosim import Simulation

from ..conftest import ROOT
from ..parallel.test_mpi import launch
from ._util import assert_same, contents

pytestmark = pytest.mark.mpi

SCRIPT = os.path.join(ROOT, "tests", "reliability", "mpi_resume.py")
MIXED = os.path.join(ROOT, "tests", "data", "mixed.yaml")


@pytest.mark.parametrize("resume_ranks", [3, 1])
def test_checkpoint_on_2_ranks_resumes_on_other_counts(tmp_path, resume_ranks):
    ref = tmp_path / "ref.h5"
    Simulation(MIXED, output=ref).run("200 ms").close()
    out = tmp_path / "out.h5"
    p = launch(2, sys.executable, SCRIPT, "checkpoint", str(out), timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert sorted(os.listdir(tmp_path)) == [
        "out.h5",
        "out.h5.ckpt",
        "out.rank0.h5",
        "out.rank1.h5",
        "ref.h5",
    ]
    p = launch(resume_ranks, sys.executable, SCRIPT, "resume", str(out), timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert_same(ref, out)
    _, attrs = contents(out)
    assert attrs["complete"] and attrs["ranks"] == resume_ranks
    ranks = [f"out.rank{r}.h5" for r in range(resume_ranks)] if resume_ranks > 1 else []
    assert sorted(os.listdir(tmp_path)) == sorted(["out.h5", "out.h5.ckpt", "ref.h5", *ranks])


def test_graded_network_checkpoint_on_2_ranks_resumes_on_3(tmp_path):
    """celegans (302 neurons: chunks of targets on every rank) through the same steps."""
    net = os.path.join(ROOT, "networks", "celegans.yaml")
    ref = tmp_path / "ref.h5"
    Simulation(net, output=ref).run("200 ms").close()
    out = tmp_path / "out.h5"
    p = launch(2, sys.executable, SCRIPT, "checkpoint", str(out), net, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    p = launch(3, sys.executable, SCRIPT, "resume", str(out), timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert_same(ref, out)
