"""Neurons partitioned over MPI ranks: the partition (pure functions), the
communicator (:mod:`.comm`, the only mpi4py import) and the per-epoch exchanges."""
