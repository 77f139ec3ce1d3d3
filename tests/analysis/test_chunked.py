"""Reading in chunks much smaller than the data gives the in-memory results.

``chunk=None`` reads a population's spikes whole; ``chunk=64`` (and 16 or 500) cuts
~6000 spikes into about a hundred pieces, so bins, intervals and (neuron, bin) counts
straddle chunk boundaries.  Integer sums (counts, Fano factors, correlations) are
exact either way; float sums of intervals and samples are added in another order, so
those agree to 1e-12 relative.
"""

import numpy as np
import pytest

import neurosim
from neurosim import analysis as A
from neurosim.io.chunked import report_blocks, report_info

SPIKE_CASES = [
    ("spike_counts", lambda r, c: A.spike_counts(r, "E", 10.0, 190.0, chunk=c)),
    ("firing_rates", lambda r, c: A.firing_rates(r, "E", chunk=c)),
    ("population_rates", lambda r, c: np.array(list(A.population_rates(r, chunk=c).values()))),
    ("isi_cv", lambda r, c: A.isi_cv(r, "E", 20.0, 180.0, chunk=c)),
    ("population_rate", lambda r, c: A.population_rate(r, "E", 0.5, chunk=c)[1]),
    (
        "population_rate_left",
        lambda r, c: A.population_rate(r, "I", 1.0, closed="left", chunk=c)[1],
    ),
    ("binned_counts", lambda r, c: A.binned_counts(r, "E", 2.0, neurons=[5, 3, 700], chunk=c)[1]),
    ("fano_factor", lambda r, c: A.fano_factor(r, "E", 25.0, chunk=c)),
    ("population_fano", lambda r, c: A.population_fano_factor(r, "E", 1.0, chunk=c)),
    ("correlation", lambda r, c: A.correlation_matrix(r, "E", 1.0, neurons=range(200), chunk=c)),
    ("chi_spikes", lambda r, c: A.spike_synchrony_chi(r, "E", 2.0, chunk=c)),
    ("rate_spectrum", lambda r, c: A.rate_spectrum(r, "E", 1.0, nperseg=64, chunk=c)[1]),
]


@pytest.mark.parametrize("name,fn", SPIKE_CASES, ids=[c[0] for c in SPIKE_CASES])
def test_spikes_chunked_equals_whole(brunel_h5, name, fn):
    with neurosim.open(brunel_h5) as rec:
        assert rec.n_spikes("E") > 3000
        whole = np.asarray(fn(rec, None), np.float64)
        for chunk in (16,) if name in ("isi_cv", "correlation") else (64, 500):
            part = np.asarray(fn(rec, chunk), np.float64)
            assert part.shape == whole.shape
            assert np.array_equal(np.isnan(part), np.isnan(whole))
            np.testing.assert_allclose(part, whole, rtol=1e-12, atol=0, equal_nan=True)
    assert np.isfinite(whole).any()


def test_in_memory_arrays_equal_the_recording(brunel_h5):
    with neurosim.open(brunel_h5) as rec:
        t, ids = rec.spikes("E")
        src = A.SpikeArrays({"E": (t, ids, rec.population_size("E"))}, rec.attrs["t_stop"])
        for name, fn in SPIKE_CASES:
            if name in ("isi_cv", "correlation", "fano_factor", "population_rate"):
                np.testing.assert_allclose(fn(src, None), fn(rec, 500), rtol=1e-12)


def test_unsorted_spikes_need_chunk_none():
    t = np.array([1.0, 3.0, 2.0, 4.0])
    src = A.SpikeArrays({"P": (t, np.zeros(4, int), 1)}, 5.0)
    src._pops["P"] = (t, np.zeros(4, np.int64), 1)  # as a file sorted by id would be
    with pytest.raises(A.RecordingError, match="not sorted by time"):
        A.isi_cv(src, "P", min_spikes=2, chunk=2)
    assert A.isi_cv(src, "P", min_spikes=2, chunk=None)[0] == 0.0


def test_report_blocks_cover_the_rows(brunel_h5):
    with neurosim.open(brunel_h5) as rec:
        _times, data, ids = rec.report("E", "V_m")
        info = report_info(rec, "E", "V_m")
        parts = list(report_blocks(rec, "E", "V_m", 5, 1234, rows=100))
    assert [p[0] for p in parts] == list(range(5, 1234, 100))
    assert np.array_equal(np.concatenate([p[1] for p in parts]), data[5:1234])
    assert np.array_equal(info["node_ids"], ids) and info["shape"] == data.shape


TRACE_CASES = [
    ("trace_stats", lambda r, k: A.trace_stats(r, "E", "V_m", 30.0, 170.0, rows=k)),
    ("ltc_summary", lambda r, k: A.ltc_summary(r, "E", "V_m", rows=k)),
]


@pytest.mark.parametrize("name,fn", TRACE_CASES, ids=[c[0] for c in TRACE_CASES])
def test_traces_chunked_equals_whole(brunel_h5, name, fn):
    with neurosim.open(brunel_h5) as rec:
        whole = fn(rec, None)
        for rows in (3, 61):
            part = fn(rec, rows)
            for key, value in whole.items():
                if isinstance(value, str):
                    assert part[key] == value
                else:
                    np.testing.assert_allclose(part[key], value, rtol=1e-12, atol=1e-12)


def test_population_summary_reads_in_chunks(brunel_h5, monkeypatch):
    with neurosim.open(brunel_h5) as rec:
        t, ids = rec.spikes("E")
        sel = (t > 20.0) & (t <= 200.0)
        cv, used = A.cv_isi(t[sel], ids[sel])
        # `neurosim info` never reads the whole population at once
        monkeypatch.setattr(type(rec), "spikes", None)
        s = A.population_summary(rec, "E", t_start=20.0)
        # a window the recording does not cover is an error, as in the API
        # (neurosim.analysis.population_rates), not an empty row
        for bad in (500.0, -100.0):
            with pytest.raises(A.RecordingError, match="--t-start"):
                A.population_summary(rec, "E", t_start=bad)
    assert s["spikes"] == sel.sum() and s["neurons"] == 800 and s["cv_neurons"] == used
    assert s["rate_hz"] == pytest.approx(sel.sum() / (800 * 0.18), rel=1e-12)
    assert s["cv_isi"] == pytest.approx(cv, rel=1e-12)
