"""Graded (LTC) networks across ranks: who owns which neurons, and the exchange of the
presynaptic values that other ranks read.

A rank owns, in every LTC population, a block of whole coarse chunks of ``CB`` targets
(the unit the kernels work in), and builds only those targets' synapses.  Every rank
keeps the presynaptic vector ``X`` at full length (8 bytes per neuron), but only the
entries its own synapses read are kept current: after every coefficient stage of a
population (a substep, a midpoint, an RK stage) and at the end of every step, each
rank sends to each other rank the values of its neurons that the other reads
(``MPI_Alltoallv``; the lists are set up once).  So the traffic per stage is the
presynaptic values that cross ranks, not the states of all neurons.
"""

from __future__ import annotations

import numpy as np

from ..ltc.build import B_CNT, B_D, B_DW, B_IDX, B_N, B_NPRE, B_NT, B_X0, CB, TILE
from .partition import block


def ltc_range(size: int, rank: int, nranks: int) -> tuple[int, int]:
    """Population-local targets ``[lo, hi)`` of ``rank``: whole chunks of ``CB``."""
    nchunk = (size + CB - 1) // CB
    c0, c1 = block(nchunk, rank, nranks)
    return min(size, c0 * CB), min(size, c1 * CB)


def needed_sources(b) -> np.ndarray:
    """Sorted indices into X (neurons only) that the local synapses read."""
    need = np.zeros(b.n_neurons + b.n_inputs, bool)
    for r in b.blk:
        if r[B_D] >= 0 and r[B_DW] > 0:  # a dense block reads its whole pre population
            need[int(r[B_X0]) : int(r[B_X0] + r[B_NPRE])] = True
        n, nt = int(r[B_N]), int(r[B_NT])
        cnt = b.cnt[r[B_CNT] : r[B_CNT] + nt * n].reshape(nt, n)
        pos = int(r[B_IDX])
        for t in range(nt):
            m = int(cnt[t].sum())
            need[int(r[B_X0]) + t * TILE + b.idx[pos : pos + m].astype(np.int64)] = True
            pos += m
    need[b.gsrc.astype(np.int64)] = True
    return np.nonzero(need[: b.n_neurons])[0]


class LtcExchange:
    """The per-stage exchange of one rank.

    Parameters
    ----------
    comm : neurosim.parallel.comm.MpiComm
    built : neurosim.ltc.build.LtcBuilt
        This rank's build (its targets' synapses; X indices are global).
    owned : ndarray of bool, shape (N,)
        The neurons this rank advances.
    """

    def __init__(self, comm, built, owned):
        self.comm = comm
        R = comm.size
        need = needed_sources(built)
        owner = np.full(built.n_neurons, -1, np.int64)
        mine = np.nonzero(owned)[0]
        owners = comm.allgather(mine)
        for r, ids in enumerate(owners):
            owner[ids] = r
        # what I read from each rank (sorted), and what each rank reads from me
        need = need[owner[need] != comm.rank]
        self.recv = [need[owner[need] == r] for r in range(R)]
        wants = comm.allgather(need)
        self.send = [w[owner[w] == comm.rank] for w in wants]
        self.send[comm.rank] = np.zeros(0, np.int64)
        self.recv[comm.rank] = np.zeros(0, np.int64)
        self._cache = {}
        self.values_sent = 0
        self.calls = 0

    def _lists(self, i0, i1):
        key = (i0, i1)
        if key not in self._cache:

            def cut(lists):
                parts = [x[(x >= i0) & (x < i1)] for x in lists]
                return np.concatenate(parts), np.array([len(x) for x in parts], np.int64)

            s_idx, s_cnt = cut(self.send)
            r_idx, r_cnt = cut(self.recv)
            self._cache[key] = (s_idx, s_cnt, r_idx, r_cnt)
        return self._cache[key]

    def exchange(self, X, i0=0, i1=None):
        """Make the entries of X in ``[i0, i1)`` that this rank reads current.

        Collective: every rank calls it with the same range.
        """
        if i1 is None:
            i1 = len(X)
        s_idx, s_cnt, r_idx, r_cnt = self._lists(i0, i1)
        recv, _ = self.comm.alltoallv(X[s_idx], s_cnt)
        X[r_idx] = recv
        self.values_sent += len(s_idx)
        self.calls += 1
