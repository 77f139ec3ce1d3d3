"""The one module that imports cupy: the check for a usable GPU, the choice of device
under MPI, and :class:`CupyDevice`, which compiles and launches the CUDA kernels of
:mod:`neurosim.backends.cupy_backend` and :mod:`neurosim.backends.ltc_cupy`.
"""

from __future__ import annotations

import os

from . import BackendError

#: Environment variables that give a process's rank among the ranks of its node, in
#: the order they are looked at (MPICH/Hydra, Open MPI, MVAPICH, Slurm's srun).
LOCAL_RANK_VARS = (
    "MPI_LOCALRANKID",
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "MV2_COMM_WORLD_LOCAL_RANK",
    "SLURM_LOCALID",
)

_INSTALL = "pip install 'neurosim[gpu-cuda13]' (CUDA 13 driver) or 'neurosim[gpu-cuda12]' (CUDA 12)"


def _line(exc):
    """An exception as one short line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def require():
    """Import cupy and check that it can run our kernels here.

    Returns
    -------
    module
        ``cupy``.

    Raises
    ------
    BackendError
        One line naming what is missing: cupy itself, a CUDA driver or GPU
        (``cupy.is_available()`` is false), or NVRTC (the runtime compiler the
        kernels are built with).
    """
    try:
        import cupy
    except ImportError as exc:
        if getattr(exc, "name", None) in ("cupy", "cupy_backends"):
            raise BackendError(
                f"backend 'cupy' needs CuPy, which is not installed: {_INSTALL}"
            ) from None
        raise BackendError(
            f"backend 'cupy': CuPy is installed but fails to import ({_line(exc)})"
        ) from None
    if not cupy.is_available():
        # is_available() hides why; the device count says it
        try:
            n = cupy.cuda.runtime.getDeviceCount()
            why = "no CUDA GPU is visible" if n == 0 else "the CUDA runtime refuses the GPU"
        except Exception as exc:  # noqa: BLE001 - cupy raises its own runtime errors
            why = f"no usable CUDA driver ({_line(exc)})"
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        hint = f"; CUDA_VISIBLE_DEVICES={visible!r}" if visible is not None else ""
        raise BackendError(
            f"backend 'cupy' needs an NVIDIA GPU and driver: {why}{hint} "
            "(use --backend numba on this machine)"
        )
    try:
        cupy.cuda.nvrtc.getVersion()
    except Exception as exc:  # noqa: BLE001 - a missing library surfaces in many types
        raise BackendError(
            f"backend 'cupy' needs NVRTC, CUDA's runtime compiler, which cannot be loaded "
            f"({_line(exc)}): install cupy with its CUDA components, e.g. "
            "pip install 'cupy-cuda13x[ctk]', or the CUDA toolkit"
        ) from None
    return cupy


def local_rank(default=0, environ=None):
    """This process's rank on its node from the MPI launcher's environment, else
    ``default`` (the global rank: right when every rank has a node of its own)."""
    env = os.environ if environ is None else environ
    for var in LOCAL_RANK_VARS:
        value = env.get(var)
        if value is not None:
            try:
                return int(value)
            except ValueError:
                continue
    return int(default)


def device_for(rank, n_devices, environ=None):
    """The device index of a process: its local rank modulo the visible GPUs (one GPU
    per rank when a node has as many GPUs as ranks)."""
    if n_devices < 1:
        raise BackendError("backend 'cupy': no CUDA GPU is visible")
    return local_rank(rank, environ) % n_devices


class CupyModule:
    """The kernels of one CUDA source, compiled by NVRTC (``cupy.RawModule``)."""

    def __init__(self, cupy, name):
        from .cupy_backend import NVRTC_OPTIONS, kernel_signatures, read_source

        source = read_source(name)
        self.sigs = kernel_signatures(source)
        self.cp = cupy
        try:
            self.module = cupy.RawModule(code=source, options=NVRTC_OPTIONS)
            # compile now, so that an error names the source (older cupy: lazily)
            compile_now = getattr(self.module, "compile", None)
            if compile_now is not None:
                compile_now()
        except Exception as exc:  # noqa: BLE001 - compile errors carry NVRTC's log
            raise BackendError(f"backend 'cupy': {name} does not compile: {_line(exc)}") from None
        self.kernels = {}

    def launch(self, kernel, n, *args):
        """Run ``kernel`` over ``n`` threads (one-dimensional grid; nothing for n = 0)."""
        from .cupy_backend import BLOCK, check_args, grid_for

        grid = grid_for(n)
        if grid == 0:
            return
        cp = self.cp
        conv = check_args(kernel, self.sigs[kernel], args, lambda a: isinstance(a, cp.ndarray))
        fn = self.kernels.get(kernel)
        if fn is None:
            fn = self.kernels[kernel] = self.module.get_function(kernel)
        fn((grid,), (BLOCK,), tuple(conv))

    def bind(self, kernel, grid, block, *args):
        """A :class:`~neurosim.backends.cupy_backend.BoundLaunch` of ``kernel``."""
        from .cupy_backend import BoundLaunch

        cp = self.cp
        fn = self.kernels.get(kernel)
        if fn is None:
            fn = self.kernels[kernel] = self.module.get_function(kernel)
        return BoundLaunch(
            lambda g, b, a: fn(g, b, tuple(a)),
            kernel,
            self.sigs[kernel],
            grid,
            block,
            args,
            lambda a: isinstance(a, cp.ndarray),
        )


class CupyDevice:
    """The GPU of this process (chosen from its local rank under MPI) as a device of
    :mod:`neurosim.backends.cupy_backend`: ``xp`` is cupy, copies are cupy's."""

    def __init__(self, rank=0):
        cp = require()
        self.xp = cp
        self.index = device_for(rank, cp.cuda.runtime.getDeviceCount())
        self.device = cp.cuda.Device(self.index)
        self.device.use()
        self._modules = {}

    def module(self, name):
        mod = self._modules.get(name)
        if mod is None:
            mod = self._modules[name] = CupyModule(self.xp, name)
        return mod

    def to_device(self, a):
        return self.xp.array(a, copy=True, order="C")

    def to_host(self, a):
        return self.xp.asnumpy(a)

    def synchronize(self):
        self.device.synchronize()
