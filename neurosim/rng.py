"""Counter-based random streams keyed by ``(seed, purpose, global id[, counter])``.

Every random number in neurosim is a pure function of its key, never of the order in
which numbers were drawn, so any partition of the neurons over ranks, any backend and
any chunking of the run draws the same numbers (the idea of Random123 in NEURON and of
PyNN's ``parallel_safe``).  The hash is SplitMix64's finaliser (Steele et al. 2014),
applied twice for keys and once per counter step.  This module is pure numpy; the
numba and cupy backends carry bit-identical copies of :func:`mix64`.
"""

from __future__ import annotations

import hashlib

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0

# Purposes (stable numbers: changing one changes every network built from a seed).
CONNECT = 1
WEIGHT = 2
DELAY = 3
INITIAL = 4
POISSON = 5
PARAM = 6
NOISE = 7
SOURCE = 8


def mix64(z):
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def stream_key(seed: int, purpose: int, *names) -> np.uint64:
    """A 64-bit key for one stream: seed, purpose and any labels (projection index, ...).

    Labels are hashed with BLAKE2 so that string labels (population names) are stable
    across processes and Python versions (``hash()`` is salted per process).
    """
    h = hashlib.blake2b(digest_size=8)
    h.update(repr((int(seed), int(purpose)) + tuple(str(n) for n in names)).encode())
    return np.uint64(int.from_bytes(h.digest(), "little"))


#: Draws of a bounded normal before giving up (NEST's nest.math.redraw: 1000).  The
#: first 64 use the counters ``64 c + attempt`` of the value's stream, the rest the
#: counters ``1024 c + attempt`` of the stream ``id_keys(sub, REDRAW_ID)``.
NORMAL_TRIES = 1000
REDRAW_ID = 0x5EED_0000_0000_0064


def id_keys(key: np.uint64, ids) -> np.ndarray:
    """Per-id sub-keys: ``mix64(mix64(key ^ id))`` for an array of global ids."""
    ids = np.asarray(ids, dtype=np.uint64)
    return mix64(mix64(np.uint64(key) ^ ids))


def bits(subkeys, counter) -> np.ndarray:
    """64 random bits for each (sub-key, counter) pair (broadcasting).

    This is SplitMix64's output for state ``subkey + (counter + 1) * GOLDEN``.
    """
    sub = np.asarray(subkeys, dtype=np.uint64)
    ctr = np.asarray(counter, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return mix64(sub + (ctr + np.uint64(1)) * GOLDEN)


def uniform(subkeys, counter) -> np.ndarray:
    """Uniform doubles in [0, 1) from the top 53 bits of :func:`bits`."""
    return (bits(subkeys, counter) >> _S11).astype(np.float64) * _TWO_M53


def normal(subkeys, counter) -> np.ndarray:
    """Standard normal deviates by Box-Muller from counters ``2c`` and ``2c + 1``."""
    ctr = np.asarray(counter, dtype=np.uint64) * np.uint64(2)
    u1 = uniform(subkeys, ctr)
    u2 = uniform(subkeys, ctr + np.uint64(1))
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def poisson_table(lam: float, kmax: int = 64) -> np.ndarray:
    """Cumulative Poisson probabilities ``cdf[k] = P(X <= k)`` for ``k < kmax``.

    A draw is ``k = first index with cdf[k] >= u`` for a uniform ``u``: exact inverse
    transform sampling, up to the rounding of the table (computed once, in float64,
    and shared by every backend so all of them draw the same counts).  The last entry
    is set to 1 so that every ``u < 1`` finds a count.
    """
    if not 0.0 <= lam <= 30.0:
        raise ValueError("poisson_table: lam must be in [0, 30]; split larger means")
    cdf = np.empty(kmax, dtype=np.float64)
    p = np.exp(-lam)
    c = p
    cdf[0] = c
    for k in range(1, kmax):
        p = p * lam / k
        c = c + p
        cdf[k] = c
    cdf[-1] = 1.0
    return cdf


def poisson_split(lam: float) -> tuple[int, float]:
    """Split a Poisson mean into ``m`` equal parts of at most 10 (sum of m draws)."""
    m = max(1, int(np.ceil(lam / 10.0)))
    return m, lam / m
