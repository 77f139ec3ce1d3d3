"""A CPU stand-in for the GPU: the CUDA sources compiled by g++ and launched thread by
thread, behind the device interface of :mod:`neurosim.backends.cupy_backend`.

``neurosim/backends/cuda/host_emu.cuh`` defines what the kernels use of CUDA; a wrapper
generated from the kernels' signatures loops over blocks and threads in launch order.
Host and "device" arrays are separate copies (numpy), so a missing copy between them
shows up as a wrong result, as it would on a GPU.  Compiled with ``-ffp-contract=off``
(the counterpart of ``--fmad=false``), the kernels' arithmetic is checked bit for bit
against the numpy backend.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile

import numpy as np

from neurosim.backends import cupy_backend as cb

GXX_FLAGS = ("-O2", "-ffp-contract=off", "-std=c++17", "-shared", "-fPIC", "-Wall", "-Werror")
_CT = {
    "double": ctypes.c_double,
    "float": ctypes.c_float,
    "i64": ctypes.c_int64,
    "u64": ctypes.c_uint64,
    "i32": ctypes.c_int32,
    "int": ctypes.c_int32,
    "u32": ctypes.c_uint32,
    "u16": ctypes.c_uint16,
    "u8": ctypes.c_uint8,
}
_LIBS = {}  # source hash -> (CDLL, signatures): one compilation per process


def gxx():
    return shutil.which("g++")


def wrapper_source(name):
    """The C++ translation unit of ``cuda/<name>``: the emulation header, the .cu file,
    then one launch loop ``emu_<kernel>(grid, block, params...)`` per kernel."""
    sigs = cb.kernel_signatures(cb.read_source(name))
    return _wrap(f'#include "{name}"', sigs), sigs


def _wrap(body, sigs):
    out = ['#include "host_emu.cuh"', body, ""]
    for kern, params in sigs.items():
        decl = ", ".join(p.text for p in params)
        call = ", ".join(p.name for p in params)
        if kern in cb.COOP_KERNELS:
            # blocks of several threads as fibers, so that the barriers hold
            loop = (
                "  for (unsigned int b = 0; b < grid; ++b) {\n"
                "    if (block == 1) {\n"
                "      ns_emu_set(grid, block, b, 0);\n"
                f"      {kern}({call});\n"
                "    } else {\n"
                f"      ns_emu_block(grid, block, b, [&]() {{ {kern}({call}); }});\n"
                "    }\n"
                "  }\n"
            )
        else:
            loop = (
                "  for (unsigned int b = 0; b < grid; ++b)\n"
                "    for (unsigned int t = 0; t < block; ++t) {\n"
                "      ns_emu_set(grid, block, b, t);\n"
                f"      {kern}({call});\n"
                "    }\n"
            )
        out.append(
            f'extern "C" void emu_{kern}(unsigned int grid, unsigned int block, {decl}) {{\n'
            + loop
            + "}\n"
        )
    return "\n".join(out)


def compile_library(name, workdir=None, text=None):
    """Compile ``cuda/<name>`` (or, given ``text``, that source) for the host;
    returns (CDLL, signatures)."""
    if text is None:
        wrapped, sigs = wrapper_source(name)
        text = cb.read_source(name)
    else:
        sigs = cb.kernel_signatures(text)
        wrapped = _wrap(text, sigs)
    key = hashlib.sha256((wrapped + text).encode()).hexdigest()[:16]
    hit = _LIBS.get(key)
    if hit is not None:
        return hit
    work = workdir or tempfile.mkdtemp(prefix="neurosim-emu-")
    # one file per process: ranks under mpiexec compile side by side
    src = os.path.join(work, f"emu_{os.path.splitext(name)[0]}_{key}_{os.getpid()}.cpp")
    lib = src[:-4] + ".so"
    with open(src, "w") as f:
        f.write(wrapped)
    proc = subprocess.run(
        [gxx(), *GXX_FLAGS, "-I", cb.CUDA_DIR, src, "-o", lib],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"g++ failed on {name}:\n{proc.stderr[-4000:]}")
    dll = ctypes.CDLL(lib)
    for kern, params in sigs.items():
        fn = getattr(dll, f"emu_{kern}")
        fn.restype = None
        fn.argtypes = [ctypes.c_uint, ctypes.c_uint] + [
            ctypes.c_void_p if p.pointer else _CT[p.ctype] for p in params
        ]
    _LIBS[key] = (dll, sigs)
    return dll, sigs


def _call(dll, sigs, kernel, grid, block, args):
    cargs = [
        a.ctypes.data if p.pointer else a.item() for p, a in zip(sigs[kernel], args, strict=True)
    ]
    getattr(dll, f"emu_{kernel}")(grid, block, *cargs)
    if block > 1 and kernel in cb.COOP_KERNELS and dll.ns_emu_take_error():
        raise RuntimeError(f"{kernel}: threads of a block reached different barriers")


class EmuModule:
    """The kernels of one source, launched on the CPU."""

    def __init__(self, name, workdir=None):
        self.dll, self.sigs = compile_library(name, workdir)
        self.launches = {}  # kernel -> number of launches (tests read it)

    def launch(self, kernel, n, *args):
        grid = cb.grid_for(n)
        if grid == 0:
            return
        conv = cb.check_args(kernel, self.sigs[kernel], args, lambda a: isinstance(a, np.ndarray))
        _call(self.dll, self.sigs, kernel, grid, cb.BLOCK, conv)
        self.launches[kernel] = self.launches.get(kernel, 0) + 1

    def bind(self, kernel, grid, block, *args):
        def run(g, b, a):
            _call(self.dll, self.sigs, kernel, g[0], b[0], a)
            self.launches[kernel] = self.launches.get(kernel, 0) + 1

        is_array = lambda a: isinstance(a, np.ndarray)  # noqa: E731
        return cb.BoundLaunch(run, kernel, self.sigs[kernel], grid, block, args, is_array)


class EmuDevice:
    """A device whose arrays are numpy arrays and whose kernels run on the CPU."""

    xp = np

    def __init__(self, rank=0, workdir=None):
        self.rank = rank
        self.workdir = workdir
        self.modules = {}
        self.to_host_calls = 0

    def module(self, name):
        mod = self.modules.get(name)
        if mod is None:
            mod = self.modules[name] = EmuModule(name, self.workdir)
        return mod

    def to_device(self, a):
        return np.array(a, copy=True, order="C")

    def to_host(self, a):
        self.to_host_calls += 1
        return np.array(a, copy=True)

    def synchronize(self):
        pass


class use_emulation:
    """Context manager: ``backend="cupy"`` runs on :class:`EmuDevice` inside it."""

    def __init__(self, workdir=None):
        self.workdir = workdir
        self.devices = []

    def __enter__(self):
        self.old = cb.DEVICE_FACTORY
        self.old_coop = cb.COOP_BLOCK
        cb.COOP_BLOCK = 1  # one thread per block of the kernels with barriers

        def factory(rank):
            dev = EmuDevice(rank, self.workdir)
            self.devices.append(dev)
            return dev

        cb.DEVICE_FACTORY = factory
        return self

    def __exit__(self, *exc):
        cb.DEVICE_FACTORY = self.old
        cb.COOP_BLOCK = self.old_coop


def fake_cupy(workdir=None):
    """A stand-in for the cupy module over numpy and this emulation: enough of cupy's
    API (RawModule, get_function, launches with numpy scalars, asnumpy, Device, the
    runtime and NVRTC probes) to run :mod:`neurosim.backends._cupy` itself on the CPU.
    It records what RawModule was given (``compiled``: (options, source) pairs)."""
    import types

    compiled = []

    class RawModule:
        def __init__(self, code, options=()):
            self.code, self.options = code, tuple(options)
            self.dll = None

        def compile(self):
            compiled.append((self.options, self.code))
            self.dll, self.sigs = compile_library("rawmodule.cu", workdir, text=self.code)

        def get_function(self, name):
            if self.dll is None:
                self.compile()
            if name not in self.sigs:
                raise AttributeError(name)

            def launch(grid, block, args, shared_mem=0):
                assert isinstance(grid, tuple) and isinstance(block, tuple)
                for p, a in zip(self.sigs[name], args, strict=True):
                    # cupy types scalars by their numpy type: it must be the parameter's
                    assert isinstance(a, np.ndarray) if p.pointer else type(a) is p.dtype.type
                _call(self.dll, self.sigs, name, grid[0], block[0], list(args))

            return launch

    class Device:
        def __init__(self, index):
            self.index = index

        def use(self):
            pass

        def synchronize(self):
            pass

    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1)
    cuda = types.SimpleNamespace(
        runtime=runtime, Device=Device, nvrtc=types.SimpleNamespace(getVersion=lambda: (13, 0))
    )
    mod = types.ModuleType("cupy")
    for name in (
        "zeros",
        "empty",
        "sort",
        "argsort",
        "arange",
        "searchsorted",
        "cumsum",
        "concatenate",
        "float64",
        "int64",
    ):
        setattr(mod, name, getattr(np, name))
    mod.ndarray = np.ndarray
    mod.cuda = cuda
    mod.RawModule = RawModule
    mod.is_available = lambda: True
    mod.array = lambda a, copy=True, order="C": np.array(a, copy=True, order=order)
    mod.asnumpy = lambda a: np.array(a, copy=True)
    mod.compiled = compiled
    return mod
