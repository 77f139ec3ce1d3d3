"""LTC networks: closed form against ODE solvers, backends, ncps parity, bad input."""

import json
import os

import numpy as np
import pytest
import yaml
from scipy.integrate import solve_ivp

import neurosim
from neurosim.io.ncps import readout
from tests.conftest import ROOT, network, run_cli

NCPS = os.path.join(ROOT, "tests", "reference", "ncps_reference.npz")


def _series_net(tmp_path, n, k, T, method, substeps=1, dt=1.0, gaps=True, seed=0, inputs=None):
    rng = np.random.default_rng(seed)
    np.savez(tmp_path / "seq.npz", inputs=rng.normal(size=(T, k)) if inputs is None else inputs)
    pre, post = np.nonzero(rng.random((n, n)) < 0.5)
    np.savez(
        tmp_path / "syn.npz",
        pre=pre,
        post=post,
        w=rng.uniform(0.05, 1, len(pre)),
        gamma=rng.uniform(2, 6, len(pre)),
        mu=rng.uniform(-0.3, 0.3, len(pre)),
        E_rev=rng.choice([-1.0, 1.0], len(pre)),
    )
    spre, spost = np.nonzero(np.ones((k, n)))
    np.savez(
        tmp_path / "sens.npz",
        pre=spre,
        post=spost,
        w=rng.uniform(0.05, 1, len(spre)),
        gamma=rng.uniform(2, 6, len(spre)),
        mu=rng.uniform(-0.3, 0.3, len(spre)),
        E_rev=rng.choice([-1.0, 1.0], len(spre)),
    )
    doc = {
        "simulation": {"dt": dt, "duration": T * dt, "seed": 1},
        "populations": {
            "inp": {"model": "time_series", "params": {"file": "seq.npz", "key": "inputs"}},
            "ltc": {
                "size": n,
                "model": "ltc_neuron",
                "params": {
                    "c_m": {"uniform": [0.4, 0.6]},
                    "g_leak": {"uniform": [0.1, 1]},
                    "v_leak": {"uniform": [-0.2, 0.2]},
                },
                "initial": {"v": {"uniform": [-0.5, 0.5]}},
                "integrator": {"method": method, "substeps": substeps},
            },
        },
        "projections": [
            {"pre": "inp", "post": "ltc", "rule": {"from_file": {"path": "sens.npz"}}},
            {"pre": "ltc", "post": "ltc", "rule": {"from_file": {"path": "syn.npz"}}},
        ],
    }
    if gaps:
        doc["projections"].append(
            {
                "pre": "ltc",
                "post": "ltc",
                "rule": {"fixed_indegree": {"k": 2}},
                "synapse": {"model": "gap_junction", "params": {"g": 0.2}},
            }
        )
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _run(path, backend, overrides=(), out=None):
    sim = neurosim.Simulation(neurosim.load(path, list(overrides)), backend=backend, output=out)
    v0 = sim.get("ltc", "v")
    sim.run()
    if out is None:
        return v0, sim.get("ltc", "v")
    with neurosim.open(out) as rec:
        return v0, rec.report("ltc", "v")[1]


@pytest.mark.parametrize("stiff", [0.01, 1.0, 10.0, 50.0])
def test_closed_form_exact_under_frozen_input(tmp_path, stiff):
    """One neuron, constant sensory input: the closed form is the exact solution."""
    n, k, T, dt = 3, 2, 5, 1.0
    u = np.tile([[0.3, -0.2]], (T, 1))
    path = _series_net(tmp_path, n, k, T, "closed_form", gaps=False, inputs=u)
    doc = yaml.safe_load(path.read_text())
    doc["projections"] = doc["projections"][:1]  # sensory only: inputs frozen per step
    # (g_leak + G) dt / c_m up to `stiff`
    doc["populations"]["ltc"]["params"] = {"c_m": 1.0, "g_leak": stiff, "v_leak": 0.1}
    path.write_text(yaml.safe_dump(doc))
    net = neurosim.load(path)
    sim = neurosim.Simulation(net, backend="numba")
    v0 = sim.get("ltc", "v")
    b = sim.built
    x = np.concatenate([v0, b.inputs_at(0)])
    s = 1.0 / (1.0 + np.exp(-b.gamma * (x[b.src] - b.mu)))
    tgt = np.repeat(np.arange(n), np.diff(b.tptr))
    G = np.bincount(tgt, b.w * s, n)
    GE = np.bincount(tgt, b.w * s * b.E, n)

    def f(_t, v):
        return (b.g_leak * (b.v_leak - v) + GE - G * v) / b.c_m

    ref = solve_ivp(f, (0, T * dt), v0, method="DOP853", rtol=1e-13, atol=1e-15).y[:, -1]
    sim.run()
    assert np.max(np.abs(sim.get("ltc", "v") - ref)) <= 1e-10
    assert ((b.g_leak + G) * dt / b.c_m).max() >= stiff


@pytest.mark.parametrize("method", ["closed_form", "exp_midpoint", "euler", "rk4", "ltc_fused"])
def test_numba_equals_numpy(tmp_path, method):
    path = _series_net(tmp_path, 12, 3, 30, method, substeps=3)
    _, a = _run(path, "numpy", out=tmp_path / "a.h5")
    _, b = _run(path, "numba", out=tmp_path / "b.h5")
    assert a.shape == (30, 12) and np.array_equal(a, b)
    assert np.ptp(a) > 0.1


def test_orders_and_stability(tmp_path):
    """exp_midpoint converges at second order, closed_form at first; both stay bounded
    at a step where explicit Euler and RK4 blow up."""
    path = _series_net(tmp_path, 10, 3, 20, "closed_form", gaps=True)
    ref = _run(path, "numpy", ["populations.ltc.integrator.method=adaptive"])[1]
    err = {}
    for m in ("closed_form", "exp_midpoint"):
        e = []
        for sub in (8, 16, 32):
            v = _run(
                path,
                "numba",
                [
                    f"populations.ltc.integrator.method={m}",
                    f"populations.ltc.integrator.substeps={sub}",
                ],
            )[1]
            e.append(np.max(np.abs(v - ref)))
        err[m] = e
    r1 = err["closed_form"][1] / err["closed_form"][2]
    r2 = err["exp_midpoint"][1] / err["exp_midpoint"][2]
    assert 1.6 < r1 < 2.4, err
    assert 3.2 < r2 < 4.8, err
    # stiff: c_m small, a whole time unit per step
    stiff = ["populations.ltc.params.c_m=0.01", "populations.ltc.integrator.substeps=1"]
    for m in ("closed_form", "exp_midpoint"):
        v = _run(path, "numba", stiff + [f"populations.ltc.integrator.method={m}"])[1]
        assert np.all(np.isfinite(v)) and np.abs(v).max() <= 2.0
    for m in ("euler", "rk4"):
        v = _run(path, "numba", stiff + [f"populations.ltc.integrator.method={m}"])[1]
        assert not np.all(np.abs(v) <= 2.0)


CASES = ["ltc_fc8", "ltc_ncp19", "ltc_fc8_irregular", "ltc_fc8_explicit"]


@pytest.mark.parametrize("case", CASES)
def test_ncps_parity(tmp_path, case):
    z = np.load(NCPS)
    cfg = json.loads(str(z[f"{case}/config_json"]))
    sd = {k.split("/param/")[1]: z[k] for k in z.files if k.startswith(case + "/param/")}
    np.savez(tmp_path / "model.npz", **sd)
    seq = {"inputs": z[f"{case}/inputs"]}
    if cfg["irregular_timespans"]:
        seq["elapsed"] = z[f"{case}/timespans"]
    np.savez(tmp_path / "seq.npz", **seq)
    args = [
        "convert",
        "ncps",
        tmp_path / "model.npz",
        "-o",
        tmp_path / "net.yaml",
        "--inputs",
        tmp_path / "seq.npz",
        "--ode-unfolds",
        cfg["ode_unfolds"],
    ]
    if not cfg["implicit_param_constraints"]:
        args.append("--no-implicit-constraints")
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    for backend in ("numpy", "numba"):
        _, v = _run(tmp_path / "net.yaml", backend, out=tmp_path / f"{backend}.h5")
        assert np.max(np.abs(v - z[f"{case}/hidden"])) <= 1e-10
        y = readout(tmp_path / "net_params.npz", v)
        assert np.max(np.abs(y - z[f"{case}/outputs"])) <= 1e-10
    # float32 recording keeps 1e-5
    doc = yaml.safe_load((tmp_path / "net.yaml").read_text())
    doc["record"]["state"][0]["dtype"] = "float32"
    (tmp_path / "net32.yaml").write_text(yaml.safe_dump(doc))
    _, v = _run(tmp_path / "net32.yaml", "numba", out=tmp_path / "f32.h5")
    assert v.dtype == np.float32 and np.max(np.abs(v - z[f"{case}/hidden"])) <= 1e-5


def test_ncps_bad_input(tmp_path):
    z = np.load(NCPS)
    sd = {k.split("/param/")[1]: z[k] for k in z.files if k.startswith("ltc_fc8/param/")}
    np.savez(tmp_path / "seq.npz", inputs=z["ltc_fc8/inputs"])
    cases = {
        "shape": dict(sd, **{"rnn_cell.mu": np.zeros((3, 3))}),
        "nan": dict(sd, **{"rnn_cell.gleak": np.full(8, np.nan)}),
        "dtype": dict(sd, **{"rnn_cell.cm": np.array(["a"] * 8)}),
    }
    words = {
        "shape": ["mu", "expected shape (8, 8)"],
        "nan": ["gleak", "NaN"],
        "dtype": ["cm", "expected numbers"],
    }
    for name, d in cases.items():
        np.savez(tmp_path / f"{name}.npz", **d)
        proc = run_cli(
            "convert",
            "ncps",
            tmp_path / f"{name}.npz",
            "-o",
            tmp_path / f"{name}.yaml",
            "--inputs",
            tmp_path / "seq.npz",
        )
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        for w in words[name]:
            assert w in proc.stderr, (w, proc.stderr)
        assert not os.path.exists(tmp_path / f"{name}.yaml")
        assert not os.path.exists(tmp_path / f"{name}_params.npz")
    # a pickled object inside an .npz is refused, never unpickled
    evil = np.empty(1, dtype=object)
    evil[0] = {"payload": "x"}
    np.savez(tmp_path / "evil.npz", gleak=evil)
    proc = run_cli(
        "convert",
        "ncps",
        tmp_path / "evil.npz",
        "-o",
        tmp_path / "evil.yaml",
        "--inputs",
        tmp_path / "seq.npz",
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert not os.path.exists(tmp_path / "evil.yaml")


def test_ltc_bad_network(tmp_path):
    path = _series_net(tmp_path, 4, 2, 5, "closed_form", gaps=False)
    doc = yaml.safe_load(path.read_text())
    np.savez(tmp_path / "bad.npz", c_m=np.ones(3), nan=np.array([1.0, np.nan, 1, 1]))
    for patch, words in [
        ({"c_m": {"file": "bad.npz", "key": "c_m"}}, ["populations.ltc.params.c_m", "(4,)"]),
        ({"g_leak": {"file": "bad.npz", "key": "nan"}}, ["g_leak", "NaN"]),
        ({"c_m": {"file": "bad.npz", "key": "nope"}}, ["no array 'nope'"]),
        ({"tau": 3}, ["unknown parameter", "ltc_neuron"]),
    ]:
        d = yaml.safe_load(yaml.safe_dump(doc))
        d["populations"]["ltc"]["params"] = patch
        p = tmp_path / "b.yaml"
        p.write_text(yaml.safe_dump(d))
        proc = run_cli("run", p, "-o", tmp_path / "o.h5", "--quiet")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        for w in words:
            assert w in proc.stderr, (w, proc.stderr)
        assert not os.path.exists(tmp_path / "o.h5")


@pytest.mark.parametrize("model,key", [("ltc_synapse", "w"), ("gap_junction", "g")])
def test_ltc_negative_conductance_is_refused(tmp_path, model, key):
    path = _series_net(tmp_path, 4, 2, 5, "closed_form", gaps=False)
    doc = yaml.safe_load(path.read_text())
    doc["projections"].append(
        {
            "pre": "ltc",
            "post": "ltc",
            "rule": "one_to_one",
            "synapse": {"model": model, "params": {key: "-0.5 nS"}},
        }
    )
    p = tmp_path / "neg.yaml"
    p.write_text(yaml.safe_dump(doc))
    proc = run_cli("validate", p)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"synapse.params.{key}" in proc.stderr and "conductance >= 0" in proc.stderr


def test_celegans_runs_offline(tmp_cwd):
    proc = run_cli("run", network("celegans"), "-o", "ce.h5", "--duration", "20 ms", "--quiet")
    assert proc.returncode == 0, proc.stderr
    with neurosim.open(tmp_cwd / "ce.h5") as rec:
        t, v, ids = rec.report("neurons", "v")
    assert v.shape == (200, 302) and np.all(np.isfinite(v)) and np.ptp(v) > 0.1
