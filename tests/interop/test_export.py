"""NWB and Neo export: the files open with pynwb / Neo and give back the recording."""

import numpy as np
import pytest

import neurosim
from neurosim.cli import main


def _spikes_by_unit(rec, pop):
    t, ids = rec.spikes(pop)
    return [np.sort(t[ids == i]) for i in range(rec.population_size(pop))]


def test_nwb_round_trips_spikes_and_traces(recording, tmp_path, capsys):
    pynwb = pytest.importorskip("pynwb")
    out = tmp_path / "out.nwb"
    assert main(["export", str(recording), "--to", "nwb", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    try:  # NWB's own validator (the schema)
        problems = pynwb.validate(path=str(out))
    except TypeError:  # pynwb < 3
        problems = pynwb.validate(paths=[str(out)])
    problems = problems[0] if isinstance(problems, tuple) else problems
    assert list(problems) == []
    with neurosim.open(recording) as rec, pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        units = nwb.units.to_dataframe()
        n = 0
        for pop in rec.spike_populations:
            expect = _spikes_by_unit(rec, pop)
            rows = units[units["population"] == pop]
            assert list(rows["node_id"]) == list(range(len(expect)))
            for i, got in zip(rows["node_id"], rows["spike_times"], strict=True):
                # seconds in NWB; the same float64 as t_ms * 1e-3
                assert np.array_equal(np.asarray(got), expect[i] * 1e-3)
                n += len(got)
        assert n == sum(rec.n_spikes(p) for p in rec.spike_populations) > 50
        cols = nwb.processing["neurosim"]["report_columns"].to_dataframe()
        for pop in rec.report_populations:
            for var in rec.variables(pop):
                times, data, ids = rec.report(pop, var)
                ts = nwb.acquisition[f"{pop}_{var}"]
                assert np.array_equal(ts.data[:], data)
                t_nwb = ts.starting_time + np.arange(ts.data.shape[0]) / ts.rate
                np.testing.assert_allclose(t_nwb * 1e3, times, rtol=0, atol=1e-9)
                mine = cols[cols["timeseries"] == f"{pop}_{var}"]
                assert list(mine["node_id"]) == list(ids)
        v = nwb.acquisition["E_V_m"]
        assert (v.unit, v.conversion) == ("volts", 1e-3)


def test_neo_block_is_compliant_and_round_trips(recording, tmp_path, capsys):
    neo = pytest.importorskip("neo")
    pytest.importorskip("nixio")
    from neo.test.tools import assert_neo_object_is_compliant

    from neurosim.io.neo_export import to_neo

    with neurosim.open(recording) as rec:
        block = to_neo(rec)
        assert_neo_object_is_compliant(block)
        seg = block.segments[0]
        for pop in rec.spike_populations:
            trains = [s for s in seg.spiketrains if s.annotations["population"] == pop]
            expect = _spikes_by_unit(rec, pop)
            assert len(trains) == len(expect)
            for st in trains:
                assert np.array_equal(st.rescale("ms").magnitude, expect[st.annotations["node_id"]])
        sig = next(s for s in seg.analogsignals if s.name == "E/V_m")
        times, data, ids = rec.report("E", "V_m")
        assert np.array_equal(sig.magnitude, data)
        assert str(sig.units.dimensionality) == "mV"
        np.testing.assert_allclose(sig.times.rescale("ms").magnitude, times, atol=1e-9)
        assert list(sig.array_annotations["node_id"]) == list(ids)
        assert {g.name for g in block.groups} == {"E", "I"}

    out = tmp_path / "out.nix"
    assert (
        main(["export", str(recording), "--to", "neo", "-o", str(out), "--populations", "I"]) == 0
    )
    with neo.io.NixIO(str(out), mode="ro") as io:
        back = io.read_block()
    assert_neo_object_is_compliant(back)
    seg = back.segments[0]
    assert len(seg.spiketrains) == 10 and {
        s.annotations["population"] for s in seg.spiketrains
    } == {"I"}
    assert [s.name for s in seg.analogsignals] == ["I/g_ex"]


def _error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    return err


def test_export_bad_input(recording, tmp_path, capsys):
    rec = str(recording)
    assert "--to: unknown format 'xyz'" in _error(capsys, ["export", rec, "--to", "xyz"])
    err = _error(capsys, ["export", rec, "--to", "neo", "-o", str(tmp_path / "b.pkl")])
    assert "pickle" in err and ".nix" in err
    err = _error(capsys, ["export", rec, "--to", "nwb", "--populations", "E,Q", "-o", "x.nwb"])
    assert rec in err and "--populations" in err and "'Q'" in err
    garbage = tmp_path / "garbage.h5"
    garbage.write_text("not hdf5")
    err = _error(capsys, ["export", str(garbage), "--to", "nwb"])
    assert str(garbage) in err and "HDF5" in err
    cut = tmp_path / "cut.h5"
    cut.write_bytes(recording.read_bytes()[: recording.stat().st_size // 2])
    err = _error(capsys, ["export", str(cut), "--to", "nwb"])
    assert str(cut) in err and "truncated" in err
    h5py = pytest.importorskip("h5py")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3)
    err = _error(capsys, ["export", str(other), "--to", "neo"])
    assert str(other) in err and "not a neurosim recording" in err
    assert "no such recording" in _error(capsys, ["export", str(tmp_path / "no.h5"), "--to", "nwb"])
    existing = tmp_path / "exists.nwb"
    existing.write_text("")
    assert "--overwrite" in _error(capsys, ["export", rec, "--to", "nwb", "-o", str(existing)])


def test_a_report_of_one_sample_keeps_its_interval(network_file, tmp_path, capsys):
    """NWB's rate and Neo's sampling period come from the stored interval, not from dt,
    when a report has a single sample (1 ms interval, 1.5 ms run)."""
    pynwb = pytest.importorskip("pynwb")
    import yaml

    doc = yaml.safe_load(open(network_file))
    entry = {"population": "E", "variables": ["V_m"], "neurons": "0:3", "interval": "1 ms"}
    doc["record"] = {"spikes": ["E"], "state": [entry]}
    net = tmp_path / "one.yaml"
    net.write_text(yaml.safe_dump(doc))
    rec = tmp_path / "one.h5"
    neurosim.Simulation(neurosim.load(net), output=rec, backend="numpy").run(1.5)
    out = tmp_path / "one.nwb"
    assert main(["export", str(rec), "--to", "nwb", "-o", str(out)]) == 0
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        ts = nwb.acquisition["E_V_m"]
        assert ts.data.shape[0] == 1 and ts.rate == pytest.approx(1000.0)
        assert nwb.units.resolution == pytest.approx(1e-4)  # dt 0.1 ms, in s
    from neurosim.io.neo_export import to_neo

    with neurosim.open(rec) as r:
        sig = to_neo(r).segments[0].analogsignals[0]
    assert float(sig.sampling_period.rescale("ms").magnitude) == pytest.approx(1.0)
