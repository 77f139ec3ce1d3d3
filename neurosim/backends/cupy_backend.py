"""The cupy backend (NVIDIA GPUs): the numpy reference's step as CUDA kernels.

The kernels are complete CUDA translation units in ``neurosim/backends/cuda/``
(``spiking.cu``, ``ltc.cu``, with ``common.cuh``), compiled at run time by NVRTC
through ``cupy.RawModule`` with ``--fmad=false``: the numpy reference's operations in its
order, the portable exp and the counter-based random numbers, so the spike trains are
the numpy backend's bits.  All state stays on the device for the whole run; per chunk
of steps only the spikes and the recorded samples come back (and V, syn and the
refractory counters, which the simulation loop checks for NaN), and only the current
amplitudes (when a network has current generators) go out.

Host side, per step ``k`` (see :mod:`neurosim.backends.numpy_backend` for the order and
``cuda/spiking.cu`` for the kernels): ``k_poisson`` (one thread per ring target with
Poisson synapses), ``k_currents``, ``k_neurons`` (one thread per neuron; each block lists
its spikes in neuron order), ``k_gather`` (one block: the spikes appended to the chunk's
buffer, sorted by gid, and the step's list with the spike generators' events merged in),
``k_deliver_step`` (one block per range of ring targets: each synapse reached is added
to its slot by the thread that owns the target, in the list's order) and ``k_record``.
Every ring slot so receives its input in the CPU's order, (step, source gid, CSR
position), with no floating-point atomics and no fixed point; the device's CSR rows are
sorted by target once (stably: synapses that share a slot keep their order).  Nothing
waits for the host between steps: one synchronisation every :attr:`sync_every` steps
reads the spike count, so that the spike buffer can grow before it could overflow.
Spikes gathered across ranks (the MPI loop) are delivered by :meth:`CupyBackend.deliver`
instead: sorted by (step, gid), expanded through the CSR into one key per synapse
reached, ``ring slot * M + c`` with ``c`` the synapse's position in (step, gid, CSR)
order, the keys sorted, and each slot's weights added in ``c`` order by one thread.

A *device* gives the backend its array module (``xp``), copies and compiled kernels;
:class:`neurosim.backends._cupy.CupyDevice` is the GPU.  The CPU tests plug in a device
that compiles the same ``.cu`` files with g++ (``tests/gpu/emulate.py``) through
:data:`DEVICE_FACTORY`, so everything here -- launch geometry, buffers, batches,
chunked recording -- and the kernels' arithmetic are checked against numpy without a
GPU.  This module never imports cupy (:mod:`neurosim.backends._cupy` does).
"""

from __future__ import annotations

import os
import re

import numpy as np

from . import BackendError
from .base import HostBackend

#: Folder of the CUDA sources.
CUDA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cuda")
#: Threads per block of the launches of one thread per item.
BLOCK = 256
#: Threads per block of the kernels that share data within a block (``COOP_KERNELS``;
#: a power of two, at most spiking.cu's COOP_BLOCK).  They are correct for any such
#: block size: the CPU emulation mostly runs them with 1 (barriers are then no-ops),
#: and its tests run whole blocks as fibers (tests/gpu/emulate.py).
COOP_BLOCK = 256
#: Ring targets per block of ``k_deliver_step`` (a power of two; more where the
#: segment table would exceed SEGMENT_BYTES).
DELIVER_TARGETS = 256
#: Largest segment table (k_seg: one int32 per CSR row and block of targets).
SEGMENT_BYTES = 512 << 20
#: Kernels launched with an explicit (grid, COOP_BLOCK) geometry.
COOP_KERNELS = frozenset({"k_neurons", "k_gather", "k_deliver_step"})
#: Options of every compilation: contraction off, so products and sums round as the
#: CPU's (the double-precision operations are IEEE-exact on the GPU).
NVRTC_OPTIONS = ("--fmad=false", "--std=c++17")

#: ``None``: the GPU (:class:`neurosim.backends._cupy.CupyDevice`).  Tests set it to a
#: callable ``factory(rank) -> device`` (the g++ emulation), which also skips the check
#: for a GPU.
DEVICE_FACTORY = None

# kernel parameter base types -> numpy dtypes (common.cuh's typedefs)
_CTYPES = {
    "double": np.float64,
    "float": np.float32,
    "i64": np.int64,
    "u64": np.uint64,
    "i32": np.int32,
    "int": np.int32,
    "u32": np.uint32,
    "u16": np.uint16,
    "u8": np.uint8,
    "void": None,
}
_KERNEL_RE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')
_INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$', re.M)
_DEFINE_RE = re.compile(r"^\s*#\s*define\s+(\w+)\s+(-?\d+)\s*$", re.M)
_COMMENT_RE = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_ONCE_RE = re.compile(r"^\s*#\s*pragma\s+once\s*$", re.M)


def read_source(name, _seen=None):
    """The text of ``cuda/<name>`` with its quoted includes expanded (once each, their
    ``#pragma once`` dropped).

    NVRTC is given the expanded text, so cupy's compile cache (keyed by the source)
    never serves a kernel compiled from an older header.
    """
    seen = set() if _seen is None else _seen
    with open(os.path.join(CUDA_DIR, name)) as f:
        text = f.read()

    def include(m):
        inc = m.group(1)
        if inc in seen:
            return ""
        seen.add(inc)
        return read_source(inc, seen)

    return _INCLUDE_RE.sub(include, _ONCE_RE.sub("", text))


class Param:
    """One kernel parameter: ``name``, ``ctype`` (base type), ``pointer``, ``dtype``
    (numpy dtype of the base type; None for ``void``) and the declaration ``text``."""

    __slots__ = ("name", "ctype", "pointer", "dtype", "text")

    def __init__(self, text):
        self.text = " ".join(text.split())
        words = self.text.replace("*", " * ").split()
        self.name = words[-1]
        self.pointer = "*" in words
        base = [w for w in words[:-1] if w not in ("const", "*", "__restrict__")]
        if len(base) != 1 or base[0] not in _CTYPES:
            raise ValueError(f"kernel parameter {self.text!r}: unsupported type")
        self.ctype = base[0]
        dt = _CTYPES[self.ctype]
        self.dtype = None if dt is None else np.dtype(dt)
        if self.dtype is None and not self.pointer:
            raise ValueError(f"kernel parameter {self.text!r}: void by value")

    def __eq__(self, other):
        return isinstance(other, Param) and self.text == other.text

    __hash__ = None

    def __repr__(self):
        return f"Param({self.text!r})"


def kernel_signatures(source):
    """``{kernel name: [Param, ...]}`` of the ``extern "C" __global__`` kernels."""
    out = {}
    for m in _KERNEL_RE.finditer(_COMMENT_RE.sub(" ", source)):
        params = [p for p in m.group(2).split(",") if p.strip()]
        out[m.group(1)] = [Param(p) for p in params]
    return out


def defines(source):
    """Integer ``#define`` constants of a source (the parameter table's columns ...)."""
    text = _COMMENT_RE.sub(" ", source)
    return {m.group(1): int(m.group(2)) for m in _DEFINE_RE.finditer(text)}


def grid_for(n, block=BLOCK):
    """Blocks of a one-dimensional launch of ``n`` threads (0 for no launch)."""
    if n < 0:
        raise ValueError("negative thread count")
    return (int(n) + block - 1) // block


def check_args(kernel, params, args, is_array):
    """Check the launch arguments of ``kernel`` against its signature and return the
    scalars as numpy scalars of the parameter's type (arrays unchanged).

    A pointer parameter takes a C-contiguous array of the parameter's dtype (any dtype
    for ``void*``); a scalar parameter takes a Python or numpy number.  A mismatch is a
    bug that a GPU would not report (it reads the bytes as the wrong type), so the
    emulated and the real launches both refuse it.
    """
    if len(args) != len(params):
        raise TypeError(f"{kernel}: {len(args)} arguments for {len(params)} parameters")
    out = []
    for p, a in zip(params, args, strict=True):
        if p.pointer:
            if not is_array(a):
                raise TypeError(f"{kernel}({p.name}): expected an array, got {type(a).__name__}")
            if p.dtype is not None and a.dtype != p.dtype:
                raise TypeError(f"{kernel}({p.name}): expected {p.dtype}, got {a.dtype}")
            if not a.flags.c_contiguous:
                raise TypeError(f"{kernel}({p.name}): array is not C-contiguous")
            out.append(a)
        else:
            if is_array(a) or isinstance(a, np.ndarray):
                raise TypeError(f"{kernel}({p.name}): expected a scalar")
            out.append(p.dtype.type(a))
    return out


class BoundLaunch:
    """A launch whose arguments were checked once (:func:`check_args`); calling it
    sets the named scalar arguments and launches again.  The kernels of every step
    go through these: checking 15 arguments per launch in Python costs more than the
    launch itself."""

    __slots__ = ("run", "grid", "block", "args", "_slot")

    def __init__(self, run, kernel, params, grid, block, args, is_array):
        self.run = run
        self.grid = (int(grid),)
        self.block = (int(block),)
        self.args = check_args(kernel, params, args, is_array)
        self._slot = {p.name: (i, p.dtype.type) for i, p in enumerate(params) if not p.pointer}

    def __call__(self, **scalars):
        if self.grid[0] == 0:
            return
        a = self.args
        for name, v in scalars.items():
            i, t = self._slot[name]
            a[i] = t(v)
        self.run(self.grid, self.block, a)


def make_device(rank=0):
    """The device of this process: the GPU of its local rank, or the test factory's."""
    if DEVICE_FACTORY is not None:
        return DEVICE_FACTORY(rank)
    from ._cupy import CupyDevice

    return CupyDevice(rank)


def check_available():
    """Raise :class:`BackendError` (one line naming what is missing) without a GPU."""
    if DEVICE_FACTORY is not None:
        return
    from ._cupy import require

    require()


def _i64(x):
    return np.ascontiguousarray(x, np.int64)


def _lists_by_target(target):
    """Synapses grouped by target, synapse order kept within a target.

    Returns
    -------
    order : ndarray of int64
        Synapse indices, target by target.
    targets : ndarray of int64, shape (T,)
        The distinct targets, ascending.
    ptr : ndarray of int64, shape (T + 1,)
        ``order[ptr[t]:ptr[t + 1]]`` are the synapses of ``targets[t]``.
    """
    target = np.asarray(target, np.int64)
    order = np.argsort(target, kind="stable").astype(np.int64)
    st = target[order]
    targets, first = np.unique(st, return_index=True)
    ptr = np.append(first, len(st)).astype(np.int64)
    return order, targets.astype(np.int64), ptr


class CupyBackend(HostBackend):
    """Spiking networks on a GPU (see the module docstring)."""

    name = "cupy"

    @classmethod
    def check_available(cls):
        check_available()

    def __init__(self, built, record_plan):
        if getattr(built, "plastic", None):
            raise BackendError(
                "backend 'cupy' does not run plastic synapses (stdp_synapse, "
                "tsodyks_synapse) yet: use --backend numba"
            )
        super().__init__(built, record_plan)

    # ------------------------------------------------------------------ setup

    def setup(self):
        b = self.built
        self.dev = dev = make_device(b.rank)
        self.xp = xp = dev.xp
        self.kern = dev.module("spiking.cu")
        self.cols = defines(read_source("spiking.cu"))
        up = dev.to_device
        N = self.N
        self.d_V = up(np.ascontiguousarray(self.V, np.float64))
        self.d_syn = up(np.ascontiguousarray(self.syn, np.float64))
        self.d_refr = up(np.ascontiguousarray(self.refr, np.int32))
        self.d_ring = up(np.ascontiguousarray(self.ring_flat, np.float64))
        self.d_istim = xp.zeros(N, np.float64)
        self.d_prow = up(np.ascontiguousarray(b.prow, np.int32))
        self.d_gid = up(_i64(self.neuron_gid))
        self._upload_params()
        # per step: each neuron block's spikes (k_neurons), joined by k_gather
        self.coop = int(COOP_BLOCK)
        self.n_nb = grid_for(N, self.coop)
        self.d_bcnt = xp.zeros(self.n_nb, np.int32)
        self.d_bspk = xp.zeros(self.n_nb * self.coop, np.int64)
        # spikes of the current chunk, sorted by (step, gid)
        self.cap = 0
        self.d_counter = xp.zeros(1, np.int64)
        self._grow(max(4 * N, 1 << 16), 0)
        #: steps between the host's reads of the spike count (the buffer holds N per step)
        self.sync_every = max(1, min(200, (1 << 24) // max(N, 1)))
        # recurrent CSR by source, each row sorted by target; weights and delays in
        # their stored types
        self.n_gids = int(b.n_gids)
        self.n_src = len(b.src_gids)
        self.d_src = up(_i64(b.src_gids))
        row_of = np.full(self.n_gids, -1, np.int32)
        row_of[_i64(b.src_gids)] = np.arange(self.n_src, dtype=np.int32)
        self.d_row_of = up(row_of)
        self.d_row_ptr = up(_i64(b.row_ptr))
        w = np.asarray(b.weight)
        self.w64 = int(w.dtype == np.float64)
        d = np.asarray(b.delay)
        if d.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"recurrent delays of dtype {d.dtype} (uint8 or uint16 expected)")
        self.d16 = int(d.dtype == np.uint16)
        self.d_target, self.d_weight, self.d_delay = self._csr_by_target(
            np.ascontiguousarray(b.target, np.int32),
            np.ascontiguousarray(w, np.float64 if self.w64 else np.float32),
            np.ascontiguousarray(d),
        )
        if self.L * self.NR >= (1 << 62):
            raise ValueError("ring buffer too large for 64-bit delivery keys")
        self._setup_segments()
        # spike generators (their events are spikes of known steps)
        self._sg_steps = _i64(b.sg_steps)
        self._sg_gids = _i64(b.sg_gids)
        self.d_sg_gids = up(self._sg_gids)
        per_step = np.unique(self._sg_steps, return_counts=True)[1]
        most = int(per_step.max()) if len(per_step) else 0
        # the step's list for k_deliver_step: spikes and generator events, with rows
        self.d_list_gid = xp.zeros(N + most, np.int64)
        self.d_list_row = xp.zeros(N + most, np.int64)
        self.d_list_n = xp.zeros(1, np.int64)
        gid = np.asarray(self.neuron_gid)
        if len(gid) > 1 and not (np.diff(gid) > 0).all():
            raise ValueError("local neuron gids must ascend (k_gather relies on it)")
        self._setup_poisson()
        self._setup_currents()
        rec = self.rec
        self.d_rec_nidx = up(_i64(rec.nidx))
        self.d_rec_row = up(_i64(rec.row))
        self.d_rec_every = up(_i64(rec.every))
        self._rec_every = np.unique(rec.every) if rec.n_entries else np.zeros(0, np.int64)
        self.d_rec_buf = xp.zeros((0, rec.n_entries), np.float64)

    def _upload_params(self):
        """Propagator rows as two tables: doubles ``P [row, NPAR]``, ints ``Q [row, NQ]``
        (columns: ``spiking.cu``'s defines)."""
        c, p = self.cols, self.prop
        rows = len(p["P_VV"])
        P = np.zeros((rows, c["NPAR"]))
        for name, col in (
            ("E_L", "P_EL"),
            ("I_e", "P_IE"),
            ("P_VV", "P_VV"),
            ("P_VI", "P_VI"),
            ("V_min", "P_VMIN"),
            ("V_th", "P_VTH"),
            ("V_reset", "P_VRESET"),
            ("g_L", "P_GL"),
            ("C_m", "P_CM"),
        ):
            P[:, c[col]] = p[name]
        S, C = c["S_MAX"], c["C_MAX"]
        P[:, c["P_GAIN"] : c["P_GAIN"] + 2] = p["rec_gain"]
        P[:, c["P_EREV"] : c["P_EREV"] + C] = p["E_rev"]
        P[:, c["P_PV"] : c["P_PV"] + S] = p["P_Vsyn"]
        P[:, c["P_PS"] : c["P_PS"] + S * S] = p["P_syn"].reshape(rows, S * S)
        P[:, c["P_GA"] : c["P_GA"] + C * S] = p["G_avg"].reshape(rows, C * S)
        Q = np.zeros((rows, c["NQ"]), np.int32)
        Q[:, c["Q_MEMBRANE"]] = p["membrane"]
        Q[:, c["Q_REC"] : c["Q_REC"] + 2] = p["rec_state"]
        Q[:, c["Q_REF"]] = p["ref_ticks"]
        self.d_P = self.dev.to_device(P)
        self.d_Q = self.dev.to_device(Q)

    def _setup_poisson(self):
        b, pi, up = self.built, self.pois, self.dev.to_device
        order, targets, ptr = _lists_by_target(b.pois_target)
        self.n_pois_t = len(targets)
        self.d_p_ptr = up(ptr)
        self.d_p_tgt = up(targets)
        self.d_p_delay = up(np.ascontiguousarray(b.pois_delay[order], np.int32))
        self.d_p_gen = up(np.ascontiguousarray(b.pois_gen[order], np.int32))
        self.d_p_key = up(np.ascontiguousarray(b.pois_key[order], np.uint64))
        # float32 weights widened exactly: count * w is the reference's product
        self.d_p_weight = up(np.ascontiguousarray(b.pois_weight[order], np.float64))
        self.d_p_cdf = up(np.ascontiguousarray(pi.cdf, np.float64))
        self.p_K = int(pi.cdf.shape[1])
        self.d_p_parts = up(_i64(pi.parts))
        self.d_p_start = up(_i64(pi.start))
        self.d_p_stop = up(_i64(pi.stop))

    def _setup_currents(self):
        b, ci, up = self.built, self.cur, self.dev.to_device
        order, targets, ptr = _lists_by_target(b.cur_target)
        self.n_cur_t = len(targets)
        self.d_c_ptr = up(ptr)
        self.d_c_tgt = up(targets)
        self.d_c_delay = up(np.ascontiguousarray(b.cur_delay[order], np.int32))
        self.d_c_chan = up(np.ascontiguousarray(ci.channel[order], np.int32))
        self.d_c_weight = up(np.ascontiguousarray(b.cur_weight[order], np.float64))

    def refresh_propagators(self):
        self._upload_params()

    def _setup_segments(self):
        """``seg [row, g]`` (int32): where each CSR row's part for the ring targets of
        k_deliver_step's block ``g`` starts, from the row's start.  A block owns
        ``self.tb`` targets: DELIVER_TARGETS, doubled until the table fits in
        SEGMENT_BYTES (or one block owns them all)."""
        self.tb = int(DELIVER_TARGETS)
        n_rows = self.n_src
        while self.tb < self.NR and n_rows * (grid_for(self.NR, self.tb) + 1) * 4 > SEGMENT_BYTES:
            self.tb *= 2
        self.n_tb = grid_for(self.NR, self.tb)
        self.g1 = self.n_tb + 1
        self.d_seg = self.xp.zeros(max(n_rows * self.g1, 1), np.int32)
        if n_rows:
            lens = np.diff(_i64(self.built.row_ptr))
            if len(lens) and lens.max() >= (1 << 31):
                raise ValueError("a CSR row longer than 2**31 synapses")
            n = n_rows * self.g1
            self.kern.launch(
                "k_seg", n, n, self.g1, self.tb, self.d_row_ptr, self.d_target, self.d_seg
            )

    def _csr_by_target(self, target, weight, delay):
        """Device copies of the CSR arrays with each row sorted by target, synapses of
        one target kept in CSR order (k_deliver_step finds a row's part in a range of
        targets by bisection; the slots' order of additions is unchanged)."""
        up, xp = self.dev.to_device, self.xp
        row_ptr = _i64(self.built.row_ptr)
        nnz = int(row_ptr[-1]) if len(row_ptr) else 0
        if nnz == 0:
            return up(target), up(weight), up(delay)
        n_rows = len(row_ptr) - 1
        pos_bits = int(np.diff(row_ptr).max()).bit_length()
        if (n_rows * self.NR) < (1 << (62 - pos_bits)):
            # unique keys (row, target, position in row): any sort gives one order
            d_t = up(target)
            j = xp.arange(nnz, dtype=np.int64)
            row = xp.searchsorted(self.d_row_ptr, j, side="right") - 1
            key = ((row * np.int64(self.NR) + d_t.astype(np.int64)) << np.int64(pos_bits)) | (
                j - self.d_row_ptr[row]
            )
            del j, row
            order = xp.argsort(key)
            del key
            return d_t[order], up(weight)[order], up(delay)[order]
        row = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(row_ptr))
        order = np.lexsort((np.arange(nnz), target, row))
        return up(target[order]), up(weight[order]), up(delay[order])

    def _grow(self, need, keep):
        """Spike buffers of at least ``need`` entries, keeping the first ``keep``."""
        if need <= self.cap:
            return
        xp = self.xp
        cap = max(int(need), 2 * self.cap)
        st = xp.zeros(cap, np.int64)
        gi = xp.zeros(cap, np.int64)
        if keep:
            st[:keep] = self.d_sp_step[:keep]
            gi[:keep] = self.d_sp_gid[:keep]
        self.d_sp_step, self.d_sp_gid, self.cap = st, gi, cap

    # ------------------------------------------------------------------ running

    def run_steps(self, k0, nsteps, amp, amp_base, rec, deliver=True):
        """Advance steps ``[k0, k0 + nsteps)`` on the device.

        Parameters
        ----------
        k0, nsteps : int
        amp : ndarray, shape (n_channels, nsteps + max_delay), float64 (pA)
            Current-generator amplitudes (:meth:`CurrentInputs.table`), copied to the
            device when the network has current synapses.
        amp_base : int
            Generator step of ``amp``'s column 0.
        rec : RecordPlan
            Its host buffer receives this chunk's samples (one copy per chunk).
        deliver : bool
            Deliver each step's spikes (and the spike generators' events) after the
            step; False: the caller delivers them (:meth:`deliver`, across ranks).

        Returns
        -------
        spike_steps, spike_gids : ndarray of int64, shape (n_spikes,)
            Spikes of local neurons and spike generators, sorted by step then gid.
        n : int
            ``nsteps`` (the spike buffer grows instead of stopping early).
        """
        xp, dev, N = self.xp, self.dev, self.N
        if self.n_cur_t:
            self.d_amp = dev.to_device(np.ascontiguousarray(amp, np.float64))
            self.amp_base, self.amp_width = int(amp_base), int(amp.shape[1])
        n_e = rec.n_entries
        if n_e and self.d_rec_buf.shape[0] < nsteps:
            self.d_rec_buf = xp.zeros((nsteps, n_e), np.float64)
        end = k0 + nsteps
        # the generator events of step k are _sg_steps[sg[k - k0]:sg[k - k0 + 1]]
        sg = np.searchsorted(self._sg_steps, np.arange(k0, end + 1)).tolist()
        self.d_counter[...] = 0
        n_sp = 0
        k = k0
        self._bound = None
        while k < end:
            m = min(self.sync_every, end - k)
            self._grow(n_sp + m * N, n_sp)
            if self._bound != (self.cap, k0):
                self._bind(k0)
            for kk in range(k, k + m):
                self._step(kk, sg[kk - k0], sg[kk - k0 + 1], deliver)
            n_sp = int(dev.to_host(self.d_counter)[0])
            k += m
        steps = dev.to_host(self.d_sp_step[:n_sp])
        gids = dev.to_host(self.d_sp_gid[:n_sp])
        a, z = sg[0], sg[-1]
        if z > a:
            steps = np.concatenate([steps, self._sg_steps[a:z]])
            gids = np.concatenate([gids, self._sg_gids[a:z]])
            order = np.lexsort((gids, steps))
            steps, gids = steps[order], gids[order]
        if n_e:
            rows = max(((k0 + nsteps) // g[3] - k0 // g[3] for g in rec.groups), default=0)
            if rows:
                rec.buf[:rows] = dev.to_host(self.d_rec_buf[:rows])
        self._pull_neurons()
        return steps, gids, nsteps

    def _bind(self, k0):
        """The step's launches with their arguments checked once (for the chunk from
        ``k0``; again whenever a buffer they name is replaced)."""
        K, coop = self.kern, self.coop
        self._launch = L = {}
        if self.n_pois_t:
            L["poisson"] = K.bind(
                "k_poisson",
                grid_for(self.n_pois_t),
                BLOCK,
                self.n_pois_t,
                0,
                0,
                self.d_p_ptr,
                self.d_p_tgt,
                self.d_p_delay,
                self.d_p_gen,
                self.d_p_key,
                self.d_p_weight,
                self.d_p_cdf,
                self.p_K,
                self.d_p_parts,
                self.d_p_start,
                self.d_p_stop,
                self.d_ring,
            )
        if self.n_cur_t:
            L["currents"] = K.bind(
                "k_currents",
                grid_for(self.n_cur_t),
                BLOCK,
                self.n_cur_t,
                0,
                self.amp_base,
                self.amp_width,
                self.d_c_ptr,
                self.d_c_tgt,
                self.d_c_delay,
                self.d_c_chan,
                self.d_c_weight,
                self.d_amp,
                self.d_istim,
            )
        L["neurons"] = K.bind(
            "k_neurons",
            self.n_nb,
            coop,
            self.N,
            0,
            0,
            self.dt,
            self.d_V,
            self.d_syn,
            self.d_refr,
            self.d_ring,
            self.d_istim,
            self.d_prow,
            self.d_P,
            self.d_Q,
            self.d_bcnt,
            self.d_bspk,
        )
        L["gather"] = K.bind(
            "k_gather",
            1,
            coop,
            self.n_nb,
            coop,
            self.d_bcnt,
            self.d_bspk,
            self.d_gid,
            0,
            self.d_sg_gids,
            0,
            0,
            self.d_row_of,
            self.d_counter,
            self.d_sp_step,
            self.d_sp_gid,
            self.d_list_gid,
            self.d_list_row,
            self.d_list_n,
        )
        if self.n_src:
            L["deliver"] = K.bind(
                "k_deliver_step",
                self.n_tb,
                coop,
                0,
                self.L,
                self.NR,
                self.tb,
                self.g1,
                self.d_list_n,
                self.d_list_row,
                self.d_row_ptr,
                self.d_seg,
                self.d_target,
                self.d_weight,
                self.w64,
                self.d_delay,
                self.d16,
                self.d_ring,
            )
        n_e = self.rec.n_entries
        if n_e:
            L["record"] = K.bind(
                "k_record",
                grid_for(n_e),
                BLOCK,
                n_e,
                0,
                k0,
                self.d_rec_nidx,
                self.d_rec_row,
                self.d_rec_every,
                self.d_V,
                self.d_syn,
                self.N,
                self.d_rec_buf,
            )
        self._bound = (self.cap, k0)

    def _step(self, k, sa, sz, deliver):
        """Launch the kernels of step ``k``; ``sa:sz`` are the spike generators' events
        of the step."""
        L = self._launch
        base = (k % self.L) * self.NR
        if self.n_pois_t:
            L["poisson"](k=k, base=base)
        if self.n_cur_t:
            L["currents"](k=k)
        L["neurons"](k=k, base=base)
        L["gather"](k=k, sa=sa, sz=sz)
        if deliver and self.n_src:
            L["deliver"](k=k)
        if len(self._rec_every) and ((k + 1) % self._rec_every == 0).any():
            L["record"](k=k)

    def _deliver_codes(self, codes, kb):
        """Deliver spikes into the ring buffer in the CPU's order of additions.

        Parameters
        ----------
        codes : device array of int64, shape (n,)
            One per spike, ``(step - kb) * n_gids + gid``, any order (sorted here).
        kb : int
            The step the codes count from.
        """
        xp, K = self.xp, self.kern
        ns = int(codes.shape[0])
        if not ns or not self.n_src:
            return
        codes = xp.sort(codes)
        rows = xp.empty(ns, np.int64)
        lens = xp.empty(ns, np.int64)
        K.launch(
            "k_deliver_rows",
            ns,
            ns,
            codes,
            self.n_gids,
            self.d_src,
            self.n_src,
            self.d_row_ptr,
            rows,
            lens,
        )
        ends = xp.cumsum(lens)
        M = int(self.dev.to_host(ends[-1:])[0])
        if not M:
            return
        if self.L * self.NR * M >= (1 << 63):
            raise ValueError("too many synapses in one delivery for 64-bit keys")
        keys = xp.empty(M, np.int64)
        vals = xp.empty(M, np.float64)
        K.launch(
            "k_deliver_expand",
            M,
            M,
            ns,
            codes,
            kb,
            self.n_gids,
            rows,
            ends,
            self.d_row_ptr,
            self.d_target,
            self.d_weight,
            self.w64,
            self.d_delay,
            self.d16,
            self.L,
            self.NR,
            keys,
            vals,
        )
        keys = xp.sort(keys)
        K.launch("k_deliver_add", M, M, keys, vals, self.d_ring)

    def deliver(self, steps, gids):
        """Deliver gathered spikes (every rank's, sorted by step then gid).

        Parameters
        ----------
        steps, gids : ndarray of int64, shape (n,)
            Host arrays; gids without synapses on this rank are skipped.
        """
        steps = _i64(steps)
        if not len(steps):
            return
        kb = int(steps.min())
        codes = (steps - kb) * np.int64(self.n_gids) + _i64(gids)
        self._deliver_codes(self.dev.to_device(codes), kb)

    # ------------------------------------------------------------------ host copies

    def _pull_neurons(self):
        """V, syn and refr to the host (the simulation loop reads them every chunk)."""
        h = self.dev.to_host
        self.V[:] = h(self.d_V)
        self.syn[:] = h(self.d_syn)
        self.refr[:] = h(self.d_refr)

    def sync_to_host(self):
        self._pull_neurons()
        self.ring_flat[:] = self.dev.to_host(self.d_ring)

    def sync_to_device(self):
        up = self.dev.to_device
        self.d_V = up(np.ascontiguousarray(self.V, np.float64))
        self.d_syn = up(np.ascontiguousarray(self.syn, np.float64))
        self.d_refr = up(np.ascontiguousarray(self.refr, np.int32))
        self.d_ring = up(np.ascontiguousarray(self.ring_flat, np.float64))
