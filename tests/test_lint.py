"""The tree stays ruff-clean (lint and format), with the configuration in pyproject.toml."""

import shutil
import subprocess
import sys

from tests.conftest import ROOT


def _ruff(*args):
    exe = shutil.which("ruff") or shutil.which("ruff", path=sys.prefix + "/bin")
    assert exe, "ruff is part of the test extra"
    return subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_check():
    proc = _ruff("check", ".")
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_ruff_format():
    proc = _ruff("format", "--check", ".")
    assert proc.returncode == 0, proc.stdout[-3000:]
