"""Fixtures of the GPU backend's tests: the g++ emulation (CPU, default suite) and the
real GPU (tests marked ``gpu``: skipped where none is usable, failed instead when
``NEUROSIM_REQUIRE_GPU=1``, as benchmarks/gpu_check.sh sets, so that a GPU visit never
counts a skip as a pass)."""

import os

import pytest

from tests.gpu.emulate import gxx, use_emulation


@pytest.fixture(scope="session")
def emu_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("emu"))


@pytest.fixture
def emulation(emu_dir):
    """``backend="cupy"`` runs on the CPU emulation of the kernels (g++)."""
    if gxx() is None:
        pytest.skip("g++ is not on the PATH: the CUDA kernels cannot be emulated")
    with use_emulation(emu_dir) as emu:
        yield emu


@pytest.fixture(scope="session")
def gpu():
    """The cupy module where a GPU is usable."""
    from neurosim.backends import BackendError
    from neurosim.backends._cupy import require

    try:
        return require()
    except BackendError as exc:
        if os.environ.get("NEUROSIM_REQUIRE_GPU") == "1":
            pytest.fail(f"NEUROSIM_REQUIRE_GPU=1 but {exc}")
        pytest.skip(str(exc))
