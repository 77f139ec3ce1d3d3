"""The simulation loop: build, then advance in chunks, recording after each chunk.

It knows backends only through :class:`neurosim.backends.base.HostBackend`, the
recording only through :class:`neurosim.io.hdf5.Writer`, and other ranks only through
the communicator of :mod:`neurosim.parallel.comm`.  ``run`` may be called repeatedly
(NEST's repeated Simulate, Brian2's run loops); parameters and state can be changed
between segments with :meth:`Simulation.set`.

Under ``mpiexec -n R`` each rank builds and advances its block of every population
(:mod:`neurosim.parallel.partition`), runs at most ``min_delay`` steps, then gathers
every rank's spikes of those steps (one Allgatherv) and delivers them in (step, gid)
order, the order one process uses, so that the spikes are the same bits on any number
of ranks.  Each rank records to a file of its own; at the end of every ``run`` rank 0
merges them into the output (spikes merged, reports as virtual datasets).
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from . import __version__
from .backends import get_backend
from .backends.base import RecordPlan
from .models import get_model
from .network.build import build
from .network.spec import NetworkSpec, SpecError, load
from .parallel.comm import get_comm
from .parallel.partition import Partition
from .units import UnitError, dimension_of_unit, parse_quantity

#: Steps of the first chunk.  Chunks then grow (doubling, up to MAX_CHUNK_STEPS) while
#: one takes less than CHUNK_SECONDS of wall time, so Python and the recording stay off
#: the hot path of small, fast networks; the recording buffer bounds them too.
CHUNK_STEPS = 500
MAX_CHUNK_STEPS = 20000
CHUNK_SECONDS = 0.05
#: Recorded samples held per chunk at most (values), bounding the recording buffer.
MAX_CHUNK_SAMPLES = 1 << 22


class Simulation:
    """One network, one backend, one recording.

    Parameters
    ----------
    network : NetworkSpec or str
        A spec from :func:`neurosim.load`, or the path of a network file.
    output : str, optional
        HDF5 recording to write; without one, spikes are kept in memory
        (:meth:`spikes`).
    backend : str
        ``"numba"`` (default, compiled CPU) or ``"numpy"`` (reference).
    overwrite : bool
        Replace an existing output file.
    seed : int, optional
        Overrides the network file's seed.
    progress : bool
        Show a progress bar (simulated time, real-time factor, ETA).
    """

    def __init__(
        self, network, output=None, backend="numba", overwrite=False, seed=None, progress=False
    ):
        from .io.hdf5 import Writer, check_output

        spec = load(network) if not isinstance(network, NetworkSpec) else network
        if seed is not None:
            spec.seed = int(seed)
        self.spec = spec
        self.dt = spec.dt
        self.comm = comm = get_comm()
        self.part = Partition(comm.rank, comm.size)
        backend_cls = get_backend(backend, spec.kind)
        self.rank_output = None
        if output is not None:
            if comm.size > 1:
                from .io.hdf5 import rank_file

                self.rank_output = rank_file(output, comm.rank)
            # every rank checks; all fail together with rank 0's message
            _agree(comm, lambda: check_output(output, overwrite))
            if self.rank_output is not None:
                _agree(comm, lambda: check_output(self.rank_output, overwrite))
        t0 = time.perf_counter()
        if spec.kind == "ltc":
            from .backends.ltc_numpy import ltc_record_plan
            from .ltc.build import build_ltc

            if comm.size > 1:
                self.built, self.plan = _agree(comm, lambda: _build_ltc_rank(spec, comm))
            else:
                self.built = build_ltc(spec)
                self.plan = ltc_record_plan(self.built, spec.record_state)
        else:
            self.built = _agree(comm, lambda: build(spec, part=self.part))
            if comm.size > 1:
                _global_delays(comm, self.built)
            self.plan = RecordPlan(self.built, spec.record_state)
        self.build_time = time.perf_counter() - t0
        if spec.kind == "ltc" and comm.size > 1:
            from .backends.ltc_mpi import LtcMpiBackend

            if backend != "numba":
                raise SpecError("--backend", backend, "graded networks on ranks need numba")
            self.backend = _agree(comm, lambda: LtcMpiBackend(self.built, self.plan, comm))
        else:
            self.backend = backend_cls(self.built, self.plan)
        self.backend_name = backend
        self.progress = progress and comm.rank == 0
        self.step = 0
        self.sim_time = 0.0
        lay = self.built.layouts
        self._spike_pops = [p for p in spec.record_spikes if p in lay]
        self._gid0 = np.array([lay[p].gid0 for p in self._spike_pops], np.int64)
        self._gid1 = np.array([lay[p].gid0 + lay[p].size for p in self._spike_pops], np.int64)
        self.spike_counts = {p: 0 for p in self._spike_pops}
        self._memory = {p: ([], []) for p in self._spike_pops} if output is None else None
        self.output = output
        self.writer = None
        self.exchanged_spikes = 0
        self.exchanges = 0
        if output is not None:
            self.writer = _agree(
                comm,
                lambda: Writer(
                    self.rank_output or output,
                    spec,
                    backend,
                    self._spike_pops,
                    self.plan,
                    self._units,
                    __version__,
                    rank=comm.rank,
                    ranks=comm.size,
                ),
            )

    def _units(self, pop, var):
        if self.spec.kind == "ltc":
            from .models import cfc, ltc_neuron

            return (cfc if var == "h" else ltc_neuron).STATE[var].unit  # h: cfc populations
        return get_model(self.spec.populations[pop].model).state[var].unit

    # ----------------------------------------------------------------------- running

    def run(self, duration=None):
        """Advance by ``duration`` (a time: ``"500 ms"``, or ms as a number).

        Defaults to the network file's ``simulation.duration``.  Durations are rounded
        to whole steps.
        """
        if duration is None:
            duration = self.spec.duration
        try:
            ms = parse_quantity(duration, "time")
        except UnitError as exc:
            raise ValueError(f"duration: {exc}") from None
        if not (ms >= 0 and math.isfinite(ms)):
            raise ValueError(f"duration: expected a time >= 0, got {duration!r}")
        nsteps = int(round(ms / self.dt))
        bar = self._bar(nsteps)
        if self.writer:
            self.writer.begin_segment()
        ok = False
        t_wall = time.perf_counter()
        parallel = self.comm.size > 1 and self.spec.kind != "ltc"
        try:
            if parallel:
                try:
                    self._run_parallel(nsteps, bar, t_wall)
                except Exception as exc:
                    # the other ranks wait in the next exchange: end the whole job
                    import sys

                    if self.writer:
                        self.writer.end_segment(complete=False)
                    print(f"neurosim: error on rank {self.comm.rank}: {exc}", file=sys.stderr)
                    self.comm.abort(3)
                ok = True
                return self
            left = nsteps
            chunk = CHUNK_STEPS
            cap = max(1, MAX_CHUNK_SAMPLES // max(1, self.plan.n_entries))
            while left > 0:
                k0 = self.step
                t_chunk = time.perf_counter()
                ks, gids, done = self.backend.run(k0, min(chunk, left, cap))
                if time.perf_counter() - t_chunk < CHUNK_SECONDS and done == min(chunk, left, cap):
                    chunk = min(2 * chunk, MAX_CHUNK_STEPS)
                self.step += done
                left -= done
                self.sim_time = self.step * self.dt
                self._store(ks, gids, self.plan.chunk_samples(k0, done))
                self._check_finite()
                if bar is not None:
                    bar.update(done * self.dt)
                    el = time.perf_counter() - t_wall
                    bar.set_postfix_str(
                        f"RTF {el / max(1e-9, (nsteps - left) * self.dt * 1e-3):.3g}"
                    )
            ok = True
        finally:
            if bar is not None:
                bar.close()
            if self.writer:
                self.writer.end_segment(complete=ok)
            self.last_run_wall = time.perf_counter() - t_wall
            if ok and self.comm.size > 1 and self.writer:
                self._merge()
        return self

    def _run_parallel(self, nsteps, bar, t_wall):
        """Advance ``nsteps`` across ranks: at most ``min_delay`` steps, then exchange.

        A spike of step ``k`` reaches its targets no earlier than ``k + min_delay``, so
        the spikes of ``[k0, k0 + m)`` with ``m <= min_delay`` can be gathered after
        step ``k0 + m - 1`` and still arrive in time, wherever the steps started.
        """
        comm, be = self.comm, self.backend
        n_gids = np.int64(self.built.n_gids)
        interval = max(1, int(self.built.min_delay))
        cap = max(1, MAX_CHUNK_SAMPLES // max(1, self.plan.n_entries))
        left = nsteps
        while left > 0:
            k0 = self.step
            m = min(interval, left, cap)
            codes = []
            done = 0
            while done < m:
                # a backend may stop early when its spike buffer fills: finish the
                # interval before exchanging (every rank exchanges the same steps)
                ks, gids, d = be.run(k0 + done, m - done, deliver=False)
                self.step = k0 + done + d
                self.sim_time = self.step * self.dt
                self._store(ks, gids, self.plan.chunk_samples(k0 + done, d))
                codes.append((ks - k0) * n_gids + gids)
                done += d
            local = np.concatenate(codes) if len(codes) > 1 else codes[0]
            every, _ = comm.allgather_int64(local)
            every.sort()
            be.deliver(k0 + every // n_gids, every % n_gids)
            self.exchanged_spikes += len(every)
            self.exchanges += 1
            left -= m
            self._check_finite()
            if bar is not None:
                bar.update(m * self.dt)
                el = time.perf_counter() - t_wall
                bar.set_postfix_str(f"RTF {el / max(1e-9, (nsteps - left) * self.dt * 1e-3):.3g}")

    def _check_finite(self):
        """Stop with population, neuron, variable and time at a NaN or Inf in the state."""
        if self.spec.kind == "ltc":
            return
        be = self.backend
        if np.isfinite(be.V).all() and np.isfinite(be.syn).all():
            return
        bad_v = ~np.isfinite(be.V)
        var, n = ("V_m", int(np.argmax(bad_v))) if bad_v.any() else (None, None)
        if var is None:
            r, n = np.argwhere(~np.isfinite(be.syn))[0]
            n = int(n)
        for lay in self.built.layouts.values():
            if lay.kind == "neuron" and lay.n0 <= n < lay.n0 + lay.count:
                if var is None:
                    var = get_model(lay.model).syn_state[int(r)]
                if self.writer:
                    self.writer.flush()
                raise FloatingPointError(
                    f"{lay.name}: neuron {lay.lo + n - lay.n0}, variable {var} is not finite "
                    f"at t = {self.sim_time:g} ms (recording kept up to there)"
                )

    def _merge(self):
        """Rank 0 merges the rank files into the output; the others wait for it."""
        from .io.hdf5 import merge_ranks

        comm = self.comm
        comm.barrier()
        if comm.rank == 0:
            sizes = {p.name: p.size for p in self.spec.populations.values()}
            range_of = None
            if self.spec.kind == "ltc":
                from .parallel.ltc_exchange import ltc_range as range_of
            merge_ranks(self.output, comm.size, sizes, self.plan.all_ids, range_of)
        comm.barrier()

    def _bar(self, nsteps):
        if not self.progress or nsteps == 0:
            return None
        from tqdm import tqdm

        return tqdm(
            total=round(nsteps * self.dt, 6),
            unit="ms",
            unit_scale=False,
            dynamic_ncols=True,
            leave=False,
            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} ms [{elapsed}<{remaining}{postfix}]",
        )

    def _store(self, ks, gids, samples):
        spikes = {}
        if len(self._spike_pops):
            which = np.searchsorted(self._gid0, gids, side="right") - 1
            inside = (which >= 0) & (gids < self._gid1[np.maximum(which, 0)])
            for i, pop in enumerate(self._spike_pops):
                sel = inside & (which == i)
                t = (ks[sel] + 1) * self.dt
                ids = (gids[sel] - self._gid0[i]).astype(np.uint64)
                spikes[pop] = (t, ids)
                self.spike_counts[pop] += int(sel.sum())
                if self._memory is not None:
                    self._memory[pop][0].append(t)
                    self._memory[pop][1].append(ids)
        if self.writer:
            self.writer.append(spikes, samples, self.sim_time)

    # ----------------------------------------------------------------------- access

    def spikes(self, population):
        """Spike times (ms) and local ids recorded so far (without an output file)."""
        if self._memory is None:
            from .io.hdf5 import open_recording

            with open_recording(self.output) as rec:
                return rec.spikes(population)
        t, ids = self._memory[population]
        if not t:
            return np.zeros(0), np.zeros(0, np.int64)
        return np.concatenate(t), np.concatenate(ids).astype(np.int64)

    def get(self, population, variable):
        """Current values of a state variable of every neuron of a population (on every
        rank: the blocks of all ranks in id order)."""
        local = self._get_local(population, variable)
        if self.comm.size == 1:
            return local
        return np.concatenate(self.comm.allgather(local))

    def _get_local(self, population, variable):
        lay = self.built.layouts[population]
        self.backend.sync_to_host()
        sl = slice(lay.n0, lay.n0 + lay.count)
        if self.spec.kind == "ltc" and variable in ("v", "h"):  # h: cfc populations
            # graded networks keep V at full length; a rank owns [n0 + lo, n0 + hi)
            return self.backend.V[lay.n0 + lay.lo : lay.n0 + lay.lo + lay.count].copy()
        model = get_model(lay.model)
        if variable == "V_m":
            return self.backend.V[sl].copy()
        if variable in model.syn_state:
            return self.backend.syn[model.syn_state.index(variable), sl].copy()
        raise KeyError(f"{population}: no state variable {variable!r}")

    def set(self, population, **values):
        """Change parameters or state of a neuron population between segments.

        ``sim.set("E", I_e="50 pA")`` changes a parameter (constants, broadcast to every
        neuron; propagators are recomputed); ``sim.set("E", V_m="-65 mV")`` sets a state.
        """
        spec = self.spec
        if population not in spec.populations or spec.populations[population].kind != "neuron":
            raise SpecError("Simulation.set", population, "expected a neuron population")
        lay = self.built.layouts[population]
        model = get_model(lay.model)
        params = {k: v.copy() for k, v in self.built.params[population].items()}
        new_params = False
        self.backend.sync_to_host()
        for name, value in values.items():
            if name in model.params:
                dim = dimension_of_unit(model.params[name].unit)
                try:
                    x = parse_quantity(value, dim)
                except UnitError as exc:
                    raise SpecError("Simulation.set", f"{population}.{name}", str(exc)) from None
                params[name][:] = x
                new_params = True
            elif name in model.state:
                dim = dimension_of_unit(model.state[name].unit)
                try:
                    x = parse_quantity(value, dim)
                except UnitError as exc:
                    raise SpecError("Simulation.set", f"{population}.{name}", str(exc)) from None
                sl = slice(lay.n0, lay.n0 + lay.count)
                if name == "V_m":
                    self.backend.V[sl] = x
                else:
                    self.backend.syn[model.syn_state.index(name), sl] = x
            else:
                raise SpecError(
                    "Simulation.set",
                    f"{population}.{name}",
                    f"not a parameter or state of {model.name}",
                )
        if new_params:
            self.built.params[population] = params
            self.backend.set_params(population, model, params)
        self.backend.sync_to_device()
        return self

    def close(self):
        """Nothing stays open between segments; kept for symmetry with other simulators."""
        if self.writer:
            self.writer.end_segment(complete=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def summary(self):
        """Per recorded population: spikes and mean rate (Hz) over the simulated time."""
        T = self.sim_time * 1e-3
        out = {}
        counts = self.spike_counts
        if self.comm.size > 1:
            counts = {p: self.comm.allreduce(c) for p, c in counts.items()}
        for pop in self._spike_pops:
            n = self.built.layouts[pop].size
            c = counts[pop]
            out[pop] = {"neurons": n, "spikes": c, "rate_hz": c / (n * T) if T > 0 else 0.0}
        return out


def _agree(comm, fn):
    """Call ``fn`` on every rank; if it raises on any rank, raise on every rank (the
    lowest failing rank's error), so that no rank is left waiting in a collective."""
    err = None
    try:
        out = fn()
    except Exception as exc:  # noqa: BLE001 - re-raised below, on every rank
        err = exc
    if comm.size == 1:
        if err is not None:
            raise err
        return out
    errors = comm.allgather(None if err is None else (type(err).__name__, str(err)))
    for r, e in enumerate(errors):
        if e is not None:
            if err is not None and r == comm.rank:
                raise err
            raise RankError(r, *e)
    return out


class RankError(Exception):
    """An error raised on another rank (re-raised here so that every rank stops)."""

    def __init__(self, rank, kind, message):
        super().__init__(message)
        self.rank, self.kind = rank, kind


def _build_ltc_rank(spec, comm):
    """A graded network's part on this rank: its chunks of every population's targets
    (:func:`neurosim.parallel.ltc_exchange.ltc_range`), and a record plan over them."""
    import dataclasses
    from types import SimpleNamespace

    from .backends.ltc_numpy import ltc_record_plan
    from .ltc.build import build_ltc
    from .parallel.ltc_exchange import ltc_range

    def targets_of(_name, size):
        return np.arange(*ltc_range(size, comm.rank, comm.size), dtype=np.int64)

    b = build_ltc(spec, targets_of=targets_of)
    for lay in b.layouts.values():
        if lay.kind in ("ltc", "cfc"):
            lay.lo, hi = ltc_range(lay.size, comm.rank, comm.size)
            lay.count = hi - lay.lo
    # V is indexed globally here: record from n0 + id (RecordPlan subtracts lo)
    view = SimpleNamespace(
        dt=b.dt,
        layouts={k: dataclasses.replace(v, n0=v.n0 + v.lo) for k, v in b.layouts.items()},
    )
    return b, ltc_record_plan(view, spec.record_state)


def _global_delays(comm, b):
    """The exchange interval and ring length must hold on every rank: the minimum and
    maximum delay over the whole network."""
    big = 1 << 30
    dmin = comm.allreduce(b.min_delay if b.n_synapses else big, "min")
    b.min_delay = 1 if dmin == big else int(dmin)
    b.max_delay = int(comm.allreduce(b.max_delay, "max"))


def default_output(path):
    base = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    return f"{base}.h5"
