"""MPI collectives called from compiled code, so that a whole batch of exchange
intervals runs in one numba call (no Python between two exchanges).

mpi4py stays the only module that loads MPI (:mod:`neurosim.parallel.comm`); it hands
over the addresses of ``MPI_Allgather`` and ``MPI_Allgatherv`` and the handles of the
communicator and of ``MPI_INT64_T``.  The functions here call those addresses with C
signatures built at compile time; the address is an argument, not a constant, so the
compiled code stays valid in the disk cache from one process to the next.

A handle is passed with the numba type of its C type: ``int32`` where MPI handles are
``int`` (MPICH and its derivatives: Intel MPI, MVAPICH, Cray MPICH), ``int64`` where
they are pointers (Open MPI), so the call matches the library's ABI either way.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic


def _c_arg(builder, value, nbtype, kind):
    """``value`` (a numba integer) as the LLVM type of a C argument: ``ptr`` (void *),
    ``int`` (C int) or ``handle`` (the handle's own width)."""
    if kind == "ptr":
        return builder.inttoptr(value, ir.IntType(8).as_pointer())
    if kind == "int":
        return builder.trunc(value, ir.IntType(32)) if nbtype.bitwidth > 32 else value
    return value


def _c_type(nbtype, kind):
    if kind == "ptr":
        return ir.IntType(8).as_pointer()
    if kind == "int":
        return ir.IntType(32)
    return ir.IntType(nbtype.bitwidth)


def _codegen(kinds):
    """Code generation for a call of the C function at the first argument's address,
    with argument kinds ``kinds`` (each ``ptr``, ``int`` or ``handle``)."""

    def codegen(context, builder, sig, llargs):
        nbargs = sig.args[1:]
        pairs = list(zip(nbargs, kinds, strict=True))
        cargs = [_c_arg(builder, v, t, k) for v, (t, k) in zip(llargs[1:], pairs, strict=True)]
        fnty = ir.FunctionType(ir.IntType(32), [_c_type(t, k) for t, k in pairs])
        fptr = builder.inttoptr(llargs[0], fnty.as_pointer())
        return builder.call(fptr, cargs)

    return codegen


def _integers(*args):
    return all(isinstance(a, types.Integer) for a in args)


# int MPI_Allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
#                   void *recvbuf, int recvcount, MPI_Datatype recvtype, MPI_Comm comm)
@intrinsic
def _allgather(typingctx, fn, sbuf, scount, stype, rbuf, rcount, rtype, comm):
    args = (fn, sbuf, scount, stype, rbuf, rcount, rtype, comm)
    if not _integers(*args):
        return None
    kinds = ("ptr", "int", "handle", "ptr", "int", "handle", "handle")
    return types.int32(*args), _codegen(kinds)


# int MPI_Allgatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
#                    void *recvbuf, const int recvcounts[], const int displs[],
#                    MPI_Datatype recvtype, MPI_Comm comm)
@intrinsic
def _allgatherv(typingctx, fn, sbuf, scount, stype, rbuf, rcounts, displs, rtype, comm):
    args = (fn, sbuf, scount, stype, rbuf, rcounts, displs, rtype, comm)
    if not _integers(*args):
        return None
    kinds = ("ptr", "int", "handle", "ptr", "ptr", "ptr", "handle", "handle")
    return types.int32(*args), _codegen(kinds)


@nb.njit(cache=True, nogil=True)
def allgather_int64(fns, comm, h_int, h_i64, local, n_local, counts, displs, recv):
    """Every rank's ``local[:n_local]`` concatenated in rank order (Allgather of the
    counts, then Allgatherv), as :meth:`neurosim.parallel.comm.MpiComm.allgather_int64`.

    Parameters
    ----------
    fns : ndarray of int64, shape (2,)
        Addresses of ``MPI_Allgather`` and ``MPI_Allgatherv``.
    comm, h_int, h_i64 : int32 or int64
        Handles of the communicator, ``MPI_INT`` and ``MPI_INT64_T``.
    local : ndarray of int64
        This rank's values (the first ``n_local``).
    counts, displs : ndarray of int32, shape (size,)
        Work arrays for the per-rank counts and offsets.
    recv : ndarray of int64
        Receive buffer; replaced by a larger one when the total does not fit.

    Returns
    -------
    recv : ndarray of int64
        The buffer (possibly new); its first ``total`` values are the result.
    total : int
        Number of values gathered.
    err : int
        The first nonzero MPI return code, else 0.
    """
    one = np.empty(1, np.int32)
    one[0] = n_local
    err = _allgather(fns[0], one.ctypes.data, 1, h_int, counts.ctypes.data, 1, h_int, comm)
    if err != 0:
        return recv, 0, err
    total = 0
    for r in range(counts.shape[0]):
        displs[r] = total
        total += counts[r]
    if total == 0:
        return recv, 0, 0
    if total > recv.shape[0]:
        recv = np.empty(max(total, 2 * recv.shape[0]), np.int64)
    err = _allgatherv(
        fns[1],
        local.ctypes.data,
        n_local,
        h_i64,
        recv.ctypes.data,
        counts.ctypes.data,
        displs.ctypes.data,
        h_i64,
        comm,
    )
    return recv, total, err
