import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NETWORKS = os.path.join(ROOT, "networks")
DATA = os.path.join(ROOT, "tests", "data")


def network(name):
    return os.path.join(NETWORKS, f"{name}.yaml")


def run_cli(*args, cwd=None, timeout=600):
    """Run the ``neurosim`` command in a subprocess; returns CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "neurosim.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


@pytest.fixture
def tmp_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path
