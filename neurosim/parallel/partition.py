"""Which neurons a rank owns: every population cut into equal contiguous blocks.

Each population is split on its own, so every rank gets (within one neuron) the same
share of every population, hence of every model and in-degree: the load balance of
NEST's round-robin by global id, with the local neurons of a population contiguous
(population slices, contiguous recording columns, one parameter row per block).
Pure functions, no MPI.
"""

from __future__ import annotations

from dataclasses import dataclass


def block(size: int, rank: int, nranks: int) -> tuple[int, int]:
    """Population-local ids ``[lo, hi)`` that ``rank`` of ``nranks`` owns.

    The first ``size % nranks`` ranks get one neuron more than the others.
    """
    q, r = divmod(int(size), int(nranks))
    lo = rank * q + min(rank, r)
    return lo, lo + q + (1 if rank < r else 0)


@dataclass(frozen=True)
class Partition:
    """This process's place among ``size`` ranks."""

    rank: int = 0
    size: int = 1

    def range(self, pop_size: int) -> tuple[int, int]:
        """Population-local ids ``[lo, hi)`` owned by this rank."""
        return block(pop_size, self.rank, self.size)

    def owner(self, pop_size: int, ids):
        """Rank owning each population-local id (ndarray of int)."""
        import numpy as np

        ids = np.asarray(ids, np.int64)
        q, r = divmod(int(pop_size), self.size)
        # the first r blocks hold q + 1 ids, the others q
        big = r * (q + 1)
        return np.where(ids < big, ids // max(q + 1, 1), r + (ids - big) // max(q, 1))

    @property
    def serial(self) -> bool:
        return self.size == 1
