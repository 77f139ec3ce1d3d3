"""Memory of a run, estimated from the spec before anything is built.

The estimate is the peak resident memory of one process (one rank under MPI): the
interpreter with its libraries and compiled kernels, plus the arrays the build and the
run hold, counted the way :mod:`neurosim.network.build` and :mod:`neurosim.ltc.build`
store them:

- recurrent synapses (spiking): int32 target + float32 weight + uint8 delay (uint16
  when a delay can reach 256 steps) per synapse; an int64 row pointer and source id per
  presynaptic source with local targets; during the build an int64 count per global id
  and its copy (the cursor of the scatter pass), and one chunk of drawn synapses;
- synapse counts from the rules: ``fixed_indegree`` k N_post, ``pairwise_bernoulli``
  p N_pre N_post, ``all_to_all`` N_pre N_post, ``one_to_one`` N, ``fixed_outdegree``
  k N_pre, ``fixed_total_number`` n, ``from_file`` the file's rows (autapses left out
  where forbidden); a rank holds the synapses onto its block of each population;
- device synapses (Poisson, current): their stored arrays and the whole projection's
  temporaries of the build (device projections are drawn in one piece);
- plastic synapses (:mod:`neurosim.plasticity`): int32 target + uint16 delay + float64
  weight (14 bytes; + float64 ``K+`` for ``stdp_nn_pre_centered_synapse``), per source
  row an int64 id and row pointer and the presynaptic state (2 or 4 float64); per
  postsynaptic neuron of STDP synapses its spike history (32 entries of 16 bytes
  assumed); the build's two passes hold one chunk of drawn synapses (~115 bytes each)
  and a count per source, a projection with weights from a file is drawn whole (~130
  bytes a synapse); writing the final weights at the end of a run sorts them (4 bytes
  a synapse of the largest projection, and blocks of 2**18 at ~70 bytes);
- neurons: state (V, 4 synaptic states, refractory counter) in the build and in the
  backend, propagator rows (one per population, or per neuron when parameters are
  drawn; per neuron on the numpy backend), ring buffer ``(max_delay + 1) x 2 x N``
  float64 (float32 with ``simulation.dtype: float32``, as the backend's state), the
  numba backend's spike buffers;
- recording: the chunk buffer of sampled states (at most ``MAX_CHUNK_SAMPLES``
  values), the samples in flight to the writer, and the current-input tables (every
  noise-generator synapse is a channel of its own, ``chunk + max_delay`` steps long);
- graded (LTC) networks: uint16 tile offset per synapse, float32 (or float64) ``w``
  where it is per synapse, float64 ``E_rev`` / ``gamma`` / ``mu`` where they are; per
  (tile, target) a count (uint16) and, while building, a uint32 cursor; coarse
  pointers; per neuron parameters, values, activation tables and work rows.  The numpy
  LTC backend also holds the per-synapse view (:meth:`LtcBuilt.flat`, ~65 bytes per
  synapse).

The baseline constants were measured here (``benchmarks/memory_estimate.py``: peak RSS
of a run of a network of a few neurons, numba kernels loaded from the disk cache).
The first run on a machine, which compiles the kernels, peaks higher (LLVM).

Available memory is ``MemAvailable`` of ``/proc/meminfo``, lowered to a cgroup's limit
(v2 ``memory.max``, v1 ``memory.limit_in_bytes``) minus its usage, or
``NEUROSIM_MEMORY_AVAILABLE`` (e.g. ``"8 GiB"``) when set; under MPI it is divided by the
ranks on the node (``MPI_LOCALNRANKS``, ``OMPI_COMM_WORLD_LOCAL_SIZE``,
``SLURM_NTASKS_PER_NODE``, else all ranks).
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .timing import delay_steps

MiB = 1 << 20
GiB = 1 << 30

#: Peak RSS of a run of a tiny network (bytes), per engine and backend, measured with
#: benchmarks/memory_estimate.py (Python 3.11, numpy 2.4, numba 0.6x, h5py 3.16; the
#: kernels loaded from numba's cache).
BASELINE = {
    ("spiking", "numba"): 182 * MiB,
    ("spiking", "numpy"): 175 * MiB,  # the build's numba kernels are loaded anyway
    ("ltc", "numba"): 189 * MiB,
    ("ltc", "numpy"): 176 * MiB,
}
#: Added by the plastic kernels (numba's compiled code loaded at the first run),
#: measured as BASELINE.
_PLASTIC_KERNELS = 20 * MiB
#: Added per rank under MPI (mpi4py, MPICH's shared-memory segments).
MPI_BASELINE = 30 * MiB

# the simulation loop's bounds (neurosim.simulation, neurosim.io.hdf5), mirrored to
# avoid importing them
_MAX_CHUNK_SAMPLES = 1 << 22
_MAX_CHUNK_STEPS = 20000
_CHUNK_STEPS = 500
_CHUNK_SECONDS = 0.05
_FLUSH_SECONDS = 0.5
#: Wall time of a step (s), for the chunk length only: per neuron, per Poisson synapse
#: (a draw every step), per recurrent synapse (a spike every few hundred steps), per
#: LTC synapse (every step).  Measured here on brunel2000 and ltc_1m.
_T_NEURON, _T_POISSON, _T_SYNAPSE, _T_LTC_SYNAPSE = 2e-9, 3e-9, 3e-12, 2e-9
#: Synapses per chunk of the connectivity rules (neurosim.network.rules.CHUNK).
_RULE_CHUNK = 1 << 18
#: LTC tiles (neurosim.ltc.build.TILE, CB).
_TILE = 65536
_CB = 128


class MemoryEstimateError(Exception):
    """The estimated memory exceeds what the machine (or rank) has."""


@dataclass
class Estimate:
    """Estimated peak memory of one process (one rank), in bytes.

    Attributes
    ----------
    total : int
        Bytes.
    parts : dict of str -> int
        What it is made of (bytes).
    ranks : int
    synapses : int
        Synapses of this rank (recurrent + device, or chemical + gap directions).
    neurons : int
        Neurons of this rank.
    available : int or None
        Bytes available to this rank (set by :func:`check_fits`).
    source : str
        Where ``available`` comes from.
    """

    total: int
    parts: dict = field(default_factory=dict)
    ranks: int = 1
    synapses: int = 0
    neurons: int = 0
    available: int | None = None
    source: str = ""

    def describe(self, top=4):
        """One line: the total and its largest parts."""
        big = sorted(self.parts.items(), key=lambda kv: -kv[1])[:top]
        per = " per rank" if self.ranks > 1 else ""
        inner = ", ".join(f"{k} {fmt_bytes(v)}" for k, v in big if v > 0)
        return f"about {fmt_bytes(self.total)}{per} ({inner})"


def fmt_bytes(n):
    """``1.23 GiB`` / ``456 MiB``."""
    n = float(n)
    if n >= GiB:
        return f"{n / GiB:.2f} GiB"
    return f"{n / MiB:.0f} MiB"


def _block(size, ranks):
    """Neurons of the largest block (rank 0's) of a population over ``ranks``."""
    return -(-int(size) // max(1, int(ranks)))


def _file_rows(path, base_dir, key="post"):
    """Rows of a connection file (read from the .npy header where possible; 0 when the
    file cannot be read: the build reports that)."""
    if not os.path.isabs(path) and not os.path.exists(path):
        path = os.path.join(base_dir, path)
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npz":
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if n.endswith(".npy")]
                name = f"{key}.npy" if f"{key}.npy" in names else names[0]
                with z.open(name) as fh:
                    major, _ = np.lib.format.read_magic(fh)
                    read = (
                        np.lib.format.read_array_header_1_0
                        if major == 1
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, _ = read(fh)
                    return int(shape[0]) if shape else 1
        if ext == ".csv":
            with open(path, "rb") as fh:
                return max(0, sum(1 for _ in fh) - 1)
        if ext in (".h5", ".hdf5"):
            from ..io.connections import read_table

            cols = read_table(path, path, "from_file")
            return len(next(iter(cols.values()))) if cols else 0
    except Exception:  # noqa: BLE001 - the build names the problem
        return 0
    return 0


def _count(rule, args, n_pre, n_post, autapse_free, base_dir):
    """Expected synapses of a projection onto all ``n_post`` targets."""
    if rule == "fixed_indegree":
        return int(args["k"]) * n_post
    if rule == "pairwise_bernoulli":
        return float(args["p"]) * (n_pre * n_post - (n_post if autapse_free else 0))
    if rule == "all_to_all":
        return n_pre * n_post - (n_post if autapse_free else 0)
    if rule == "one_to_one":
        return n_post
    if rule == "fixed_outdegree":
        return int(args["k"]) * n_pre
    if rule == "fixed_total_number":
        return int(args["n"])
    if rule == "from_file":
        return _file_rows(str(args["path"]), base_dir, args.get("post_column", "post"))
    return 0


def _nbytes(obj, seen=None):
    """Bytes of the numpy arrays inside a spec value (file arrays, cells)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(_nbytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(v, seen) for v in obj)
    if hasattr(obj, "__dict__"):
        return sum(_nbytes(v, seen) for v in vars(obj).values())
    return 0


def _chunk_steps(t_step, steps):
    """Steps per chunk of the run loop: from 500, doubled while a chunk takes less than
    50 ms of wall time (``neurosim.simulation``), for a step of ``t_step`` seconds."""
    rows = _CHUNK_STEPS
    while rows < _MAX_CHUNK_STEPS and rows * t_step < _CHUNK_SECONDS:
        rows *= 2
    return max(1, min(rows, _MAX_CHUNK_STEPS, steps))


def _record(spec, ranks, t_step):
    """Recording buffers: the chunk's sample buffer, its samples in the recorded dtype,
    the samples pending in the writer (flushed every 0.5 s) and their concatenation."""
    n_e = 0
    every = []
    size_of = []
    for rs in spec.record_state:
        n = len(np.asarray(rs.neurons))
        share = min(n, _block(n, ranks)) if ranks > 1 else n
        n_e += share * len(rs.variables)
        every.append(max(1, int(round(rs.interval / spec.dt))))
        size_of.append(np.dtype(rs.dtype).itemsize if rs.dtype else 8)
    if not n_e:
        return 0
    steps = max(1, int(round(spec.duration / spec.dt))) if math.isfinite(spec.duration) else 1
    rows = min(_chunk_steps(t_step, steps), max(1, _MAX_CHUNK_SAMPLES // n_e))
    pending = min(steps, max(rows, _FLUSH_SECONDS / max(t_step, 1e-12)))
    per_step = n_e * max(size_of) / min(every)
    return rows * n_e * 8 + rows * per_step + 2 * pending * per_step


def estimate(spec, ranks=1, backend="numba"):
    """Estimate the peak memory of one rank of a run of ``spec``.

    Parameters
    ----------
    spec : NetworkSpec
    ranks : int
        MPI ranks the run uses (the estimate is per rank: rank 0's block, the largest).
    backend : str
        ``numba`` or ``numpy``.

    Returns
    -------
    Estimate
    """
    ranks = max(1, int(ranks))
    backend = backend if backend in ("numba", "numpy") else "numba"
    if spec.kind == "ltc":
        est = _estimate_ltc(spec, ranks, backend)
    else:
        est = _estimate_spiking(spec, ranks, backend)
    est.parts["interpreter and kernels"] = BASELINE[(spec.kind, backend)] + (
        MPI_BASELINE if ranks > 1 else 0
    )
    est.total = int(sum(est.parts.values()))
    est.ranks = ranks
    return est


def _estimate_spiking(spec, ranks, backend):
    pops = spec.populations
    n_gids = sum(p.size for p in pops.values())
    local = {
        p.name: (_block(p.size, ranks) if p.kind == "neuron" else p.size) for p in pops.values()
    }
    N = sum(local[p.name] for p in pops.values() if p.kind == "neuron")
    dt = spec.dt
    rec_syn = 0.0
    dev_pois = 0.0
    dev_cur = 0.0
    noise_ch = 0.0
    cur_ch = 0
    max_delay = 1
    wide_delay = False
    per_pre = {}
    biggest_chunk = 0
    plastic_b = 0.0  # stored plastic synapses and their source rows
    plastic_build = 0.0  # the largest plastic build's temporaries
    plastic_big = 0.0  # synapses of the largest plastic projection
    stdp_post = set()
    for pr in spec.projections:
        pre, post = pops[pr.pre], pops[pr.post]
        free = pr.pre == pr.post and not pr.allow_autapses
        whole = _count(pr.rule, pr.rule_args, pre.size, post.size, free, spec.base_dir)
        mine = whole * (local[pr.post] / post.size) if post.size else 0.0
        try:
            dmax_ms = pr.delay.max_possible()
        except Exception:  # noqa: BLE001 - unbounded: the build finds out
            dmax_ms = math.inf
        dmax = delay_steps(dmax_ms, dt) if math.isfinite(dmax_ms) else 1 << 16
        if pre.kind == "current":
            dev_cur += mine
            if pre.model == "noise_generator":
                noise_ch += mine
            else:
                cur_ch += pre.size
            max_delay = max(max_delay, min(dmax, 65535))
            biggest_chunk = max(biggest_chunk, mine)
        elif pre.kind == "poisson":
            dev_pois += mine
            max_delay = max(max_delay, min(dmax, 65535))
            biggest_chunk = max(biggest_chunk, mine)
        elif getattr(pr, "synapse", None) is not None:
            syn = pr.synapse
            per_syn = 22 if syn.model == "stdp_nn_pre_centered_synapse" else 14
            rows = pre.size * -math.expm1(-mine / pre.size) if pre.size else 0.0
            plastic_b += mine * per_syn + rows * (16 + (16 if "tau_plus" in syn.params else 32))
            if syn.weight_file is not None:
                build = mine * 130
            else:
                k = pr.rule_args.get("k", 0) if isinstance(pr.rule_args, dict) else 0
                build = min(mine, max(_RULE_CHUNK, k)) * 115 + pre.size * 16
            plastic_build = max(plastic_build, build)
            plastic_big = max(plastic_big, mine)
            if "tau_plus" in syn.params:
                stdp_post.add(pr.post)
            max_delay = max(max_delay, min(dmax, 65535))
        else:
            rec_syn += mine
            per_pre[pr.pre] = per_pre.get(pr.pre, 0.0) + mine
            max_delay = max(max_delay, min(dmax, 65535))
            wide_delay |= dmax >= 256
    # sources with local targets: the expected number of distinct sources hit
    rows = sum(
        pops[p].size * -math.expm1(-s / pops[p].size) for p, s in per_pre.items() if pops[p].size
    )
    L = max_delay + 1
    dsz = 2 if wide_delay else 1
    syn = rec_syn * (4 + 4 + dsz)
    # build: an int64 count per gid and the scatter's cursors, the rules' chunk buffers
    # (np.empty: only the pages a chunk fills are resident), a device projection drawn
    # whole (~150 B per synapse while it is collected)
    chunk = min(_RULE_CHUNK, max(per_pre.values(), default=0.0))
    build_rows = (n_gids + 1) * 8 * 2 + 3 * 8 * chunk * 2 + biggest_chunk * 150
    # after the build: row pointer and source id per source row (numba: + weight flags)
    rows_b = rows * (8 + 8 + 8) + (rows * (1 + 8 + 8) if backend == "numba" else 0)
    devices = dev_pois * (24 + (8 if backend == "numba" else 0)) + dev_cur * 28
    prop_row = 360
    het_rows = 0
    for p in spec.neuron_populations:
        het = any(not v.is_const for v in p.params.values() if hasattr(v, "is_const"))
        het_rows += local[p.name] if het else 1
    built_neurons = N * (8 + 32 + 4 + 4 + 8) + het_rows * prop_row
    if het_rows > len(spec.neuron_populations):
        built_neurons += N * 8 * 12  # per-neuron parameter arrays
    fb = 4 if getattr(spec, "dtype", "float64") == "float32" else 8  # simulation.dtype
    backend_neurons = N * (fb + 4 * fb + 4) + het_rows * prop_row
    if backend == "numpy":
        backend_neurons += N * prop_row + N * 8 * 8  # per-neuron rows, step temporaries
        setup = 0.0
    else:
        backend_neurons += 2 * 8 * max(4 * N, 65536) + N * (8 + 1 + 8)
        setup = rec_syn  # the one-delay test of the delays (a bool per synapse)
    ring = L * 2 * N * fb
    t_step = N * _T_NEURON + dev_pois * _T_POISSON + rec_syn * _T_SYNAPSE
    n_steps = max(1, int(round(spec.duration / dt))) if math.isfinite(spec.duration) else 1
    cur_steps = _chunk_steps(t_step, n_steps) + max_delay
    currents = (noise_ch * 3 + cur_ch) * cur_steps * 8
    recording = _record(spec, ranks, t_step)
    history = sum(local[p] for p in stdp_post) * (33 * 16 + 40)
    common = {"synapses": syn, "device synapses": devices, "neurons": built_neurons}
    if plastic_b:
        common["plastic synapses"] = plastic_b + history
        common["plastic kernels"] = _PLASTIC_KERNELS
    final_w = plastic_big * 4 + min(plastic_big, 1 << 18) * 70 if plastic_big else 0.0
    phases = {
        "build": {"synapse build": build_rows + plastic_build},
        "setup": {"synapse rows": rows_b, "backend": backend_neurons, "ring buffer": ring},
        "run": {
            "synapse rows": rows_b,
            "backend": backend_neurons,
            "ring buffer": ring,
            "recording": recording,
            "current inputs": currents,
            "final weights": final_w,
        },
    }
    phases["setup"]["delay check"] = setup
    parts = _peak(common, phases)
    n_plastic = plastic_b and sum(
        _count(
            pr.rule,
            pr.rule_args,
            pops[pr.pre].size,
            pops[pr.post].size,
            pr.pre == pr.post and not pr.allow_autapses,
            spec.base_dir,
        )
        * local[pr.post]
        / pops[pr.post].size
        for pr in spec.projections
        if getattr(pr, "synapse", None) is not None and pops[pr.post].size
    )
    return Estimate(
        total=0,
        parts=parts,
        synapses=int(rec_syn + dev_pois + dev_cur + (n_plastic or 0)),
        neurons=int(N),
    )


def _peak(common, phases):
    """The parts of the phase with the largest sum (plus what every phase holds)."""
    best = max(phases.values(), key=lambda p: sum(p.values()))
    out = dict(common)
    for k, v in best.items():
        out[k] = out.get(k, 0) + v
    return out


def _ltc_param_kind(v):
    if v is None:
        return "const"
    if hasattr(v, "is_const"):
        return "const" if v.is_const else "draw"
    return "array"  # FileArray


def _estimate_ltc(spec, ranks, backend):
    pops = spec.populations
    N = sum(p.size for p in pops.values() if p.kind in ("ltc", "cfc"))
    K = sum(p.size for p in pops.values() if p.kind == "series")
    parts = {}
    syn = 0.0
    idx = 0.0
    w_syn = 0.0
    w_wide = False
    e_syn = 0.0
    gm_syn = 0.0
    cells = 0.0
    cells_max = 0.0
    crs = 0.0
    gap = 0.0
    tables = 0
    chunk = 0
    for pr in spec.projections:
        pre, post = pops[pr.pre], pops[pr.post]
        free = pr.pre == pr.post and not pr.allow_autapses
        n = _count(pr.rule, pr.rule_args, pre.size, post.size, free, spec.base_dir)
        if pr.synapse != "ltc_synapse":
            gap += n
            continue
        syn += n
        kinds = {k: _ltc_param_kind(pr.params.get(k)) for k in ("w", "gamma", "mu", "E_rev")}
        shared = kinds["gamma"] == "const" and kinds["mu"] == "const"
        fold = shared and kinds["w"] == "const"
        idx += n
        if not fold:
            w_syn += n
            if kinds["w"] == "array" or (kinds["w"] == "draw" and not shared):
                w_wide = True
        if kinds["E_rev"] != "const":
            e_syn += n
        if not shared:
            gm_syn += n
        else:
            tables += pre.size
        nt = max(1, -(-pre.size // _TILE))
        cells += nt * post.size
        cells_max = max(cells_max, nt * post.size)
        crs += nt * (-(-post.size // _CB) + 1)
        chunk = max(chunk, min(n, max(_RULE_CHUNK, n / max(1, post.size))))
    syn_b = idx * 2 + w_syn * (8 if w_wide else 4) + e_syn * 8 + gm_syn * 16
    tiles = cells * 2 + crs * 8  # a count per (tile, target), coarse pointers
    inputs = sum(_nbytes(p.params) for p in pops.values() if p.kind in ("series", "cfc"))
    max_pop = max([p.size for p in pops.values() if p.kind in ("ltc", "cfc")], default=0)
    t_step = N * 5e-9 + syn * _T_LTC_SYNAPSE
    common = {"synapses": syn_b, "synapse tiles": tiles, "inputs and cells": inputs * 2}
    common["neurons"] = N * 5 * 8 + K * 8  # parameters and values of the build
    common["gap junctions"] = gap * 2 * 12 + (N + 1) * 8
    run = {
        "backend": N * (8 + 8 + 8) + 3 * 8 * max_pop + tables * 8,  # X, V, next V, work, S
        "recording": _record(spec, ranks, t_step),
    }
    if backend == "numpy":
        run["synapses (numpy view)"] = syn * (65 + 40)
    phases = {
        # while the largest projection is scattered: its uint32 cursors and a chunk of
        # drawn synapses (sources, targets, ordinals, values); gap junctions drawn whole
        "build": {
            "build cursors": cells_max * 4,
            "build chunk": chunk * (3 * 8 + 4 * 8) * 2,
            "gap junction build": gap * 120,
        },
        "run": run,
    }
    parts = _peak(common, phases)
    return Estimate(total=0, parts=parts, synapses=int(syn + 2 * gap), neurons=int(N))


# ---------------------------------------------------------------------------- available


def _read_int(path):
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    if not text or text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def parse_bytes(text):
    """``"8 GiB"``, ``"512MB"``, ``"1e9"`` -> bytes."""
    m = re.fullmatch(r"\s*([0-9.eE+]+)\s*([KMGT]i?B?|B)?\s*", str(text))
    if not m:
        raise ValueError(f"expected a memory size such as '8 GiB', got {text!r}")
    x = float(m.group(1))
    unit = (m.group(2) or "B").upper().rstrip("B").replace("I", "")
    return int(x * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit])


def available_memory():
    """Memory this machine (or container) can still give, and where the figure is from.

    Returns
    -------
    bytes : int or None
        None when nothing could be read.
    source : str
    """
    env = os.environ.get("NEUROSIM_MEMORY_AVAILABLE")
    if env:
        return parse_bytes(env), "NEUROSIM_MEMORY_AVAILABLE"
    avail, source = None, ""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail, source = int(line.split()[1]) * 1024, "MemAvailable"
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            source = "free physical pages"
        except (ValueError, OSError, AttributeError):
            pass
    for limit_f, usage_f in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        limit = _read_int(limit_f)
        if limit is None or limit >= 1 << 60:
            continue
        left = max(0, limit - (_read_int(usage_f) or 0))
        if avail is None or left < avail:
            avail, source = left, "cgroup memory limit"
        break
    return avail, source


def local_ranks(ranks):
    """Ranks sharing this machine's memory (from the launcher's environment)."""
    for var in ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE"):
        v = os.environ.get(var)
        if v:
            try:
                return max(1, min(int(v.split("(")[0].split(",")[0]), ranks))
            except ValueError:
                pass
    return max(1, ranks)


def check_fits(spec, ranks=1, backend="numba", rank=0):
    """Estimate and compare with the available memory.

    Returns
    -------
    Estimate
        With ``available`` (bytes per rank, or None) and ``source`` set.

    Raises
    ------
    MemoryEstimateError
        The estimate exceeds the memory available to this rank; the message gives
        both and what to change.
    """
    est = estimate(spec, ranks, backend)
    avail, source = available_memory()
    per_rank = None if avail is None else avail // local_ranks(ranks)
    est.available, est.source = per_rank, source
    if per_rank is None or est.total <= per_rank:
        return est
    where = f"{spec.path}: " if spec.path else ""
    shared = f" (1/{local_ranks(ranks)} of {fmt_bytes(avail)})" if local_ranks(ranks) > 1 else ""
    hint = _hint(spec, backend, avail, ranks)
    raise MemoryEstimateError(
        f"{where}needs {est.describe()}, but {fmt_bytes(per_rank)} is available{shared} "
        f"({source}); {hint}"
    )


def _hint(spec, backend, avail, ranks):
    """What to change: ranks on more machines, or a smaller network."""
    for r in (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024):
        if r <= ranks:
            continue
        e = estimate(spec, r, backend)
        if e.total <= avail:
            return (
                f"run it on {r} ranks spread over machines with this much memory each "
                f"(mpiexec -n {r}: {fmt_bytes(e.total)} per rank), or make it smaller "
                "(--set populations.<name>.size=..., fewer synapses per neuron, or a "
                "scale: section)"
            )
    return (
        "make it smaller (--set populations.<name>.size=..., fewer synapses per neuron, "
        "or a scale: section): even 1024 ranks would not hold it"
    )
