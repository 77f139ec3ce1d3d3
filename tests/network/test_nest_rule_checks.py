"""Connection rules and drawn values where a NEST 3.10 comparison found neurosim
differing (the review's NEST scripts gave the expected outcomes quoted here):
one_to_one onto itself without autapses (NEST: no synapse), fixed_outdegree larger
than the targets without multapses (NEST: "Outdegree cannot be larger than population
size"), bounded normals redrawn up to 1000 times (NEST's nest.math.redraw: min = 2
sigma builds, min = 3 sigma fails), and clear errors naming the field."""

import math

import numpy as np
import pytest
import yaml

import neurosim
from neurosim import rng
from neurosim.network import _build_kernels as K
from neurosim.network.build import build, sample
from neurosim.network.spec import Value


def _load(tmp_path, doc):
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(doc))
    return neurosim.load(path)


def _net(projection, size=20, model="iaf_psc_exp", params=None):
    return {
        "populations": {"A": {"size": size, "model": model, "params": params or {}}},
        "projections": [dict({"pre": "A", "post": "A"}, **projection)],
    }


@pytest.mark.parametrize("where", ["rule", "projection"])
def test_one_to_one_onto_itself_without_autapses_makes_no_synapse(where, tmp_path):
    rule = {"one_to_one": {"allow_autapses": False}} if where == "rule" else "one_to_one"
    proj = {"rule": rule} if where == "rule" else {"rule": rule, "allow_autapses": False}
    assert len(build(_load(tmp_path, _net(proj))).target) == 0
    assert len(build(_load(tmp_path, _net({"rule": "one_to_one"}))).target) == 20


def test_flags_given_twice_must_agree(tmp_path):
    proj = {"rule": {"all_to_all": {"allow_autapses": True}}, "allow_autapses": False}
    with pytest.raises(neurosim.SpecError, match=r"projections\[0\]\.allow_autapses.*give it once"):
        _load(tmp_path, _net(proj))


@pytest.mark.parametrize(
    "rule, size, ok",
    [
        ({"fixed_outdegree": {"k": 21, "allow_multapses": False}}, 20, False),
        ({"fixed_outdegree": {"k": 20, "allow_multapses": False}}, 20, True),
        (
            {"fixed_outdegree": {"k": 20, "allow_multapses": False, "allow_autapses": False}},
            20,
            False,
        ),
        (
            {"fixed_indegree": {"k": 20, "allow_multapses": False, "allow_autapses": False}},
            20,
            False,
        ),
        (
            {"fixed_indegree": {"k": 19, "allow_multapses": False, "allow_autapses": False}},
            20,
            True,
        ),
        ({"fixed_outdegree": {"k": 3, "allow_autapses": False}}, 1, False),
    ],
)
def test_degrees_that_cannot_be_met_are_refused_before_the_build(rule, size, ok, tmp_path):
    doc = _net({"rule": rule}, size=size)
    if ok:
        b = build(_load(tmp_path, doc))
        k = next(iter(rule.values()))["k"]
        assert len(b.target) == k * size
    else:
        with pytest.raises(neurosim.SpecError, match=r"projections\[0\]\.rule: k = "):
            _load(tmp_path, doc)


@pytest.mark.parametrize("key, ours", [("indegree", "k"), ("outdegree", "k"), ("N", "n")])
def test_nest_rule_argument_names_get_a_hint(key, ours, tmp_path):
    rule = {"indegree": "fixed_indegree", "outdegree": "fixed_outdegree", "N": "fixed_total_number"}
    doc = _net({"rule": {rule[key]: {key: 3}}})
    with pytest.raises(neurosim.SpecError, match=f"NEST's '{key}' is '{ours}' here"):
        _load(tmp_path, doc)


def test_bounded_normal_two_sigma_builds_as_nests_redraw(tmp_path):
    """min = 2 sigma keeps 2.3 % of the draws: more than 64 tries are needed for some of
    100,000 synapses (NEST builds it; its mean is 2.373); numpy and numba draw the same
    values up to the last bits of log and cos."""
    w = {"normal": {"mean": "0 pA", "std": "1 pA", "min": "2 pA"}}
    doc = {
        "populations": {
            "A": {"size": 100, "model": "iaf_psc_exp"},
            "B": {"size": 1000, "model": "iaf_psc_exp"},
        },
        "projections": [{"pre": "A", "post": "B", "rule": "all_to_all", "weight": w}],
    }
    b = build(_load(tmp_path, doc))
    assert len(b.weight) == 100_000 and b.weight.min() >= 2.0
    assert abs(float(np.mean(b.weight)) - 2.373) < 0.01
    v = Value("normal", (0.0, 1.0, 2.0, math.inf))
    subs = rng.id_keys(np.uint64(7), np.arange(3000, dtype=np.uint64))
    ctr = np.arange(3000, dtype=np.uint64)
    a = sample(v, subs, ctr)
    c = np.array([K._draw(4, 0.0, 1.0, 2.0, math.inf, subs[i], ctr[i]) for i in range(3000)])
    assert np.allclose(a, c, rtol=1e-13, atol=0)
    assert a.min() >= 2.0


def test_hopeless_bounds_are_refused_at_load(tmp_path):
    w = {"normal": {"mean": "0 pA", "std": "1 pA", "min": "3 pA"}}
    with pytest.raises(neurosim.SpecError, match=r"weight\.normal: min and max keep 0\.13%"):
        _load(tmp_path, _net({"rule": "all_to_all", "weight": w}))


def test_bounds_that_fail_while_drawing_name_the_field(tmp_path):
    """0.62 % kept: accepted by the reader, but 1000 tries fail now and then (NEST too)."""
    w = {"normal": {"mean": "0 pA", "std": "1 pA", "min": "2.5 pA"}}
    spec = _load(tmp_path, _net({"rule": "all_to_all", "weight": w}, size=100))
    with pytest.raises(neurosim.SpecError, match=r"projections\[0\]\.weight: a bounded normal"):
        build(spec)
    p = {"I_e": {"normal": {"mean": "0 pA", "std": "1 pA", "min": "2.5 pA"}}}
    spec = _load(tmp_path, _net({"rule": "one_to_one"}, size=3000, params=p))
    with pytest.raises(neurosim.SpecError, match=r"populations\.A\.params\.I_e: normal"):
        build(spec)


@pytest.mark.parametrize(
    "delay, match",
    [
        ({"normal": {"mean": "1.5 ms", "std": "0.1 ms", "min": "0.1 ms"}}, "needs max"),
        ({"lognormal": {"mu": 0.0, "sigma": 0.5}}, "lognormal delays are not supported"),
    ],
)
def test_delay_distributions_say_what_they_need(delay, match, tmp_path):
    with pytest.raises(neurosim.SpecError, match=match):
        _load(tmp_path, _net({"rule": "all_to_all", "delay": delay}))


def test_explicit_receptor_of_a_conductance_model_takes_no_negative_weight(tmp_path):
    doc = _net({"rule": "all_to_all", "weight": "-5 nS", "receptor": "ex"}, model="iaf_cond_exp")
    with pytest.raises(neurosim.SpecError, match=r"weight: expected a conductance >= 0"):
        _load(tmp_path, doc)
    doc = _net({"rule": "all_to_all", "weight": "5 nS", "receptor": "in"}, model="iaf_cond_exp")
    assert len(build(_load(tmp_path, doc)).target) == 400
