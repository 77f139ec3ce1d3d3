"""Per-step input from devices, computed on the host once per chunk for every backend.

Current devices are evaluated into an amplitude table ``amp[channel, n - base]`` over
generator steps ``n`` in ``[k0 - max_delay, k0 + nsteps)``; a current synapse with delay
``D`` reads ``amp[channel, k - D - base]`` in step ``k`` (the current a generator
emits in its step ``n`` acts on the target in step ``n + D``, as a spike emitted in
step ``n`` does).  dc and step-current generators are one channel each; every
noise-generator synapse is a channel of its own (an independent Ornstein-Uhlenbeck
current per target, or with the generator's own ``dt`` NEST's piecewise-constant noise;
NEST's noise_generator gives each target its own noise too).
Normal deviates come from the counter-based streams, so all backends see the same bits.

Timing follows NEST 3 as measured (``tests/reference/make_nest_devices.py``): device
times go to steps as :mod:`neurosim.network.timing` says (off the grid: rounded up); a
current device emits nothing in generator step 0, so ``start: 0`` acts as ``start:
dt``; a Poisson generator emits spikes stamped ``start + dt < t <= stop + dt``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import rng
from .timing import NEVER, ceil_steps


def current_window(p, dt):
    """The generator steps ``lo <= n < hi`` in which a current generator with parameters
    ``p`` (its ``start`` and ``stop``, ms) emits: never step 0 (NEST 3 treats ``start:
    0`` as ``start: dt``)."""
    return max(ceil_steps(p["start"], dt), 1), ceil_steps(p["stop"], dt)


def current_on(p, n, dt):
    """Whether a current generator with parameters ``p`` emits in generator step(s)
    ``n`` (:func:`current_window`)."""
    lo, hi = current_window(p, dt)
    return (n >= lo) & (n < hi)


class CurrentInputs:
    """Amplitude tables of the current devices of a built network.

    Parameters
    ----------
    built : neurosim.network.build.Built
    """

    def __init__(self, built):
        self.dt = built.dt
        self.gens = built.cur_gens
        self.max_delay = built.max_delay
        gen = built.cur_gen
        is_noise = np.array([m == "noise_generator" for m, _ in self.gens], bool)
        syn_noise = is_noise[gen] if len(gen) else np.zeros(0, bool)
        n_plain = len(self.gens)
        # channel per synapse: the generator for dc / step, a private row for noise
        self.channel = gen.astype(np.int32).copy()
        self.noise_syn = np.nonzero(syn_noise)[0]
        self.channel[self.noise_syn] = n_plain + np.arange(len(self.noise_syn), dtype=np.int32)
        self.n_channels = n_plain + len(self.noise_syn)
        self.noise_gen = gen[self.noise_syn]
        self.noise_key = built.noise_key[self.noise_syn]
        self.noise_state = np.zeros(len(self.noise_syn))
        self.noise_on = np.zeros(len(self.noise_syn), bool)
        self.noise_next = -self.max_delay  # first generator step not yet computed
        self.noise_hist = np.zeros((len(self.noise_syn), 0))
        # per noise generator: its window of steps, and its own dt in steps (0: OU); the
        # per-step loop reads them instead of converting times every step
        self.noise_win = {
            g: current_window(self.gens[g][1], self.dt) for g in np.unique(self.noise_gen)
        }
        self.noise_every = {
            g: int(round(self.gens[g][1]["dt"] / self.dt)) for g in np.unique(self.noise_gen)
        }

    @property
    def empty(self) -> bool:
        return self.n_channels == 0

    def table(self, k0: int, nsteps: int) -> tuple[np.ndarray, int]:
        """Amplitudes for generator steps ``[k0 - max_delay, k0 + nsteps)``.

        Returns
        -------
        amp : ndarray, shape (n_channels, nsteps + max_delay), float64 (pA)
        base : int
            The generator step of column 0.
        """
        base = k0 - self.max_delay
        width = nsteps + self.max_delay
        amp = np.zeros((self.n_channels, width))
        n = np.arange(base, base + width)
        for c, (model, p) in enumerate(self.gens):
            if model == "dc_generator":
                amp[c] = np.where(current_on(p, n, self.dt), p["amplitude"], 0.0)
            elif model == "step_current_generator":
                ticks = np.asarray(ceil_steps(p["amplitude_times"], self.dt), np.int64)
                vals = np.asarray(p["amplitude_values"], np.float64)
                idx = np.searchsorted(ticks, n, side="right") - 1
                on = current_on(p, n, self.dt) & (idx >= 0)
                amp[c] = np.where(on, vals[np.maximum(idx, 0)], 0.0)
        if len(self.noise_syn):
            amp[len(self.gens) :] = self._noise(base, width)
        return amp, base

    def _noise(self, base, width):
        """OU values for steps [base, base + width); advances the OU state in step order."""
        end = base + width
        if end > self.noise_next:
            new = np.zeros((len(self.noise_syn), end - self.noise_next))
            for col, n in enumerate(range(self.noise_next, end)):
                new[:, col] = self._noise_step(n)
            self.noise_hist = np.concatenate([self.noise_hist, new], axis=1)
            self.noise_next = end
        # keep only what the next chunk can still read
        first = self.noise_next - self.noise_hist.shape[1]
        out = self.noise_hist[:, base - first : end - first]
        # a later request starts at or after this one's base (chunks only move forward)
        self.noise_hist = self.noise_hist[:, base - first :]
        return out

    def _noise_step(self, n):
        vals = np.zeros(len(self.noise_syn))
        if n < 0:
            return vals
        xi = rng.normal(self.noise_key, np.uint64(n))
        for g in np.unique(self.noise_gen):
            sel = self.noise_gen == g
            p = self.gens[g][1]
            n0, n1 = self.noise_win[g]
            if not n0 <= n < n1:
                self.noise_on[sel] = False
                continue
            if self.noise_every[g] > 0:
                # NEST's noise_generator: N(mean, std^2) drawn at the first active step
                # and every dt after it, held in between (stateless: the draw's counter
                # is the interval's index)
                j = (n - n0) // self.noise_every[g]
                xj = rng.normal(self.noise_key[sel], np.uint64(j))
                vals[sel] = p["mean"] + p["std"] * xj
                self.noise_on[sel] = True
                continue
            e = math.exp(-self.dt / p["tau"])
            s = p["std"] * math.sqrt(-math.expm1(-2.0 * self.dt / p["tau"]))
            cur = self.noise_state[sel]
            fresh = ~self.noise_on[sel]
            nxt = p["mean"] + (cur - p["mean"]) * e + s * xi[sel]
            nxt[fresh] = p["mean"] + p["std"] * xi[sel][fresh]
            self.noise_state[sel] = nxt
            self.noise_on[sel] = True
            vals[sel] = nxt
        return vals


class PoissonInputs:
    """Per-generator draw tables for the Poisson synapses (shared by all backends).

    Attributes
    ----------
    cdf : ndarray, shape (G, K)
        Cumulative probabilities of the count in one part of one step.
    parts : ndarray of int32, shape (G,)
        The step's mean is split into ``parts`` equal parts (each drawn with its own
        counter ``step * parts + part``) so that every table has a mean <= 10.
    start, stop : ndarray of int64, shape (G,)
        Active in emission steps ``start <= k < stop``: spikes stamped ``(k + 1) dt``,
        from ``start + dt`` (exclusive) to ``stop + dt``, as NEST 3's poisson_generator
        emits them (its documented ``start < t <= stop`` shifted by one step).
    """

    K = 64

    def __init__(self, built):
        G = len(built.pois_gens)
        self.cdf = np.ones((max(G, 1), self.K))
        self.parts = np.ones(max(G, 1), np.int32)
        self.start = np.zeros(max(G, 1), np.int64)
        self.stop = np.zeros(max(G, 1), np.int64)
        for g, (rate, start, stop) in enumerate(built.pois_gens):
            lam = rate * built.dt * 1e-3
            m, part = rng.poisson_split(lam)
            self.cdf[g] = rng.poisson_table(part, self.K)
            self.parts[g] = m
            self.start[g] = ceil_steps(start, built.dt) + 1
            stop_k = ceil_steps(stop, built.dt)
            self.stop[g] = stop_k + 1 if stop_k != NEVER else NEVER
