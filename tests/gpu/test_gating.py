"""``--backend cupy`` without a usable GPU: one line naming what is missing, exit 2,
nothing built or written.  Every path is forced (cupy hidden or replaced by a stand-in),
so the tests run the same with or without cupy and a GPU."""

import subprocess
import sys
import types

import pytest

import neurosim
from neurosim.backends import BackendError, _cupy, get_backend
from neurosim.backends import cupy_backend as cb
from neurosim.cli import main
from tests.conftest import ROOT, network


class CUDARuntimeError(RuntimeError):
    """Stands for cupy_backends.cuda.api.runtime.CUDARuntimeError."""


def fake_cupy(available=True, count=1, count_error=None, nvrtc_error=None):
    def get_count():
        if count_error is not None:
            raise count_error
        return count

    def nvrtc_version():
        if nvrtc_error is not None:
            raise nvrtc_error
        return (13, 0)

    runtime = types.SimpleNamespace(getDeviceCount=get_count)
    cuda = types.SimpleNamespace(
        runtime=runtime, nvrtc=types.SimpleNamespace(getVersion=nvrtc_version)
    )
    return types.SimpleNamespace(is_available=lambda: available, cuda=cuda)


def _error(monkeypatch, module):
    monkeypatch.setitem(sys.modules, "cupy", module)
    with pytest.raises(BackendError) as info:
        get_backend("cupy")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("backend 'cupy'")
    return msg


def test_cupy_not_installed(monkeypatch):
    msg = _error(monkeypatch, None)  # None in sys.modules: the import fails
    assert "CuPy" in msg and "not installed" in msg
    assert "gpu-cuda13" in msg and "gpu-cuda12" in msg


def test_no_driver(monkeypatch):
    err = CUDARuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")
    msg = _error(monkeypatch, fake_cupy(available=False, count_error=err))
    assert "no usable CUDA driver" in msg and "cudaErrorInsufficientDriver" in msg
    assert "--backend numba" in msg


def test_no_gpu_visible(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    msg = _error(monkeypatch, fake_cupy(available=False, count=0))
    assert "no CUDA GPU is visible" in msg and "CUDA_VISIBLE_DEVICES=''" in msg


def test_no_nvrtc(monkeypatch):
    err = RuntimeError(
        "CuPy failed to load libnvrtc.so.13: OSError: libnvrtc.so.13:\n"
        "cannot open shared object file: No such file or directory"
    )
    msg = _error(monkeypatch, fake_cupy(nvrtc_error=err))
    assert "NVRTC" in msg and "libnvrtc.so.13" in msg and "[ctk]" in msg


def test_broken_install(monkeypatch):
    class Finder:
        def find_spec(self, name, path=None, target=None):
            if name == "cupy":
                raise ImportError(
                    "libcudart.so.13: cannot open shared object file",
                    name="cupy_backends.cuda.api.runtime",
                )
            return None

    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Finder(), *sys.meta_path])
    with pytest.raises(BackendError, match="fails to import .*libcudart"):
        get_backend("cupy")


def test_usable_gpu_passes_the_check(monkeypatch):
    """With cupy, a driver, a GPU and NVRTC the check returns cupy, for spiking and
    graded networks alike."""
    fake = fake_cupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert _cupy.require() is fake
    assert get_backend("cupy").name == "cupy"
    assert get_backend("cupy", "ltc").name == "cupy"


def test_simulation_refuses_before_writing(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "cupy", None)
    out = tmp_path / "out.h5"
    with pytest.raises(BackendError, match="not installed"):
        neurosim.Simulation(network("cuba"), output=str(out), backend="cupy")
    assert not out.exists()


def test_cli_exit_2(monkeypatch, tmp_path, capsys):
    """In process, with a driver missing: exit status 2, one line on stderr."""
    err = CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(available=False, count_error=err))
    out = tmp_path / "out.h5"
    rc = main(["run", network("cuba"), "-o", str(out), "--backend", "cupy"])
    err_text = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    lines = err_text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurosim: error: backend 'cupy'")
    assert "cudaErrorNoDevice" in lines[0]


def test_cli_exit_2_without_cupy(tmp_path):
    """The real command in a fresh process, cupy hidden from it."""
    out = tmp_path / "out.h5"
    code = (
        "import sys; sys.modules['cupy'] = None; from neurosim.cli import main; "
        f"sys.exit(main(['run', {network('cuba')!r}, '-o', {str(out)!r}, '--backend', 'cupy']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "CuPy" in lines[0] and "not installed" in lines[0]
    assert not out.exists()


def test_device_per_local_rank():
    env = {"MPI_LOCALRANKID": "3"}
    assert _cupy.local_rank(7, env) == 3
    assert _cupy.device_for(7, 2, env) == 1  # local rank 3 on a node with 2 GPUs
    assert _cupy.local_rank(5, {}) == 5  # no launcher variable: the global rank
    assert _cupy.local_rank(0, {"OMPI_COMM_WORLD_LOCAL_RANK": "2", "SLURM_LOCALID": "9"}) == 2
    assert _cupy.local_rank(1, {"MPI_LOCALRANKID": "x", "SLURM_LOCALID": "4"}) == 4
    assert _cupy.device_for(0, 4, {"SLURM_LOCALID": "6"}) == 2
    with pytest.raises(BackendError, match="no CUDA GPU"):
        _cupy.device_for(0, 0, {})


def test_cupy_device_on_a_stand_in(monkeypatch, emu_dir):
    """neurosim.backends._cupy's own device and launches, over a stand-in for cupy
    (numpy arrays, the g++ emulation as RawModule): the backend reaches the reference
    through them, and NVRTC is given the expanded source with contraction off."""
    from benchmarks.gpu import cases as C
    from benchmarks.gpu.make_reference import run_case
    from tests.gpu.emulate import fake_cupy, gxx

    if gxx() is None:
        pytest.skip("g++ is not on the PATH")
    fake = fake_cupy(emu_dir)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setenv("MPI_LOCALRANKID", "0")
    # the stand-in runs threads one after another: one per block keeps barriers valid
    monkeypatch.setattr(cb, "COOP_BLOCK", 1)
    sim = run_case("mixed", "cupy")
    assert type(sim.backend.dev).__name__ == "CupyDevice"
    assert C.compare_spiking(sim, C.load_reference("mixed")) == []
    assert fake.compiled
    for options, code in fake.compiled:
        assert "--fmad=false" in options
        assert "#include" not in code and "#pragma once" not in code
