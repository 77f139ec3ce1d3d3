"""The HDF5 recording: SONATA layouts, attributes, segments, stamps, CLI run/info."""

import h5py
import numpy as np

import neurosim
from tests.conftest import network, run_cli

NET = """\
name: rec
simulation: {dt: 0.1 ms, duration: 50 ms, seed: 4}
populations:
  E: {size: 20, model: iaf_psc_exp, params: {I_e: 500 pA}}
  gen: {model: spike_generator, params: {spike_times: [5 ms, 7.5 ms]}}
projections:
  - {pre: gen, post: E, rule: all_to_all, weight: 100 pA, delay: 1 ms}
record:
  spikes: [E]
  state: [{population: E, variables: [V_m, I_syn_ex], neurons: "0:20:5", interval: 0.5 ms}]
"""


def test_layout_and_attributes(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(NET)
    out = tmp_path / "out.h5"
    sim = neurosim.Simulation(neurosim.load(path), output=out, backend="numpy")
    sim.run("20 ms")
    with neurosim.open(out) as rec:  # readable between segments
        assert rec.complete
        t_mid, _ = rec.spikes("E")
        assert rec.attrs["t_stop"] == 20.0
    sim.set("E", I_e="700 pA")
    sim.run("30 ms")
    with h5py.File(out, "r") as f:
        assert f.attrs["complete"] and f.attrs["dt"] == 0.1 and f.attrs["seed"] == 4
        assert f.attrs["backend"] == "numpy" and f.attrs["ranks"] == 1
        assert "I_e: 500 pA" in f.attrs["network"]
        g = f["spikes/E"]
        assert h5py.check_enum_dtype(g.attrs.get_id("sorting").dtype) == {
            "none": 0,
            "by_id": 1,
            "by_time": 2,
        }
        assert g.attrs["sorting"] == 2
        assert g["timestamps"].dtype == np.float64 and g["node_ids"].dtype == np.uint64
        assert g["timestamps"].attrs["units"] == "ms"
        ts = g["timestamps"][()]
        assert np.all(np.diff(ts) >= 0) and len(ts) > len(t_mid) > 0
        r = f["report/E/V_m"]
        assert r["data"].shape == (100, 4) and r["data"].dtype == np.float64
        assert r["data"].attrs["units"] == "mV"
        assert list(r["mapping/node_ids"][()]) == [0, 5, 10, 15]
        assert list(r["mapping/index_pointers"][()]) == [0, 1, 2, 3, 4]
        assert np.allclose(r["mapping/time"][()], [0.5, 50.5, 0.5])
        assert f["report/E/I_syn_ex/data"].attrs["units"] == "pA"
        for k in ("lzf",):
            assert r["data"].compression != k


def test_stamps_follow_nest_conventions(tmp_path):
    """A spike at t with delay d first shows in the state sampled at t + d."""
    path = tmp_path / "net.yaml"
    path.write_text(
        NET.replace("I_e: 500 pA", "I_e: 0 pA")
        .replace("0:20:5", "0:1")
        .replace("interval: 0.5 ms", "interval: 0.1 ms")
    )
    out = tmp_path / "out.h5"
    neurosim.Simulation(neurosim.load(path), output=out, backend="numpy").run("10 ms")
    with neurosim.open(out) as rec:
        t, data, _ = rec.report("E", "I_syn_ex")
    assert np.isclose(t[0], 0.1)
    first = t[np.nonzero(data[:, 0])[0][0]]
    assert np.isclose(first, 6.0)  # spike generator at 5 ms, delay 1 ms
    assert np.isclose(data[t.searchsorted(6.0 - 1e-9), 0], 100.0)


def test_cli_run_info_and_override(tmp_cwd):
    proc = run_cli(
        "run",
        network("cuba"),
        "-o",
        "short.h5",
        "--duration",
        "100 ms",
        "--seed",
        "7",
        "--backend",
        "numpy",
        "--set",
        "populations.E.size=400",
        "--set",
        "populations.I.size=100",
    )
    assert proc.returncode == 0, proc.stderr
    assert "rate (Hz)" in proc.stdout
    with neurosim.open(tmp_cwd / "short.h5") as rec:
        assert rec.attrs["seed"] == 7 and rec.attrs["t_stop"] == 100.0
        assert rec.population_size("E") == 400
        t, ids = rec.spikes("E")
        assert len(t) > 0 and ids.max() < 400 and t.max() <= 100.0
    proc = run_cli("info", "short.h5")
    assert proc.returncode == 0
    assert "CV ISI" in proc.stdout and "E" in proc.stdout
    # the same command again refuses to replace the output
    proc = run_cli("run", network("cuba"), "-o", "short.h5", "--duration", "1 ms", "--quiet")
    assert proc.returncode == 2


def test_in_memory_and_seed_determinism(tmp_path):
    net = neurosim.load(network("cuba"), ["populations.E.size=400", "populations.I.size=100"])
    runs = []
    for seed in (1, 1, 2):
        sim = neurosim.Simulation(net, backend="numba", seed=seed)
        sim.run("100 ms")
        runs.append(sim.spikes("E"))
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    assert not (len(runs[0][0]) == len(runs[2][0]) and np.array_equal(runs[0][0], runs[2][0]))
