"""Closed-form propagators of the built-in neuron models against independent references.

References: the matrix exponential of the full linear system (scipy.linalg.expm and
mpmath at 50 digits), analytic traces (DC charging, single PSPs), the analytic mean
of the conductances, and a tight scipy ODE solve for the order of the conductance
models' scheme.  Every step is iterated here, following the tick order of
``neurosim.models.base``.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
import scipy.linalg
from scipy.integrate import solve_ivp

from neurosim.models import MODEL_NAMES, MODELS, THRESHOLD_PARAMS, get_model
from neurosim.models.iaf_psc_alpha import psi_1mu, psi_u
from neurosim.models.iaf_psc_exp import psi

mp.mp.dps = 50

DTS = (0.01, 0.1, 1.0)
# tau_m / tau_syn; the "ex" synapse gets tau_m / ratio, the "in" synapse tau_m * ratio,
# so both sides of the singular point tau_m == tau_syn are covered.
RATIOS = (1 + 1e-6, 1 + 1e-9, 1 + 1e-12, 1.0, 0.5, 10.0)
CURRENT = ("iaf_psc_delta", "iaf_psc_exp", "iaf_psc_alpha")
CONDUCTANCE = ("iaf_cond_exp", "iaf_cond_alpha")
ROOT = Path(__file__).resolve().parents[2]


def params_of(name, n=1, **over):
    """Default parameters of model ``name`` as (n,) float64 arrays, with overrides."""
    p = {k: e.default for k, e in get_model(name).params.items()}
    p.update(over)
    return {k: np.full(n, float(v)) for k, v in p.items()}


def ratio_params(name, ratio, **over):
    """Parameters with tau_syn_ex = tau_m / ratio and tau_syn_in = tau_m * ratio."""
    tau_m = 10.0 if name in CURRENT else 250.0 / 16.6667
    p = {"tau_syn_ex": tau_m / ratio, "tau_syn_in": tau_m * ratio}
    if name in CURRENT:
        p["tau_m"] = tau_m
    p.update(over)
    return params_of(name, **p)


def scalars(p):
    return {k: float(v[0]) for k, v in p.items()}


# --------------------------------------------------------------------------------------
# Continuous-time linear systems, written out independently of the model files.
# --------------------------------------------------------------------------------------


def syn_generator(name, q):
    """(A_syn, names): d syn/dt = A_syn syn for the synaptic states of model ``name``."""
    inv = {x: 1 / q[f"tau_syn_{x}"] for x in ("ex", "in")} if "tau_syn_ex" in q else {}
    if name == "iaf_psc_delta":
        return [], ()
    if name in ("iaf_psc_exp", "iaf_cond_exp"):
        return [[-inv["ex"], 0], [0, -inv["in"]]], tuple(get_model(name).syn_state)
    # alpha: (d, g) pairs with d' = -d / tau, g' = d - g / tau
    A = [[0] * 4 for _ in range(4)]
    for i, x in enumerate(("ex", "in")):
        A[2 * i][2 * i] = -inv[x]
        A[2 * i + 1][2 * i] = 1
        A[2 * i + 1][2 * i + 1] = -inv[x]
    return A, tuple(get_model(name).syn_state)


def current_generator(name, q):
    """Generator of state [syn..., V, 1] of a current-based model (entries in ``q``'s type)."""
    A_syn, syn = syn_generator(name, q)
    S = len(syn)
    A = [[0] * (S + 2) for _ in range(S + 2)]
    for i in range(S):
        for j in range(S):
            A[i][j] = A_syn[i][j]
    currents = {"iaf_psc_exp": (0, 1), "iaf_psc_alpha": (1, 3), "iaf_psc_delta": ()}[name]
    for j in currents:
        A[S][j] = 1 / q["C_m"]
    A[S][S] = -1 / q["tau_m"]
    A[S][S + 1] = q["E_L"] / q["tau_m"] + q["I_e"] / q["C_m"]
    return A


def assembled_current(prop, E_L, I_e):
    """The affine map of one tick of a current model as a matrix on [syn..., V, 1]."""
    S = prop.P_syn.shape[1]
    M = np.zeros((S + 2, S + 2))
    M[:S, :S] = prop.P_syn[0]
    M[S, :S] = prop.P_Vsyn[0]
    M[S, S] = prop.P_VV[0]
    M[S, S + 1] = E_L * (1 - prop.P_VV[0]) + prop.P_VI[0] * I_e
    M[S + 1, S + 1] = 1.0
    return M


def mp_expm(A, h):
    """exp(A h) at 50 digits, A given as floats (converted exactly) or mpf."""
    Am = mp.matrix([[mp.mpf(x) for x in row] for row in A])
    E = mp.expm(Am * mp.mpf(h))
    return np.array([[float(E[i, j]) for j in range(E.cols)] for i in range(E.rows)])


def assert_close_global(P, R, what):
    tol = 1e-12 * np.max(np.abs(R)) + 1e-15
    err = np.max(np.abs(P - R))
    assert err <= tol, f"{what}: max |dP| = {err:.3e} > {tol:.3e}"


def assert_close_entrywise(P, R, what, rtol=1e-14):
    """Each entry to ``rtol`` relative to itself (much stricter than the global test)."""
    bad = np.abs(P - R) > rtol * np.abs(R) + 1e-300
    assert not bad.any(), f"{what}: entries {np.argwhere(bad).tolist()}\n{P}\n{R}"


# --------------------------------------------------------------------------------------
# Registry and tables
# --------------------------------------------------------------------------------------

NEST_DEFAULTS = {
    "iaf_psc_delta": dict(C_m=250, tau_m=10, t_ref=2, E_L=-70, V_reset=-70, V_th=-55, I_e=0),
    "iaf_psc_exp": dict(
        C_m=250,
        tau_m=10,
        t_ref=2,
        E_L=-70,
        V_reset=-70,
        V_th=-55,
        I_e=0,
        tau_syn_ex=2,
        tau_syn_in=2,
    ),
    "iaf_psc_alpha": dict(
        C_m=250,
        tau_m=10,
        t_ref=2,
        E_L=-70,
        V_reset=-70,
        V_th=-55,
        I_e=0,
        tau_syn_ex=2,
        tau_syn_in=2,
    ),
    "iaf_cond_exp": dict(
        C_m=250,
        g_L=16.6667,
        E_ex=0,
        E_in=-85,
        tau_syn_ex=0.2,
        tau_syn_in=2,
        V_th=-55,
        V_reset=-60,
        t_ref=2,
        E_L=-70,
        I_e=0,
    ),
    "iaf_cond_alpha": dict(
        C_m=250,
        g_L=16.6667,
        E_ex=0,
        E_in=-85,
        tau_syn_ex=0.2,
        tau_syn_in=2,
        V_th=-55,
        V_reset=-60,
        t_ref=2,
        E_L=-70,
        I_e=0,
    ),
}
LAYOUT = {  # state names after V_m, receptor_state, weight unit
    "iaf_psc_delta": ((), (-1, -1), "mV"),
    "iaf_psc_exp": (("I_syn_ex", "I_syn_in"), (0, 1), "pA"),
    "iaf_psc_alpha": (("dI_syn_ex", "I_syn_ex", "dI_syn_in", "I_syn_in"), (0, 2), "pA"),
    "iaf_cond_exp": (("g_ex", "g_in"), (0, 1), "nS"),
    "iaf_cond_alpha": (("dg_ex", "g_ex", "dg_in", "g_in"), (0, 2), "nS"),
}


def test_registry():
    assert set(MODEL_NAMES) == set(NEST_DEFAULTS)
    aliases = {
        "IF_curr_exp": "iaf_psc_exp",
        "IF_curr_alpha": "iaf_psc_alpha",
        "IF_cond_exp": "iaf_cond_exp",
        "IF_cond_alpha": "iaf_cond_alpha",
        "IF_curr_delta": "iaf_psc_delta",
    }
    for alias, name in aliases.items():
        assert get_model(alias) is get_model(name) is MODELS[name]
        assert get_model(name).name == name
    with pytest.raises(KeyError):
        get_model("iaf_psc_nonexistent")


@pytest.mark.parametrize("name", sorted(NEST_DEFAULTS))
def test_tables(name):
    m = get_model(name)
    for k, v in NEST_DEFAULTS[name].items():
        assert m.params[k].default == v, k
    extra = set(m.params) - set(NEST_DEFAULTS[name]) - {"V_min"}
    assert not extra, extra
    assert m.params["V_min"].default == -math.inf
    assert set(THRESHOLD_PARAMS) <= set(m.params)
    states, rstate, wunit = LAYOUT[name]
    assert list(m.state)[0] == "V_m"
    assert m.state["V_m"].default == m.params["E_L"].default
    assert m.syn_state == states
    assert m.receptors == ("ex", "in")
    assert m.weight_unit == wunit
    assert m.conductance_weights == (name in CONDUCTANCE)
    assert m.doc and name in m.doc
    for e in (*m.params.values(), *m.state.values()):
        assert e.unit and e.doc
    # shapes, for a group of 3 neurons with different parameters
    n = 3
    p = params_of(name, n=n)
    p["C_m"] = np.array([100.0, 250.0, 400.0])
    if "tau_syn_ex" in p:
        p["tau_syn_ex"] = np.array([0.5, 2.0, 10.0])
    P = m.propagator(p, 0.1)
    S, C = len(states), (2 if name in CONDUCTANCE else 0)
    assert P.membrane == ("conductance" if C else "current")
    assert P.P_syn.shape == (n, S, S)
    assert P.P_VV.shape == P.P_VI.shape == (n,)
    assert P.P_Vsyn.shape == (n, S)
    assert P.G_avg.shape == (n, C, S)
    assert P.E_rev.shape == (n, C)
    assert tuple(P.receptor_state) == rstate
    assert P.receptor_state.dtype.kind == "i"
    assert P.receptor_gain.shape == (n, 2)
    # rows equal single-neuron propagators
    for i in range(n):
        Pi = m.propagator({k: v[i : i + 1] for k, v in p.items()}, 0.1)
        for f in ("P_syn", "P_VV", "P_VI", "P_Vsyn", "G_avg", "E_rev", "receptor_gain"):
            np.testing.assert_array_equal(getattr(P, f)[i], getattr(Pi, f)[0], err_msg=f)


@pytest.mark.parametrize("name", sorted(NEST_DEFAULTS))
def test_receptor_gain_gives_peak_w(name):
    """A weight w gives a PSC / conductance of peak w (alpha: at t = tau_syn)."""
    m = get_model(name)
    if not m.syn_state:  # iaf_psc_delta: w is the jump of V_m
        P = m.propagator(params_of(name), 0.1)
        np.testing.assert_array_equal(P.receptor_gain, [[1.0, 1.0]])
        return
    p = params_of(name, tau_syn_ex=2.0, tau_syn_in=3.0)
    h, w = 0.1, 7.5
    P = m.propagator(p, h)
    alpha = "alpha" in name
    for r, (x, tau) in enumerate((("ex", 2.0), ("in", 3.0))):
        syn = np.zeros(P.P_syn.shape[1])
        syn[P.receptor_state[r]] += P.receptor_gain[0, r] * w
        prefix = "g_" if "cond" in name else "I_syn_"
        g_index = m.syn_state.index(prefix + x)
        trace = [syn[g_index]]
        for _ in range(100):
            syn = P.P_syn[0] @ syn
            trace.append(syn[g_index])
        trace = np.array(trace)
        if alpha:
            k = round(tau / h)
            assert abs(trace[k] - w) <= 1e-13 * w
            assert np.all(trace <= w * (1 + 1e-14))
        else:
            assert trace[0] == w


# --------------------------------------------------------------------------------------
# Closed-form special functions
# --------------------------------------------------------------------------------------


def test_phi_functions_against_mpmath():
    xs = np.concatenate(
        [[0.0, 1e-300, 5e-324, 1.0, 1 - 1e-16, 1 + 2e-16], np.logspace(-20, 3, 300)]
    )

    # confluent hypergeometric forms: no cancellation, accurate for every x
    def ref_psi(x):
        return float(mp.hyp1f1(1, 2, -x))  # -expm1(-x) / x

    def ref_u(x):
        return float(mp.hyp1f1(2, 3, -x) / 2)  # (1 - (1 + x) e^-x) / x^2

    def ref_1mu(x):
        return float(mp.hyp1f1(1, 3, -x) / 2)  # (x - 1 + e^-x) / x^2

    for f, ref in ((psi, ref_psi), (psi_u, ref_u), (psi_1mu, ref_1mu)):
        got = f(xs)
        want = np.array([ref(mp.mpf(float(x))) for x in xs])
        rel = np.abs(got - want) / want
        assert rel.max() <= 4e-16, (f.__name__, xs[rel.argmax()], rel.max())


# --------------------------------------------------------------------------------------
# Propagators vs. the matrix exponential of the full linear system
# --------------------------------------------------------------------------------------


def name_ratio(ratios):
    """(model, ratio) pairs; iaf_psc_delta has no tau_syn, so one ratio suffices."""
    return [("iaf_psc_delta", 1.0)] + [(m, r) for m in CURRENT[1:] for r in ratios]


@pytest.mark.parametrize(("name", "ratio"), name_ratio(RATIOS))
@pytest.mark.parametrize("dt", DTS)
def test_current_propagator_is_exact(name, ratio, dt):
    p = (
        ratio_params(name, ratio, I_e=376.0)
        if name != "iaf_psc_delta"
        else params_of(name, I_e=376.0)
    )
    q = scalars(p)
    P = assembled_current(get_model(name).propagator(p, dt), q["E_L"], q["I_e"])
    A_mp = current_generator(name, {k: mp.mpf(v) for k, v in q.items()})
    R_mp = mp_expm(A_mp, dt)
    R_sp = scipy.linalg.expm(np.array(current_generator(name, q), dtype=float) * dt)
    assert_close_global(P, R_mp, "vs mpmath")
    assert_close_global(P, R_sp, "vs scipy expm")
    # every entry except the affine column (which mixes E_L and I_e terms), to 1e-14
    assert_close_entrywise(P[:, :-1], R_mp[:, :-1], "vs mpmath, entrywise")
    # the input-current propagator alone
    S = P.shape[0] - 2
    Pm = get_model(name).propagator(p, dt)
    P_VI_ref = float(-mp.mpf(q["tau_m"]) / q["C_m"] * mp.expm1(-mp.mpf(dt) / q["tau_m"]))
    assert abs(Pm.P_VI[0] - P_VI_ref) <= 1e-15 * abs(P_VI_ref)
    assert P[S, S] == pytest.approx(R_mp[S, S], rel=1e-15)


@pytest.mark.parametrize("name", CONDUCTANCE)
@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("dt", DTS)
def test_conductance_propagator_is_exact(name, ratio, dt):
    """P_syn = exp(A h); G_avg = (1/h) int_0^h exp(A s) ds restricted to the g rows."""
    p = ratio_params(name, ratio)
    q = {k: mp.mpf(v) for k, v in scalars(p).items()}
    A_syn, syn = syn_generator(name, q)
    S = len(syn)
    # augmented generator [[A, I], [0, 0]]: exp(.. h) = [[exp(A h), int_0^h exp(A s) ds], ..]
    aug = [[0] * (2 * S) for _ in range(2 * S)]
    for i in range(S):
        for j in range(S):
            aug[i][j] = A_syn[i][j]
        aug[i][S + i] = 1
    E = mp_expm(aug, dt)
    prop = get_model(name).propagator(p, dt)
    g_rows = [syn.index("g_ex"), syn.index("g_in")]
    G_ref = E[:S, S:][g_rows] / dt
    assert_close_global(prop.P_syn[0], E[:S, :S], "P_syn")
    assert_close_entrywise(prop.P_syn[0], E[:S, :S], "P_syn entrywise")
    assert_close_global(prop.G_avg[0], G_ref, "G_avg")
    assert_close_entrywise(prop.G_avg[0], G_ref, "G_avg entrywise")
    np.testing.assert_array_equal(prop.E_rev[0], [p["E_ex"][0], p["E_in"][0]])
    assert not prop.P_VV.any() and not prop.P_VI.any() and not prop.P_Vsyn.any()
    R_sp = scipy.linalg.expm(np.array(A_syn, dtype=float) * dt)
    assert_close_global(prop.P_syn[0], R_sp, "P_syn vs scipy expm")


@pytest.mark.parametrize("name", CONDUCTANCE)
@pytest.mark.parametrize("dt", DTS)
def test_mean_conductance_matches_analytic_mean(name, dt):
    rng = np.random.default_rng(1)
    p = params_of(name, tau_syn_ex=0.7, tau_syn_in=2.0)
    prop = get_model(name).propagator(p, dt)
    h = mp.mpf(dt)
    for _ in range(5):
        syn = rng.uniform(0.0, 50.0, prop.P_syn.shape[1])
        got = prop.G_avg[0] @ syn
        for c, x in enumerate(("ex", "in")):
            tau = mp.mpf(p[f"tau_syn_{x}"][0])
            e = mp.exp(-h / tau)
            if name == "iaf_cond_exp":
                g0, dg0 = mp.mpf(syn[c]), 0
            else:
                dg0, g0 = mp.mpf(syn[2 * c]), mp.mpf(syn[2 * c + 1])
            # (1/h) int_0^h (g0 + dg0 s) exp(-s / tau) ds
            mean = (g0 * tau * (1 - e) + dg0 * (tau**2 * (1 - e) - tau * h * e)) / h
            assert abs(got[c] - float(mean)) <= 1e-14 * float(mean), (c, got[c], mean)


# --------------------------------------------------------------------------------------
# Traces, iterating the tick of base.py (no threshold)
# --------------------------------------------------------------------------------------


def run(name, p, dt, nsteps, V0, syn0=None, inputs=None):
    """V at the end of each of ``nsteps`` ticks; ``inputs[k]`` = weights per receptor."""
    m = get_model(name)
    P = m.propagator(p, dt)
    q = scalars(p)
    syn = np.zeros(P.P_syn.shape[1]) if syn0 is None else np.array(syn0, dtype=float)
    V = V0
    out = np.empty(nsteps)
    for k in range(nsteps):
        if P.membrane == "current":
            V = q["E_L"] + P.P_VV[0] * (V - q["E_L"]) + P.P_Vsyn[0] @ syn + P.P_VI[0] * q["I_e"]
        else:
            gbar = P.G_avg[0] @ syn
            g_tot = q["g_L"] + gbar.sum()
            V_inf = (q["g_L"] * q["E_L"] + gbar @ P.E_rev[0] + q["I_e"]) / g_tot
            V = V_inf + (V - V_inf) * math.exp(-dt * g_tot / q["C_m"])
        syn = P.P_syn[0] @ syn
        for r, w in enumerate(inputs.get(k, ()) if inputs else ()):
            if m.conductance_weights:
                w = abs(w)
            if P.receptor_state[r] < 0:
                V += P.receptor_gain[0, r] * w
            else:
                syn[P.receptor_state[r]] += P.receptor_gain[0, r] * w
        out[k] = V
    return out


@pytest.mark.parametrize("name", CURRENT + CONDUCTANCE)
@pytest.mark.parametrize("dt", (0.1, 0.25))
def test_dc_charging(name, dt):
    p = params_of(name, I_e=376.0, E_L=-65.0)
    q = scalars(p)
    n = round(250.0 / dt)
    V = run(name, p, dt, n, V0=q["E_L"])
    if name in CURRENT:
        tau, R = q["tau_m"], q["tau_m"] / q["C_m"]
    else:
        tau, R = q["C_m"] / q["g_L"], 1.0 / q["g_L"]
    t = np.arange(1, n + 1) * dt
    ref = q["E_L"] + q["I_e"] * R * -np.expm1(-t / tau)
    assert np.max(np.abs(V - ref)) <= 1e-12 * np.max(np.abs(ref))
    assert abs(V[-1] - (q["E_L"] + q["I_e"] * R)) < 1e-3  # approaches the fixed point


def psp_reference(name, q, x, t, w):
    """Analytic PSP of one input of weight w on receptor x, t after it arrives (mpmath)."""
    t = mp.mpf(t)
    tm, C = mp.mpf(q["tau_m"]), mp.mpf(q["C_m"])
    if name == "iaf_psc_delta":
        return w * mp.exp(-t / tm)
    ts = mp.mpf(q[f"tau_syn_{x}"])
    d = 1 / ts - 1 / tm
    if name == "iaf_psc_exp":  # (w/C) int_0^t e^{-(t-s)/tm} e^{-s/ts} ds
        if d == 0:
            return w / C * t * mp.exp(-t / tm)
        return w / C * (mp.exp(-t / tm) - mp.exp(-t / ts)) / d
    # alpha: (w e / (ts C)) int_0^t e^{-(t-s)/tm} s e^{-s/ts} ds
    if d == 0:
        integral = t**2 / 2 * mp.exp(-t / tm)
    else:
        integral = mp.exp(-t / tm) * (1 - (1 + d * t) * mp.exp(-d * t)) / d**2
    return w * mp.e / (ts * C) * integral


@pytest.mark.parametrize(("name", "ratio"), name_ratio((1.0, 1 + 1e-9, 1 + 1e-6, 0.5, 5.0)))
def test_single_psp(name, ratio):
    dt, n, k0 = 0.1, 600, 7
    p = ratio_params(name, ratio, E_L=-65.0)
    q = scalars(p)
    w = {"iaf_psc_delta": 0.8, "iaf_psc_exp": 150.0, "iaf_psc_alpha": 150.0}[name]
    for r, x in enumerate(("ex", "in")):
        weights = [0.0, 0.0]
        weights[r] = w if x == "ex" else -w
        V = run(name, p, dt, n, V0=q["E_L"], inputs={k0: weights})
        assert np.all(V[:k0] == q["E_L"])
        # V at the end of tick k0 + m is E_L + PSP(m dt)
        got = V[k0:] - q["E_L"]
        ref = np.array(
            [float(psp_reference(name, q, x, mm * mp.mpf(dt), weights[r])) for mm in range(n - k0)]
        )
        scale = np.max(np.abs(ref))
        assert scale > 0.1
        assert np.max(np.abs(got - ref)) <= 1e-12 * scale, (x, np.max(np.abs(got - ref)))


# --------------------------------------------------------------------------------------
# Conductance models: global error order of the mean-conductance scheme
# --------------------------------------------------------------------------------------


def true_cond_rhs(name, q):
    def f(t, y):
        if name == "iaf_cond_exp":
            V, g_ex, g_in = y
            dsyn = [-g_ex / q["tau_syn_ex"], -g_in / q["tau_syn_in"]]
        else:
            V, dg_ex, g_ex, dg_in, g_in = y
            dsyn = [
                -dg_ex / q["tau_syn_ex"],
                dg_ex - g_ex / q["tau_syn_ex"],
                -dg_in / q["tau_syn_in"],
                dg_in - g_in / q["tau_syn_in"],
            ]
        dV = (
            -q["g_L"] * (V - q["E_L"]) - g_ex * (V - q["E_ex"]) - g_in * (V - q["E_in"]) + q["I_e"]
        ) / q["C_m"]
        return [dV, *dsyn]

    return f


@pytest.mark.parametrize("name", CONDUCTANCE)
def test_conductance_scheme_is_second_order(name):
    p = params_of(name, tau_syn_ex=1.0, tau_syn_in=3.0, I_e=200.0)
    q = scalars(p)
    T = 6.0
    syn0 = [40.0, 25.0] if name == "iaf_cond_exp" else [30.0, 5.0, 10.0, 2.0]
    ref = solve_ivp(
        true_cond_rhs(name, q), (0.0, T), [q["E_L"], *syn0], method="DOP853", rtol=1e-13, atol=1e-13
    ).y[0, -1]
    errs = []
    for dt in (0.2, 0.1, 0.05, 0.025):
        V = run(name, p, dt, round(T / dt), V0=q["E_L"], syn0=syn0)
        errs.append(abs(V[-1] - ref))
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    assert errs[-1] > 1e-9  # well above the reference's error
    assert np.all((ratios > 3.6) & (ratios < 4.4)), (errs, ratios)


# --------------------------------------------------------------------------------------
# Generated documentation is up to date
# --------------------------------------------------------------------------------------


def test_generated_docs_up_to_date():
    spec = importlib.util.spec_from_file_location(
        "gen_model_docs", ROOT / "docs" / "gen_model_docs.py"
    )
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for name in MODEL_NAMES:
        text = gen.render(get_model(name))
        for k in get_model(name).params:
            assert f"`{k}`" in text
        path = ROOT / "docs" / "models" / f"{name}.md"
        assert path.read_text() == text, f"{path} is stale: run python docs/gen_model_docs.py"
