"""The communicator: :class:`SerialComm` for one process, :class:`MpiComm` over
mpi4py (the only module that imports it).

:func:`get_comm` imports mpi4py only when the process was started by an MPI launcher
(``mpiexec``, ``srun`` ...), so a plain ``neurosim run`` never initialises MPI.
"""

from __future__ import annotations

import os
import sys
import time
from types import SimpleNamespace

import numpy as np


class SerialComm:
    """One process: every collective is the identity."""

    rank = 0
    size = 1

    def allgather_int64(self, local):
        return np.asarray(local, np.int64), np.array([len(local)], np.int64)

    def allreduce(self, value, op="sum"):
        return value

    def allgather(self, obj):
        return [obj]

    def bcast(self, obj):
        return obj

    def barrier(self):
        pass

    def abort(self, code=1):
        sys.exit(code)

    def alltoallv(self, send, send_counts):
        return np.asarray(send).copy(), np.asarray(send_counts).copy()

    def native(self):
        return None


class MpiComm:
    """COMM_WORLD through mpi4py, with the few collectives neurosim needs."""

    def __init__(self):
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self._one = np.zeros(1, np.int64)
        self._native = None

    def allgather_int64(self, local):
        """Concatenate every rank's int64 array in rank order (Allgather + Allgatherv).

        Returns the concatenation and the per-rank counts.
        """
        local = np.ascontiguousarray(local, np.int64)
        self._one[0] = len(local)
        counts = np.empty(self.size, np.int64)
        self.comm.Allgather(self._one, counts)
        out = np.empty(int(counts.sum()), np.int64)
        if len(out):
            self.comm.Allgatherv(local, [out, counts])
        return out, counts

    def native(self):
        """What compiled code needs to call the collectives itself, or None.

        Returns
        -------
        types.SimpleNamespace or None
            ``size``: number of ranks; ``fns``: int64 addresses of ``MPI_Allgather``
            and ``MPI_Allgatherv``;
            ``comm``, ``h_int``, ``h_i64``: the handles of the communicator, ``MPI_INT``
            and ``MPI_INT64_T`` as numpy integers of the library's handle width.  None
            when the library's symbols cannot be found or the handles are neither 4
            nor 8 bytes wide (the caller then exchanges from Python), or when
            ``NEUROSIM_NATIVE_MPI=0``.
        """
        if os.environ.get("NEUROSIM_NATIVE_MPI", "1") == "0":
            return None
        if self._native is False:
            return None
        if self._native is None:
            self._native = False
            try:
                import ctypes

                MPI = self.MPI
                lib = ctypes.CDLL(MPI.__file__)
                width = MPI._sizeof(MPI.Comm)
                if width != MPI._sizeof(MPI.Datatype) or width not in (4, 8):
                    return None
                itype = np.int32 if width == 4 else np.int64
                addr = [
                    ctypes.cast(getattr(lib, f), ctypes.c_void_p).value
                    for f in ("MPI_Allgather", "MPI_Allgatherv")
                ]
            except (OSError, AttributeError, TypeError):
                return None
            self._native = SimpleNamespace(
                size=self.size,
                fns=np.array(addr, np.int64),
                comm=itype(MPI._handleof(self.comm)),
                h_int=itype(MPI._handleof(MPI.INT)),
                h_i64=itype(MPI._handleof(MPI.INT64_T)),
            )
        return self._native

    def allreduce(self, value, op="sum"):
        ops = {"sum": self.MPI.SUM, "min": self.MPI.MIN, "max": self.MPI.MAX}
        return self.comm.allreduce(value, op=ops[op])

    def allgather(self, obj):
        return self.comm.allgather(obj)

    def bcast(self, obj):
        return self.comm.bcast(obj, root=0)

    def barrier(self):
        self.comm.Barrier()

    def abort(self, code=1):
        """End every rank of the job (an error on one rank must not leave the others
        waiting in a collective)."""
        sys.stdout.flush()
        sys.stderr.flush()
        # give the launcher a moment to forward this rank's last message
        time.sleep(0.5)
        self.comm.Abort(code)

    def alltoallv(self, send, send_counts):
        """Personalised exchange of float64 values: ``send`` holds the values for rank
        0, then rank 1 ... (``send_counts`` per rank); returns what every rank sent
        here, in rank order, and the counts."""
        send = np.ascontiguousarray(send, np.float64)
        send_counts = np.ascontiguousarray(send_counts, np.int64)
        recv_counts = np.empty(self.size, np.int64)
        self.comm.Alltoall(send_counts, recv_counts)
        recv = np.empty(int(recv_counts.sum()), np.float64)
        self.comm.Alltoallv([send, send_counts], [recv, recv_counts])
        return recv, recv_counts


def launched_by_mpi() -> bool:
    """True when an MPI launcher (MPICH/Hydra, Open MPI, PMIx, Slurm) started this
    process with more than one rank."""
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS"):
        v = os.environ.get(var)
        if v is not None:
            try:
                return int(v) > 1
            except ValueError:
                return True
    return "PMIX_RANK" in os.environ


_COMM = None


def get_comm():
    """The process's communicator (MPI when launched by mpiexec / srun, else serial).

    ``NEUROSIM_MPI=0`` forces serial, ``NEUROSIM_MPI=1`` forces MPI.
    """
    global _COMM
    if _COMM is None:
        force = os.environ.get("NEUROSIM_MPI")
        use = launched_by_mpi() if force is None else force not in ("0", "", "false")
        _COMM = MpiComm() if use else SerialComm()
        if _COMM.size == 1 and isinstance(_COMM, MpiComm):
            _COMM = SerialComm()
    return _COMM
