"""Host-side state shared by every backend: arrays, ring buffer, device inputs, records.

A backend subclasses :class:`HostBackend` and implements ``run_steps``; the
simulation loop knows backends only through :meth:`HostBackend.run` and the state
accessors.  Nothing here imports numba or cupy.
"""

from __future__ import annotations

import numpy as np

from ..network.build import propagator_rows
from ..network.inputs import CurrentInputs, PoissonInputs, current_on
from ..network.timing import ceil_steps


class RecordPlan:
    """Where recorded state samples go: one column per (variable, neuron) entry.

    The kernel writes the sample of entry ``e`` taken at the end of step ``k``
    (when ``(k + 1) % every[e] == 0``) into ``buf[(k + 1) // every[e] - k0 // every[e]
    - 1, e]``, for a chunk that starts at step ``k0``.

    Parameters
    ----------
    built : Built
    record_specs : list of StateRecordSpec
    """

    def __init__(self, built, record_specs, row_of=None):
        from ..models import get_model

        if row_of is None:

            def row_of(pop, var):
                model = get_model(built.layouts[pop].model)
                return -1 if var == "V_m" else model.syn_state.index(var)

        self.groups = []  # (population, variable, column slice, every, ids, dtype)
        #: per group: samples stamped in steps lo < s <= hi are kept (the entry's start
        #: and stop, NEST's multimeter window)
        self.windows = []
        #: per (population, variable): every recorded id, on all ranks together
        self.all_ids = {}
        nidx, row, every = [], [], []
        for rs in record_specs:
            lay = built.layouts[rs.population]
            k = int(round(rs.interval / built.dt))
            ids = np.asarray(rs.neurons, np.int64)
            # this rank records the neurons it owns (all of them on one process)
            mine = ids[(ids >= lay.lo) & (ids < lay.lo + lay.count)]
            for var in rs.variables:
                r = row_of(rs.population, var)
                c0 = len(nidx)
                nidx.extend((lay.n0 - lay.lo + mine).tolist())
                row.extend([r] * len(mine))
                every.extend([k] * len(mine))
                self.groups.append((rs.population, var, slice(c0, len(nidx)), k, mine, rs.dtype))
                self.windows.append((ceil_steps(rs.start, built.dt), ceil_steps(rs.stop, built.dt)))
                self.all_ids[(rs.population, var)] = ids
        self.nidx = np.asarray(nidx, np.int64)
        self.row = np.asarray(row, np.int64)
        self.every = np.asarray(every, np.int64) if every else np.ones(0, np.int64)
        self.buf = np.zeros((0, len(self.nidx)))
        self.k0 = 0

    @property
    def n_entries(self) -> int:
        return len(self.nidx)

    def begin(self, k0, nsteps):
        """Allocate the buffer for a chunk of ``nsteps`` steps from ``k0``."""
        self.k0 = k0
        rows = nsteps if self.n_entries else 0
        if self.buf.shape[0] < rows:
            self.buf = np.zeros((rows, self.n_entries))

    def sample(self, k, V, syn):
        """Numpy path: take the samples due at the end of step ``k``."""
        if not self.n_entries:
            return
        due = ((k + 1) % self.every) == 0
        if not due.any():
            return
        e = np.nonzero(due)[0]
        r = (k + 1) // self.every[e] - self.k0 // self.every[e] - 1
        vals = np.where(
            self.row[e] < 0, V[self.nidx[e]], syn[np.maximum(self.row[e], 0), self.nidx[e]]
        )
        self.buf[r, e] = vals

    def rows_until(self, step):
        """Per group: how many samples a recording holds after ``step`` steps (the
        multiples of its interval stamped in its window, up to ``step``)."""
        out = []
        for (_p, _v, _c, k, _i, _d), (lo, hi) in zip(self.groups, self.windows, strict=True):
            out.append(max(0, min(hi, step) // k - lo // k))
        return out

    def chunk_samples(self, k0, nsteps):
        """Per group: (population, variable, samples array [t, n], first sample step),
        the samples outside the group's window left out."""
        out = []
        for (pop, var, cols, k, _ids, dtype), (lo, hi) in zip(
            self.groups, self.windows, strict=True
        ):
            n = (k0 + nsteps) // k - k0 // k
            first = (k0 // k + 1) * k - 1
            # row i is stamped (first + 1 + i k) dt; keep lo < stamp <= hi
            stamps = first + 1 + k * np.arange(n)
            i0, i1 = np.searchsorted(stamps, [lo, hi], side="right")
            rows = self.buf[i0:i1, cols].astype(dtype)
            out.append((pop, var, rows, first + i0 * k))
        return out


class HostBackend:
    """State arrays and device inputs of one simulation; subclasses advance them.

    Attributes
    ----------
    V : ndarray, shape (N,)
        Membrane potentials (mV).
    syn : ndarray, shape (S_MAX, N)
        Synaptic states (pA or nS).
    refr : ndarray of int32, shape (N,)
        Remaining refractory steps.
    ring_flat : ndarray, shape (L * 2 * N,)
        Ring buffer of synaptic input, slot ``(k % L) * 2N + receptor * N + neuron``.

    Input reaches ring slot ``k`` in a partition-independent order: the spikes of every
    earlier step by (step, source gid), each row in CSR order (delivered per step on
    one process, per exchange interval across ranks), then, in step ``k`` itself, the
    Poisson counts drawn for their emission step ``k - D`` in synapse order.
    """

    name = "base"

    def __init__(self, built, record_plan):
        b = self.built = built
        self.dt = b.dt
        self.N = b.n_neurons
        #: float type of the state, the ring buffer and the arithmetic of the updates
        #: (``simulation.dtype``; the propagators are computed in float64 and rounded)
        self.fdtype = np.dtype(getattr(b.spec, "dtype", "float64"))
        self.V = b.V.astype(self.fdtype)
        self.syn = b.syn.astype(self.fdtype)
        self.refr = b.refr.copy()
        self.prop = {k: v.copy() for k, v in b.prop.items()}
        self.L = b.max_delay + 1
        self.NR = 2 * self.N
        self.ring_flat = np.zeros(self.L * self.NR, self.fdtype)
        self.neuron_gid = b.neuron_gid
        self.sg_steps, self.sg_gids = b.sg_steps, b.sg_gids
        self.pois = PoissonInputs(b)
        self.cur = CurrentInputs(b)
        self.rec = record_plan
        self.setup()

    def setup(self):
        """Backend-specific preparation (copy arrays to a device, compile ...)."""

    def refresh_propagators(self):
        """Called after propagator rows changed (``Simulation.set``)."""

    def run(self, k0, nsteps, deliver=True):
        """Advance steps ``[k0, k0 + n)`` with ``n <= nsteps``.

        Parameters
        ----------
        deliver : bool
            Deliver the spikes of each step at once (one process).  Across ranks the
            caller gathers every rank's spikes and calls :meth:`deliver` instead, at
            most ``min_delay`` steps later.

        Returns
        -------
        spike_steps, spike_gids : ndarray of int64
            Spikes of local neurons and spike generators, by step then gid.
        n : int
            Steps actually done (a backend may stop early when its spike buffer fills).
        """
        amp, base = self.cur.table(k0, nsteps)
        self.rec.begin(k0, nsteps)
        return self.run_steps(k0, nsteps, amp, base, self.rec, deliver)

    def run_steps(self, k0, nsteps, amp, amp_base, rec, deliver=True):
        raise NotImplementedError

    def deliver(self, steps, gids):
        """Deliver spikes (every rank's, sorted by step then gid) into the ring."""
        raise NotImplementedError

    # -- access ----------------------------------------------------------------------

    def sync_to_host(self):
        """Make ``V``, ``syn``, ``refr`` and ``ring_flat`` current (device backends)."""

    def sync_to_device(self):
        """Push host-side changes of the state arrays (device backends)."""

    # -- checkpoints -----------------------------------------------------------------

    def get_state(self, step):
        """The dynamic state after ``step`` steps, as host copies (for a checkpoint).

        Everything else a backend holds is either built from the network file (the
        CSR, propagators, Poisson tables) or a pure function of the step (Poisson
        draws, dc and step currents, the spike-generator position).

        Parameters
        ----------
        step : int
            Steps done so far; the last call of :meth:`run` ended there (and, across
            ranks, the spikes of every step before it were delivered).

        Returns
        -------
        dict
            ``V`` (N,) (mV); ``syn`` (S_MAX, N) (pA or nS), both of ``fdtype``; ``refr``
            (N,) int32 (remaining refractory steps); ``ring`` (L, 2, N) ``fdtype``, ring
            slot ``s`` of receptor ``r`` (input of the steps ``k`` with ``k % L == s``;
            mV, pA or nS as the receptor's state); ``noise_key`` (M,) uint64, the key of
            each noise-generator synapse (unique, independent of the partition), and
            ``noise_hist`` (M, max_delay) float64 (pA), its Ornstein-Uhlenbeck current
            in generator steps ``[step - max_delay, step)``.
        """
        self.sync_to_host()
        return {
            "V": self.V.copy(),
            "syn": self.syn.copy(),
            "refr": self.refr.copy(),
            "ring": self.ring_flat.reshape(self.L, 2, self.N).copy(),
            "noise_key": self.cur.noise_key.copy(),
            "noise_hist": self._noise_window(step),
        }

    def _noise_window(self, step):
        ci = self.cur
        D = ci.max_delay
        out = np.zeros((len(ci.noise_syn), D))
        if not len(ci.noise_syn):
            return out
        first = ci.noise_next - ci.noise_hist.shape[1]  # generator step of column 0
        for c, n in enumerate(range(step - D, step)):
            if n < 0:
                continue  # before step 0 a noise generator emits nothing
            if not first <= n < ci.noise_next:
                raise RuntimeError(f"noise history lacks generator step {n}")
            out[:, c] = ci.noise_hist[:, n - first]
        return out

    def set_state(self, step, state):
        """Restore what :meth:`get_state` returned (arrays already in local order).

        ``noise_hist`` holds the values of the steps ``[step - max_delay, step)``, so
        the Ornstein-Uhlenbeck state is its last column, and a generator was running
        when it was active in step ``step - 1``.
        """
        self.sync_to_host()
        if state["ring"].shape != (self.L, 2, self.N):
            raise ValueError(
                f"ring buffer of shape {state['ring'].shape}, expected {(self.L, 2, self.N)}"
            )
        self.V[:] = state["V"]
        self.syn[:] = state["syn"]
        self.refr[:] = state["refr"]
        self.ring_flat[:] = np.ascontiguousarray(state["ring"], self.fdtype).reshape(-1)
        ci = self.cur
        hist = np.asarray(state["noise_hist"], np.float64)
        if hist.shape != (len(ci.noise_syn), ci.max_delay):
            raise ValueError(f"noise history of shape {hist.shape}")
        ci.noise_hist = hist.copy()
        ci.noise_next = step
        if len(ci.noise_syn):
            ci.noise_state = hist[:, -1].copy()
            on = np.zeros(len(ci.noise_syn), bool)
            for g in np.unique(ci.noise_gen):
                p = ci.gens[g][1]
                n = step - 1
                on[ci.noise_gen == g] = n >= 0 and current_on(p, n, ci.dt)
            ci.noise_on = on
        self.sync_to_device()

    def set_params(self, pop_name, model, params):
        """Recompute the propagator rows of one population from new parameter arrays."""
        lay = self.built.layouts[pop_name]
        rows = propagator_rows(model, params, self.dt)
        n = len(rows["P_VV"])
        if n != (lay.count if lay.heterogeneous else 1):
            # a population switching between shared and per-neuron parameters
            raise ValueError("cannot change whether parameters are shared per population")
        sl = slice(lay.prop_row0, lay.prop_row0 + n)
        for k, v in rows.items():
            self.prop[k][sl] = v
        self.refresh_propagators()
