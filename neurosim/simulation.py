"""The simulation loop: build, then advance in chunks, recording after each chunk.

It knows backends only through :class:`neurosim.backends.base.HostBackend`, and the
recording only through :class:`neurosim.io.hdf5.Writer`.  ``run`` may be called
repeatedly (NEST's repeated Simulate, Brian2's run loops); parameters and state can
be changed between segments with :meth:`Simulation.set`.
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
        backend_cls = get_backend(backend, spec.kind)
        if output is not None:
            check_output(output, overwrite)
        t0 = time.perf_counter()
        if spec.kind == "ltc":
            from .backends.ltc_numpy import ltc_record_plan
            from .ltc.build import build_ltc

            self.built = build_ltc(spec)
            self.plan = ltc_record_plan(self.built, spec.record_state)
        else:
            self.built = build(spec)
            self.plan = RecordPlan(self.built, spec.record_state)
        self.build_time = time.perf_counter() - t0
        self.backend = backend_cls(self.built, self.plan)
        self.backend_name = backend
        self.progress = progress
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
        if output is not None:
            self.writer = Writer(
                output, spec, backend, self._spike_pops, self.plan, self._units, __version__
            )

    def _units(self, pop, var):
        if self.spec.kind == "ltc":
            from .models.ltc_neuron import STATE

            return STATE[var].unit
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
        try:
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
        return self

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
        """Current values of a state variable of every neuron of a population."""
        lay = self.built.layouts[population]
        self.backend.sync_to_host()
        sl = slice(lay.n0, lay.n0 + lay.size)
        if self.spec.kind == "ltc" and variable == "v":
            return self.backend.V[sl].copy()
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
                sl = slice(lay.n0, lay.n0 + lay.size)
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
        for pop in self._spike_pops:
            n = self.built.layouts[pop].size
            c = self.spike_counts[pop]
            out[pop] = {"neurons": n, "spikes": c, "rate_hz": c / (n * T) if T > 0 else 0.0}
        return out


def default_output(path):
    base = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    return f"{base}.h5"
