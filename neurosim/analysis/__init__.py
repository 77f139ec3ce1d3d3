"""Analysis of recordings: rates, ISI variability, Fano factors, correlations, synchrony,
spectra, state statistics and plots.

Every function takes a recording (:func:`neurosim.open`, or :func:`open_recording`,
which also refuses truncated or foreign files) and reads it in chunks of bounded size,
so a recording larger than memory is fine.  Times are in ms, rates in Hz.  Elephant is
never imported here (the tests hold these functions against it); matplotlib is imported
by :mod:`neurosim.analysis.plots` only, when a plot is drawn.
"""

import os as _os

from ..io.chunked import RecordingError, check_recording
from ._common import SpikeArrays
from .spikes import (
    binned_counts,
    correlation_matrix,
    fano_factor,
    firing_rates,
    isi_cv,
    population_fano_factor,
    population_rate,
    population_rates,
    rate_spectrum,
    spike_counts,
    spike_synchrony_chi,
)
from .stats import cv_isi, ks_2samp, mean_rate, population_summary, power_spectrum
from .traces import ltc_summary, mean_trace, synchrony_chi, trace_spectrum, trace_stats


def open_recording(path):
    """Open a recording for analysis, refusing files that cannot be trusted.

    :func:`neurosim.open`, then :func:`neurosim.io.chunked.check_recording`: a missing
    file, a file that is not HDF5, not a neurosim recording, or truncated raises
    :class:`RecordingError` with a one-line message naming the file.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    neurosim.io.hdf5.Recording
    """
    from .. import open as _open

    path = _os.fspath(path)
    if not _os.path.exists(path):
        raise RecordingError(f"{path}: no such file")
    if _os.path.isdir(path):
        raise RecordingError(f"{path}: is a directory, expected a recording (.h5)")
    try:
        rec = _open(path)
    except OSError as exc:
        line = _first_line(exc)
        if line.startswith(f"{path}:"):  # the reader's own message names the file
            raise RecordingError(line) from None
        raise RecordingError(f"{path}: not a readable HDF5 file ({line})") from None
    try:
        check_recording(rec)
    except BaseException:
        rec.close()
        raise
    return rec


def _first_line(exc):
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


__all__ = [
    "RecordingError",
    "SpikeArrays",
    "binned_counts",
    "check_recording",
    "correlation_matrix",
    "cv_isi",
    "fano_factor",
    "firing_rates",
    "isi_cv",
    "ks_2samp",
    "ltc_summary",
    "mean_rate",
    "mean_trace",
    "open_recording",
    "population_fano_factor",
    "population_rate",
    "population_rates",
    "population_summary",
    "power_spectrum",
    "rate_spectrum",
    "spike_counts",
    "spike_synchrony_chi",
    "synchrony_chi",
    "trace_spectrum",
    "trace_stats",
]
