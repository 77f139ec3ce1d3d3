"""neurosim.analysis equals Elephant on the same spike trains (to 1e-9).

Two kinds of trains: a recorded run of brunel2000.yaml, whose spikes sit on the dt grid
and so on bin edges, and Poisson trains in continuous time, which never hit an edge.

Windows and bins: neurosim's default is ``(a, b]`` (a spike stamped t happened in the
step ``(t - dt, t]``); ``closed="left"`` gives Elephant's ``[a, b)`` bins, compared
directly.  The default is compared with Elephant on the same trains moved back by half
a step, which puts each spike strictly inside its step: the same statement, written
in Elephant's convention.
"""

import numpy as np
import pytest

import neurosim
from neurosim import analysis as A

elephant = pytest.importorskip("elephant")
neo = pytest.importorskip("neo")
pq = pytest.importorskip("quantities")

from elephant.conversion import BinnedSpikeTrain  # noqa: E402
from elephant.spike_train_correlation import correlation_coefficient  # noqa: E402
from elephant.statistics import cv, fanofactor, isi, mean_firing_rate, time_histogram  # noqa: E402
from elephant.trials import TrialsFromLists  # noqa: E402

TOL = 1e-9

# Elephant's own notices: spikes at t_stop left out of [a, b) bins, empty trains, the
# deprecations of quantities and numpy.matrix it uses
pytestmark = [
    pytest.mark.filterwarnings("ignore:Binning discarded:UserWarning"),
    pytest.mark.filterwarnings("ignore:Detected empty spike trains:UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]


def trains(t, ids, n, t_stop, shift=0.0):
    """One neo.SpikeTrain per neuron (ms), all over [0, t_stop]."""
    order = np.lexsort((t, ids))
    t, ids = t[order] + shift, ids[order]
    cuts = np.searchsorted(ids, np.arange(n + 1))
    return [
        neo.SpikeTrain(t[cuts[i] : cuts[i + 1]], t_start=0.0, t_stop=t_stop, units="ms")
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def recorded(brunel_h5):
    with neurosim.open(brunel_h5) as rec:
        t, ids = rec.spikes("E")
        n = rec.population_size("E")
        t_stop = rec.attrs["t_stop"]
        dt = rec.attrs["dt"]
    return t, ids, n, t_stop, dt


@pytest.fixture(scope="module")
def poisson():
    """60 Poisson trains at 5..60 Hz in continuous time over 2 s, some correlated."""
    rng = np.random.default_rng(5)
    n, t_stop = 60, 2000.0
    common = np.sort(rng.uniform(0, t_stop, 40))  # shared events make correlations
    ts, ids = [], []
    for i in range(n):
        k = rng.poisson((5 + i) * t_stop * 1e-3)
        own = rng.uniform(0, t_stop, k)
        if i % 3 == 0:
            own = np.concatenate([own, common + rng.uniform(0, 1.0, len(common))])
        own = own[own < t_stop]
        ts.append(own)
        ids.append(np.full(len(own), i))
    t, ids = np.concatenate(ts), np.concatenate(ids)
    src = A.SpikeArrays({"P": (t, ids, n)}, t_stop=t_stop)
    return src, t, ids, n, t_stop


def hz(q):
    return np.asarray(q.rescale("Hz").magnitude, np.float64)


def window_rate(st, a, b):
    """Elephant's rate of ``st`` in [a, b] (Hz); it refuses an empty train, which is 0."""
    return float(hz(mean_firing_rate(st, a * pq.ms, b * pq.ms))) if len(st) else 0.0


def test_rates_recorded(brunel_h5, recorded):
    t, ids, n, t_stop, _dt = recorded
    sts = trains(t, ids, n, t_stop)
    ref = np.array([float(hz(mean_firing_rate(st))) for st in sts])
    with neurosim.open(brunel_h5) as rec:
        ours = A.firing_rates(rec, "E", chunk=500)
        pop = A.population_rates(rec, ["E"], chunk=500)["E"]
    assert len(t) > 3000 and ref.mean() > 5
    assert np.max(np.abs(ours - ref)) <= TOL
    assert abs(pop - ref.mean()) <= TOL


def test_rates_in_a_window(brunel_h5, recorded):
    # window edges half a step off the grid: (a, b] and Elephant's [a, b] hold the same
    t, ids, n, t_stop, dt = recorded
    a, b = 50.0 + dt / 2, 150.0 + dt / 2
    sts = trains(t, ids, n, t_stop)[::4]  # quantities are slow: every 4th neuron
    ref = np.array([window_rate(st, a, b) for st in sts])
    with neurosim.open(brunel_h5) as rec:
        ours = A.firing_rates(rec, "E", a, b, chunk=300)[::4]
    assert np.max(np.abs(ours - ref)) <= TOL


def test_cv_recorded(brunel_h5, recorded):
    t, ids, n, t_stop, _dt = recorded
    sts = trains(t, ids, n, t_stop)
    ref = np.array([cv(isi(st.magnitude)) if len(st) >= 3 else np.nan for st in sts])
    with neurosim.open(brunel_h5) as rec:
        ours = A.isi_cv(rec, "E", chunk=400)
        mean_cv, used = A.cv_isi(*rec.spikes("E"))
    assert np.array_equal(np.isnan(ours), np.isnan(ref))
    assert (~np.isnan(ref)).sum() > 100
    assert np.nanmax(np.abs(ours - ref)) <= TOL
    # the existing summary (neurosim info) agrees too
    assert abs(mean_cv - np.nanmean(ref)) <= TOL and used == (~np.isnan(ref)).sum()


def test_rates_cv_poisson(poisson):
    src, t, ids, n, t_stop = poisson
    sts = trains(t, ids, n, t_stop)
    a, b = 123.4, 1789.1
    ref_r = np.array([window_rate(st, a, b) for st in sts])
    ref_cv = np.array(
        [cv(isi(st.time_slice(a * pq.ms, b * pq.ms).magnitude)) for st in sts], np.float64
    )
    assert np.max(np.abs(A.firing_rates(src, "P", a, b, chunk=100) - ref_r)) <= TOL
    assert np.max(np.abs(A.isi_cv(src, "P", a, b, chunk=100) - ref_cv)) <= TOL


def segments(sts, edges, closed):
    """Trials for Elephant: each train cut at ``edges``, keeping ``(a, b]`` or ``[a, b)``."""
    out = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        trial = []
        for st in sts:
            x = st.magnitude
            keep = (x > a) & (x <= b) if closed == "right" else (x >= a) & (x < b)
            trial.append(neo.SpikeTrain(x[keep], t_start=a, t_stop=b, units="ms"))
        out.append(trial)
    return out


@pytest.mark.parametrize("closed", ["right", "left"])
def test_fano_recorded(brunel_h5, recorded, closed):
    t, ids, n, t_stop, _dt = recorded
    neurons = np.arange(0, n, 16)
    sts = trains(t, ids, n, t_stop)
    sts = [sts[i] for i in neurons]
    edges = 20.0 * np.arange(11)  # ten 20 ms windows, on the grid
    ref = np.asarray(fanofactor(TrialsFromLists(segments(sts, edges, closed))), np.float64)
    with neurosim.open(brunel_h5) as rec:
        ours = A.fano_factor(rec, "E", 20.0, neurons=neurons, closed=closed, chunk=256)
        # the population count per bin: Elephant's fanofactor of the merged train
        pop = A.population_fano_factor(rec, "E", 20.0, closed=closed, chunk=256)
    merged = [neo.SpikeTrain(np.sort(t), t_start=0.0, t_stop=t_stop, units="ms")]
    ref_pop = fanofactor([tr[0] for tr in segments(merged, edges, closed)])
    assert np.array_equal(np.isnan(ours), np.isnan(ref)) and (~np.isnan(ref)).sum() > 20
    assert np.nanmax(np.abs(ours - ref)) <= TOL
    assert abs(pop - ref_pop) <= TOL


def test_fano_poisson(poisson):
    # continuous times: Elephant's own time_slice cuts the windows
    src, t, ids, n, t_stop = poisson
    neurons = np.arange(0, n, 2)
    sts = trains(t, ids, n, t_stop)[::2]
    edges = 200.0 * np.arange(11)
    trials = [
        [st.time_slice(a * pq.ms, b * pq.ms) for st in sts]
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]
    ref = np.asarray(fanofactor(TrialsFromLists(trials)), np.float64)
    for closed in ("right", "left"):
        ours = A.fano_factor(src, "P", 200.0, neurons=neurons, closed=closed, chunk=50)
        assert np.max(np.abs(ours - ref)) <= TOL


def test_correlation_recorded_left(brunel_h5, recorded):
    t, ids, n, t_stop, _dt = recorded
    neurons = np.arange(0, 120)
    sts = trains(t, ids, n, t_stop)
    for bin_size in (1.0, 5.0, 2.3):
        binned = BinnedSpikeTrain([sts[i] for i in neurons], bin_size=bin_size * pq.ms)
        with np.errstate(invalid="ignore", divide="ignore"):
            ref = correlation_coefficient(binned)
        with neurosim.open(brunel_h5) as rec:
            ours = A.correlation_matrix(
                rec, "E", bin_size, neurons=neurons, closed="left", chunk=97
            )
        assert np.array_equal(np.isnan(ours), np.isnan(ref))
        assert np.nanmax(np.abs(ours - ref)) <= TOL


def test_correlation_recorded_right(brunel_h5, recorded):
    # (a, b] on the grid == Elephant's [a, b) on the step midpoints t - dt/2
    t, ids, n, t_stop, dt = recorded
    neurons = np.arange(40, 160)
    sts = trains(t, ids, n, t_stop, shift=-dt / 2)
    binned = BinnedSpikeTrain([sts[i] for i in neurons], bin_size=5.0 * pq.ms)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref = correlation_coefficient(binned)
    with neurosim.open(brunel_h5) as rec:
        ours = A.correlation_matrix(rec, "E", 5.0, neurons=neurons, chunk=97)
    assert np.nanmax(np.abs(ours - ref)) <= TOL


def test_correlation_poisson(poisson):
    src, t, ids, n, t_stop = poisson
    sts = trains(t, ids, n, t_stop)
    ref = correlation_coefficient(BinnedSpikeTrain(sts, bin_size=10.0 * pq.ms))
    for closed in ("right", "left"):
        ours = A.correlation_matrix(src, "P", 10.0, closed=closed, chunk=33)
        assert np.max(np.abs(ours - ref)) <= TOL
    assert np.max(ref[np.triu_indices(n, 1)]) > 0.2  # the shared events show


@pytest.mark.parametrize("closed", ["right", "left"])
def test_population_rate(brunel_h5, recorded, closed):
    t, ids, n, t_stop, dt = recorded
    shift = -dt / 2 if closed == "right" else 0.0
    sts = trains(t, ids, n, t_stop, shift=shift)
    ref = hz(time_histogram(sts, 2.0 * pq.ms, output="rate")).ravel()
    with neurosim.open(brunel_h5) as rec:
        edges, ours = A.population_rate(rec, "E", 2.0, closed=closed, chunk=128)
    assert len(ours) == len(ref) == 100 and edges[-1] == t_stop
    assert np.max(np.abs(ours - ref)) <= TOL


def test_binned_counts_left(brunel_h5, recorded):
    t, ids, n, t_stop, _dt = recorded
    sts = trains(t, ids, n, t_stop)[:50]
    ref = BinnedSpikeTrain(sts, bin_size=3.0 * pq.ms).to_array()
    with neurosim.open(brunel_h5) as rec:
        _edges, ours = A.binned_counts(rec, "E", 3.0, neurons=np.arange(50), closed="left")
    assert np.array_equal(ours, ref)
