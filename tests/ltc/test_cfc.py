"""CfC cells (``cfc`` populations): ncps parity, backends, conversion, bad input.

Reference data: tests/reference/ncps_reference.npz (cfc_* cases) and ncps_cfc_*.pt,
made by tests/reference/make_ncps_reference.py with ncps 1.0.1 (README_ncps.md).
Tolerances: 1e-10 against ncps in float64 (measured: <= 1.1e-15), 1e-5 in float32
(measured: <= 5e-7); numpy and numba backends agree bit for bit (same arithmetic order,
portable exp and tanh), in float64 and float32.
"""

import json
import math
import os

import numpy as np
import pytest
import yaml

import neurosim
from neurosim.convert import ncps as convert_ncps
from neurosim.io.ncps import readout
from neurosim.models.cfc import ACTIVATIONS
from neurosim.network.spec import SpecError
from tests.conftest import ROOT, run_cli

REF = os.path.join(ROOT, "tests", "reference")
NCPS = os.path.join(REF, "ncps_reference.npz")
CASES = [
    "cfc_default",
    "cfc_default_2layer",
    "cfc_default_irregular",
    "cfc_mixed",
    "cfc_ncp19",
    "cfc_ncp19_irregular",
    "cfc_no_gate",
    "cfc_pure",
    "cfc_pure_irregular",
]


def _case(tmp_path, case):
    """The case's state dict and sequence as .npz files; (config, reference arrays)."""
    z = np.load(NCPS)
    cfg = json.loads(str(z[f"{case}/config_json"]))
    sd = {k.split("/param/")[1]: z[k] for k in z.files if k.startswith(case + "/param/")}
    np.savez(tmp_path / "model.npz", **sd)
    seq = {"inputs": z[f"{case}/inputs"]}
    if cfg["irregular_timespans"]:
        seq["elapsed"] = z[f"{case}/timespans"]
    np.savez(tmp_path / "seq.npz", **seq)
    return cfg, {k: z[f"{case}/{k}"] for k in ("hidden", "outputs")}


def _run(path, backend, out, overrides=()):
    sim = neurosim.Simulation(neurosim.load(path, list(overrides)), backend=backend, output=out)
    sim.run()
    with neurosim.open(out) as rec:
        t, h, _ids = rec.report("cfc", "h")
        assert rec.units("cfc", "h") == "1"
    return t, h


@pytest.mark.parametrize("case", CASES)
def test_cfc_ncps_parity(tmp_path, case):
    cfg, ref = _case(tmp_path, case)
    convert_ncps(
        tmp_path / "model.npz", tmp_path / "net.yaml", tmp_path / "seq.npz", mode=cfg["mode"]
    )
    got = {}
    for backend in ("numpy", "numba"):
        for dtype in ("float64", "float32"):
            t, h = _run(
                tmp_path / "net.yaml",
                backend,
                tmp_path / f"{backend}_{dtype}.h5",
                [f"populations.cfc.params.dtype={dtype}"],
            )
            assert np.array_equal(t, np.arange(1.0, 51.0))
            tol = 1e-10 if dtype == "float64" else 1e-5
            assert np.max(np.abs(h - ref["hidden"])) <= tol, (backend, dtype)
            y = readout(tmp_path / "net_params.npz", h)
            assert np.max(np.abs(y - ref["outputs"])) <= tol, (backend, dtype)
            got[backend, dtype] = h
    for dtype in ("float64", "float32"):  # the same bits on both backends
        assert np.array_equal(got["numpy", dtype], got["numba", dtype])
    assert not np.array_equal(got["numba", "float64"], got["numba", "float32"])


def test_cfc_cli_and_segments(tmp_path):
    """`neurosim convert ncps` from the command line; a run in segments equals one run."""
    cfg, ref = _case(tmp_path, "cfc_no_gate")
    proc = run_cli(
        "convert",
        "ncps",
        tmp_path / "model.npz",
        "-o",
        tmp_path / "net.yaml",
        "--inputs",
        tmp_path / "seq.npz",
        "--mode",
        "no_gate",
    )
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load((tmp_path / "net.yaml").read_text())
    assert doc["populations"]["cfc"]["params"]["mode"] == "no_gate"
    bad = run_cli(
        "convert", "ncps", tmp_path / "model.npz", "-o", tmp_path / "n32.yaml",
        "--inputs", tmp_path / "seq.npz", "--dtype", "float32",
    )  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--dtype" in bad.stderr and "float64 only" in bad.stderr
    assert not (tmp_path / "n32.yaml").exists()
    sim = neurosim.Simulation(neurosim.load(tmp_path / "net.yaml"), output=tmp_path / "s.h5")
    sim.run("20 ms")
    sim.run("30 ms")
    with neurosim.open(tmp_path / "s.h5") as rec:
        h = rec.report("cfc", "h")[1]
    assert np.max(np.abs(h - ref["hidden"])) <= 1e-10
    # mixed memory: the LSTM cell state persists between segments
    cfg, ref = _case(tmp_path, "cfc_mixed")
    convert_ncps(tmp_path / "model.npz", tmp_path / "m.yaml", tmp_path / "seq.npz")
    sim = neurosim.Simulation(neurosim.load(tmp_path / "m.yaml"), output=tmp_path / "m.h5")
    for _ in range(5):
        sim.run("10 ms")
    with neurosim.open(tmp_path / "m.h5") as rec:
        assert np.max(np.abs(rec.report("cfc", "h")[1] - ref["hidden"])) <= 1e-10


def test_cfc_pt_state_dict(tmp_path):
    """The .pt files ncps wrote (read without torch) convert to the same cell."""
    cfg, ref = _case(tmp_path, "cfc_ncp19_irregular")
    convert_ncps(
        os.path.join(REF, "ncps_cfc_ncp19_irregular.pt"), tmp_path / "n.yaml", tmp_path / "seq.npz"
    )
    _t, h = _run(tmp_path / "n.yaml", "numba", tmp_path / "n.h5")
    assert np.max(np.abs(h - ref["hidden"])) <= 1e-10


def _np_step(p, u, h, ts, mode, act, n_backbone):
    """An independent float64 CfC step (numpy's tanh and exp), as in the reference script."""
    erf = np.vectorize(math.erf)
    acts = {
        "lecun_tanh": lambda x: 1.7159 * np.tanh(0.666 * x),
        "tanh": np.tanh,
        "relu": lambda x: np.maximum(x, 0.0),
        "silu": lambda x: x / (1.0 + np.exp(-x)),
        "gelu": lambda x: 0.5 * x * (1.0 + erf(x / np.sqrt(2.0))),
    }
    x = np.concatenate([u, h])
    for i in range(n_backbone):
        x = acts[act](p[f"backbone.{2 * i}.weight"] @ x + p[f"backbone.{2 * i}.bias"])
    f1 = np.tanh(p["ff1.weight"] @ x + p["ff1.bias"])
    f2 = np.tanh(p["ff2.weight"] @ x + p["ff2.bias"])
    z = (p["time_a.weight"] @ x + p["time_a.bias"]) * ts + p["time_b.weight"] @ x + p["time_b.bias"]
    s = 1.0 / (1.0 + np.exp(-z))
    return f1 + s * f2 if mode == "no_gate" else f1 * (1.0 - s) + s * f2


def _random_cell(rng, K, H, U, layers):
    p = {}
    width = K + H
    for i in range(layers):
        p[f"backbone.{2 * i}.weight"] = rng.normal(0, 0.6, (U, width))
        p[f"backbone.{2 * i}.bias"] = rng.normal(0, 0.3, U)
        width = U
    for k in ("ff1", "ff2", "time_a", "time_b"):
        p[f"{k}.weight"] = rng.normal(0, 0.5, (H, width))
        p[f"{k}.bias"] = rng.normal(0, 0.3, H)
    return p


ACTS = ("tanh", "relu", "silu", "gelu")


def _mixed_network(tmp_path, T=30, dt=0.5):
    """cfc populations with every other activation (2 backbone layers, dt = 0.5 ms so
    ts = 0.5), a no_gate cell fed by [series, an LTC population], and an LTC population
    driven by a cfc population through chemical synapses."""
    rng = np.random.default_rng(3)
    K, H, U = 3, 6, 10
    np.savez(tmp_path / "seq.npz", inputs=rng.normal(size=(T, K)))
    cell = _random_cell(rng, K, H, U, 2)
    np.savez(tmp_path / "cell.npz", **cell)
    np.savez(tmp_path / "cell2.npz", **_random_cell(rng, K + 4, 5, 8, 1))
    pops = {"inp": {"model": "time_series", "params": {"file": "seq.npz", "key": "inputs"}}}
    for a in ACTS:
        pops[f"c_{a}"] = {
            "model": "cfc",
            "input": "inp",
            "params": {"file": "cell.npz", "activation": a},
        }
    pops["ltc"] = {
        "size": 4,
        "model": "ltc_neuron",
        "params": {"c_m": 0.5, "g_leak": 0.5},
        "integrator": "exp_midpoint",
    }
    pops["c_mix"] = {
        "model": "cfc",
        "input": ["inp", "ltc"],
        "params": {"file": "cell2.npz", "mode": "no_gate", "dtype": "float32"},
        "initial": {"h": {"uniform": [-0.5, 0.5]}},
    }
    doc = {
        "simulation": {"dt": dt, "duration": T * dt, "seed": 4},
        "populations": pops,
        "projections": [
            {
                "pre": "c_tanh",
                "post": "ltc",
                "rule": "all_to_all",
                "synapse": {"model": "ltc_synapse", "params": {"w": 0.5, "gamma": 3, "E_rev": 1}},
            }
        ],
    }
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path, cell


def test_cfc_activations_and_mixed_networks(tmp_path):
    path, cell = _mixed_network(tmp_path)
    rec = {}
    for backend in ("numpy", "numba"):
        out = tmp_path / f"{backend}.h5"
        sim = neurosim.Simulation(neurosim.load(path), backend=backend, output=out)
        sim.run()
        with neurosim.open(out) as r:
            rec[backend] = {p: r.report(p, r.variables(p)[0])[1] for p in r.report_populations}
    assert sorted(rec["numba"]) == sorted([f"c_{a}" for a in ACTS] + ["c_mix", "ltc"])
    for p in rec["numba"]:
        assert np.array_equal(rec["numpy"][p], rec["numba"][p]), p
    u = np.load(tmp_path / "seq.npz")["inputs"]
    for a in ACTS:
        h, hs = np.zeros(6), []
        for k in range(len(u)):
            h = _np_step(cell, u[k], h, 0.5, "default", a, 2)
            hs.append(h)
        assert np.max(np.abs(rec["numba"][f"c_{a}"] - np.array(hs))) <= 1e-12, a
    # the activations differ, and the LTC population moved under cfc input
    assert not np.allclose(rec["numba"]["c_tanh"], rec["numba"]["c_relu"])
    assert np.ptp(rec["numba"]["ltc"]) > 0.1
    assert np.all(rec["numba"]["c_mix"] == rec["numba"]["c_mix"].astype(np.float32))


def test_portable_tanh_and_activations():
    from neurosim.backends import cfc_numba as cb
    from neurosim.backends import cfc_numpy as cn

    x = np.concatenate(
        [
            np.linspace(-25.0, 25.0, 100001),
            np.geomspace(1e-300, 40.0, 5000),
            -np.geomspace(1e-300, 40.0, 5000),
            [0.0, np.inf, -np.inf, cn.TANH_SMALL, np.nextafter(cn.TANH_SMALL, 0.0)],
        ]
    )
    t = cn.ptanh(x)
    ref = np.tanh(x)
    ulps = np.abs(t - ref) / np.spacing(np.maximum(np.abs(ref), 1e-300))
    assert ulps.max() <= 4.0

    for code, _name in enumerate(ACTIVATIONS):
        with np.errstate(invalid="ignore"):  # gelu(-inf) = -inf * 0
            out = np.empty_like(x)
            cb.activation(code, x, out)
            assert np.array_equal(out, cn.activation(code, x), equal_nan=True)


def test_cfc_bad_input(tmp_path):
    path, cell = _mixed_network(tmp_path, T=5)
    base = yaml.safe_load(path.read_text())
    np.savez(tmp_path / "short.npz", **dict(cell, **{"ff2.weight": np.zeros((6, 9))}))
    np.savez(tmp_path / "nan.npz", **dict(cell, **{"time_b.bias": np.full(6, np.nan)}))
    nogate = {k: v for k, v in cell.items() if not k.startswith("time_a")}
    np.savez(tmp_path / "notime.npz", **nogate)
    bad = [
        ({"file": "missing.npz"}, None, ["populations.c_tanh.params.file", "file not found"]),
        ({"file": "short.npz"}, None, ["params.file", "ff2.weight", "expected shape (6, 10)"]),
        ({"file": "nan.npz"}, None, ["time_b.bias", "NaN"]),
        ({"file": "notime.npz"}, None, ["time_a.weight", "missing"]),
        ({"file": "cell.npz", "mode": "defualt"}, None, ["params.mode", "did you mean 'default'"]),
        ({"file": "cell.npz", "mode": "pure"}, None, ["ff2.weight", "not mode pure"]),
        ({"file": "cell.npz", "activation": "elu"}, None, ["params.activation", "lecun_tanh"]),
        ({"file": "cell.npz", "dtype": "float16"}, None, ["params.dtype"]),
        ({"file": "cell.npz"}, {"input": "ltc"}, ["c_tanh.input", "4 values", "takes 3"]),
        ({"file": "cell.npz"}, {"input": "nope"}, ["c_tanh.input", "unknown input population"]),
        ({"file": "cell.npz"}, {"size": 7}, ["c_tanh.size", "has 6 units"]),
        ({"file": "cell.npz"}, {"initial": {"v": 0}}, ["c_tanh.initial.v", "unknown state"]),
    ]
    for params, extra, words in bad:
        doc = yaml.safe_load(yaml.safe_dump(base))
        doc["populations"]["c_tanh"]["params"] = params
        doc["populations"]["c_tanh"].update(extra or {})
        p = tmp_path / "bad.yaml"
        p.write_text(yaml.safe_dump(doc))
        with pytest.raises(SpecError) as exc:
            neurosim.load(p)
        msg = str(exc.value)
        assert "\n" not in msg and msg.startswith(str(p)), msg
        for w in words:
            assert w in msg, (w, msg)
    doc = yaml.safe_load(yaml.safe_dump(base))
    doc["record"] = {"state": [{"population": "c_relu", "variables": ["v"]}]}
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(SpecError, match="unknown state variable 'v' of cfc"):
        neurosim.load(p)
    # the command line: exit status 2, one line, nothing written
    doc = yaml.safe_load(yaml.safe_dump(base))
    doc["populations"]["c_tanh"]["params"] = {"file": "short.npz"}
    p.write_text(yaml.safe_dump(doc))
    proc = run_cli("run", p, "-o", tmp_path / "o.h5", "--quiet")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "ff2.weight" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / "o.h5")
    z = np.load(NCPS)
    sd = {k.split("/param/")[1]: z[k] for k in z.files if k.startswith("cfc_ncp19/param/")}
    sd["rnn_cell.layer_1.ff1.weight"] = np.zeros((6, 14))
    np.savez(tmp_path / "w.npz", **sd)
    np.savez(tmp_path / "seq.npz", inputs=z["cfc_ncp19/inputs"])
    proc = run_cli(
        "convert",
        "ncps",
        tmp_path / "w.npz",
        "-o",
        tmp_path / "w.yaml",
        "--inputs",
        tmp_path / "seq.npz",
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "layer_1.ff1.weight" in proc.stderr and "w.npz" in proc.stderr
    assert not os.path.exists(tmp_path / "w.yaml")
    assert not os.path.exists(tmp_path / "w_params.npz")
    with pytest.raises(SpecError, match="inputs.*expected numbers of shape"):
        sd["rnn_cell.layer_1.ff1.weight"] = z["cfc_ncp19/param/rnn_cell.layer_1.ff1.weight"]
        np.savez(tmp_path / "seq3.npz", inputs=np.zeros((5, 3)))
        convert_ncps(None, tmp_path / "w.yaml", tmp_path / "seq3.npz", state_dict=sd)
