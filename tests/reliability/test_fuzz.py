"""Fuzzing the network-file reader (issue 7, acceptance 3).

Random bytes, random YAML, random YAML structures (huge numbers, NaN, wrong types),
deep nesting, mutations of a valid network (a value replaced by junk, a key dropped or
added) and random valid networks.  ``neurosim validate`` (called in-process, for speed)
must end with exit status 0 (and "valid network") or 2 (and one ``neurosim: error:``
line), never a traceback, within a time limit per example; a network that ``validate``
accepts must build and run (``neurosim run`` for 20 steps: exit 0).

The default run draws a few hundred examples; ``NEUROSIM_FUZZ_EXAMPLES=10000`` draws
that many over all strategies (the count of the last long run is in
benchmarks/RESULTS.md, "Reliability").
"""

import contextlib
import copy
import io
import os
import re
import signal
import tempfile
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurosim import load
from neurosim.cli import main
from neurosim.network.estimate import estimate

TOTAL = int(os.environ.get("NEUROSIM_FUZZ_EXAMPLES", "0") or 0)
#: share of the examples per strategy (default run: these counts)
DEFAULT = {"bytes": 40, "yaml_text": 40, "structure": 60, "deep": 15, "mutated": 120, "valid": 40}
#: seconds one call may take before it counts as a hang (a run of a new kind of network
#: compiles its kernels first: 10-20 s on one core, more while the other test worker and
#: an MPI test share the two cores)
LIMIT = 120.0
STATS = {
    "examples": 0,
    "validate_ok": 0,
    "validate_bad": 0,
    "runs": 0,
    "too_big_to_run": 0,
    "known_gap": 0,
    "seconds": 0.0,
    "slowest_call": 0.0,
}
#: Known gaps between validate and the build, counted instead of failed (message part ->
#: where it is).  Remove an entry once the spec checks it.
KNOWN = {}
#: Exceptions of the reader that the command line turns into exit status 2 ("cannot read
#: this network file ... please report"): a traceback avoided, but a message without the
#: field.  Known ones are counted (and printed with NEUROSIM_FUZZ_EXAMPLES); a new one
#: fails.  Remove an entry once the reader raises a SpecError there.  (The last ones,
#: a list as a state variable or as an LTC synapse model, are fixed.)
KNOWN_READER_BUGS = set()
READER_BUGS = {}
#: accepted networks estimated above this are not run (bytes)
BIG = 600 << 20


def examples(name):
    if not TOTAL:
        return DEFAULT[name]
    return max(1, round(TOTAL * DEFAULT[name] / sum(DEFAULT.values())))


def fuzz_settings(name):
    return settings(
        max_examples=examples(name),
        deadline=None,  # the hang limit below is ours: the first run compiles or loads
        suppress_health_check=list(HealthCheck),
        derandomize=not TOTAL,  # the default run is the same every time
        database=None,
    )


class Hang(Exception):
    pass


def _alarm(_sig, _frame):
    raise Hang


WORK = tempfile.mkdtemp(prefix="neurosim-fuzz-")


def call(*argv):
    """``neurosim *argv`` in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, LIMIT)
    t = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in argv])
            except SystemExit as exc:
                code = exc.code
    except Hang:
        raise AssertionError(f"neurosim {' '.join(map(str, argv))}: over {LIMIT} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        took = time.perf_counter() - t
        STATS["seconds"] += took
        STATS["slowest_call"] = max(STATS["slowest_call"], took)
    return code, out.getvalue(), err.getvalue()


def check_document(data, binary=False, must_accept=False):
    """Validate a document; when accepted, run it briefly."""
    STATS["examples"] += 1
    path = os.path.join(WORK, "net.yaml")
    with open(path, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as fh:
        fh.write(data)
    code, out, err = call("validate", path)
    assert "Traceback" not in err and "Traceback" not in out, err
    assert code in (0, 2), (code, err[-2000:])
    if code == 2:
        STATS["validate_bad"] += 1
        lines = [x for x in err.splitlines() if x.strip()]
        assert lines and lines[-1].startswith("neurosim: error: "), err
        assert all(x.startswith("neurosim: ") for x in lines), err
        assert not must_accept, err
        bug = re.search(r"cannot read this network file \((\w+): .* at (neurosim/\S+):\d+\)", err)
        if bug:  # the command line's net caught an exception of the reader
            where = f"{bug.group(1)} in {bug.group(2)}"
            READER_BUGS[where] = READER_BUGS.get(where, 0) + 1
            assert where in KNOWN_READER_BUGS, f"a new reader bug: {err}"
        return
    STATS["validate_ok"] += 1
    assert "valid network" in out
    doc = yaml.safe_load(data if not binary else data.decode())
    dt = _dt(doc)
    est = estimate(load(path))
    if est.total > BIG or est.neurons * est.ranks > 10**6:
        STATS["too_big_to_run"] += 1  # accepted, but a run would take minutes
        return
    out_h5 = os.path.join(WORK, "out.h5")
    code, out, err = call(
        "run", path, "-o", out_h5, "--overwrite", "--quiet", "--duration", f"{20 * dt!r} ms"
    )
    STATS["runs"] += 1
    assert "Traceback" not in err, err
    # a network validate accepts builds and runs (a NaN reached in 20 steps is a run
    # error of the network, not of the reader: exit 3 with its message)
    known = [k for k in KNOWN if code == 2 and k in err]
    if known:
        STATS["known_gap"] += 1
        return
    assert code == 0 or (code == 3 and "not finite" in err), (code, err[-2000:], data)


def _dt(doc):
    """dt in ms of an accepted document (default 0.1 ms)."""
    from neurosim.units import parse_quantity

    sim = (doc or {}).get("simulation") or {}
    return parse_quantity(sim.get("dt", 0.1), "time") if isinstance(sim, dict) else 0.1


# ----------------------------------------------------------------------------- strategies

huge_ints = st.integers(min_value=-(10**40), max_value=10**40)
floats = st.floats(allow_nan=True, allow_infinity=True)
units = st.sampled_from(["ms", "s", "mV", "pA", "nS", "pF", "Hz", "kHz", "nF", "V", "", "/mV"])
quantities = st.builds(
    lambda x, u: f"{x} {u}".strip(), st.one_of(huge_ints, floats, st.just("1e400")), units
)
scalars = st.one_of(st.none(), st.booleans(), huge_ints, floats, st.text(max_size=12), quantities)
structures = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4),
    ),
    max_leaves=25,
)

BASE = {
    "name": "fuzz",
    "simulation": {"dt": "0.1 ms", "duration": "2 ms", "seed": 1},
    "populations": {
        "E": {
            "size": 20,
            "model": "iaf_psc_exp",
            "params": {"tau_m": "20 ms", "I_e": "380 pA", "tau_syn_ex": "5 ms"},
            "initial": {"V_m": {"uniform": ["-70 mV", "-55 mV"]}},
        },
        "I": {"size": 5, "model": "iaf_cond_alpha", "params": {"I_e": "300 pA"}},
        "ext": {"model": "poisson_generator", "params": {"rate": "5 kHz"}},
        "sg": {"model": "spike_generator", "params": {"spike_times": ["1 ms", "1.5 ms"]}},
        "noise": {"model": "noise_generator", "params": {"mean": 10, "std": 5, "tau": "2 ms"}},
    },
    "projections": [
        {
            "pre": "E",
            "post": ["E", "I"],
            "rule": {"fixed_indegree": {"k": 4}},
            "weight": {"normal": {"mean": 20, "std": 5}},
            "delay": {"uniform": ["1 ms", "2 ms"]},
        },
        {"pre": "I", "post": "E", "rule": {"pairwise_bernoulli": {"p": 0.3}}, "weight": -30},
        {"pre": "ext", "post": ["E", "I"], "rule": "all_to_all", "weight": 10, "delay": "1 ms"},
        {"pre": "sg", "post": "E", "rule": "all_to_all", "weight": 50, "delay": "0.5 ms"},
        {"pre": "noise", "post": "I", "rule": "all_to_all", "delay": "0.2 ms"},
    ],
    "record": {
        "spikes": "all",
        "state": [{"population": "E", "variables": ["V_m"], "neurons": "0:3"}],
    },
}

LTC_BASE = {
    "name": "fuzz_ltc",
    "simulation": {"dt": "1 ms", "duration": "5 ms", "seed": 2},
    "populations": {
        "A": {
            "size": 12,
            "model": "ltc_neuron",
            "params": {"c_m": "1 pF", "g_leak": "0.5 nS", "v_leak": "0 mV"},
            "initial": {"v": {"uniform": ["-0.5 mV", "0.5 mV"]}},
            "integrator": {"method": "exp_midpoint", "substeps": 2},
        }
    },
    "projections": [
        {
            "pre": "A",
            "post": "A",
            "rule": {"fixed_indegree": {"k": 3}},
            "synapse": {
                "model": "ltc_synapse",
                "params": {"w": {"uniform": ["0.01 nS", "0.1 nS"]}, "gamma": "4 /mV"},
            },
        },
        {
            "pre": "A",
            "post": "A",
            "rule": {"pairwise_bernoulli": {"p": 0.1}},
            "synapse": {"model": "gap_junction", "params": {"g": "0.05 nS"}},
        },
    ],
}


def _paths(doc, prefix=()):
    """Every (path, value) in a document."""
    yield prefix, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def _mutate(doc, path, op, value):
    doc = copy.deepcopy(doc)
    if not path:
        return value if op == "replace" else doc
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    if op == "replace":
        parent[key] = value
    elif op == "drop":
        del parent[key]
    elif op == "add" and isinstance(parent, dict):
        parent[str(value)[:12] or "x"] = value
    elif op == "add" and isinstance(parent, list):
        parent.append(value)
    return doc


@st.composite
def mutated(draw):
    base = draw(st.sampled_from([BASE, LTC_BASE]))
    doc = base
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p, _ in _paths(doc)]
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        value = draw(st.one_of(scalars, structures, quantities))
        doc = _mutate(doc, path, op, value)
    return doc


MODELS = ["iaf_psc_delta", "iaf_psc_exp", "iaf_psc_alpha", "iaf_cond_exp", "iaf_cond_alpha"]


@st.composite
def valid_network(draw):
    """A small valid spiking network (sizes, rules, values and devices at random)."""
    dt = draw(st.sampled_from([0.05, 0.1, 0.25]))
    n_pop = draw(st.integers(1, 3))
    pops = {}
    for i in range(n_pop):
        model = draw(st.sampled_from(MODELS))
        pop = {"size": draw(st.integers(1, 30)), "model": model}
        if draw(st.booleans()):
            pop["params"] = {"I_e": f"{draw(st.integers(0, 600))} pA"}
        if draw(st.booleans()):
            lo = draw(st.integers(-80, -60))
            pop["initial"] = {"V_m": {"uniform": [f"{lo} mV", f"{lo + 10} mV"]}}
        pops[f"P{i}"] = pop
    names = list(pops)
    if draw(st.booleans()):
        pops["ext"] = {"model": "poisson_generator", "params": {"rate": "2 kHz"}}
    projections = []
    for _ in range(draw(st.integers(0, 4))):
        pre = draw(st.sampled_from(names + (["ext"] if "ext" in pops else [])))
        post = draw(st.sampled_from(names))
        rule = draw(
            st.sampled_from(
                [
                    {"fixed_indegree": {"k": draw(st.integers(1, 5))}},
                    {"pairwise_bernoulli": {"p": draw(st.floats(0, 1))}},
                    "all_to_all",
                    {"fixed_outdegree": {"k": draw(st.integers(1, 5))}},
                    {"fixed_total_number": {"n": draw(st.integers(0, 40))}},
                ]
            )
        )
        if pops[pre]["model"] == "poisson_generator":
            rule = "all_to_all"
        d0 = draw(st.integers(1, 20)) * dt
        delay = draw(
            st.sampled_from([f"{d0!r} ms", {"uniform": [f"{d0!r} ms", f"{d0 + dt!r} ms"]}])
        )
        weight = draw(st.sampled_from([10, -20, {"normal": {"mean": 10, "std": 2}}]))
        projections.append(
            {
                "pre": pre,
                "post": post,
                "rule": rule,
                "weight": weight,
                "delay": delay,
                "allow_multapses": True,
            }
        )
    return {
        "simulation": {"dt": f"{dt} ms", "duration": "5 ms", "seed": draw(st.integers(0, 99))},
        "populations": pops,
        "projections": projections,
    }


def _dump(doc):
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


# ----------------------------------------------------------------------------- tests


@fuzz_settings("bytes")
@given(st.binary(max_size=300))
def test_random_bytes(data):
    check_document(data, binary=True)


@fuzz_settings("yaml_text")
@given(st.text(max_size=300))
def test_random_text(text):
    check_document(text)


@fuzz_settings("structure")
@given(
    st.one_of(
        structures,
        st.fixed_dictionaries(
            {"populations": structures},
            optional={"simulation": structures, "projections": structures, "record": structures},
        ),
    )
)
def test_random_structures(doc):
    check_document(_dump(doc))


@fuzz_settings("deep")
@given(st.integers(1, 20000), st.sampled_from(["list", "map", "block"]))
def test_deep_nesting(depth, kind):
    if kind == "list":
        text = "populations: " + "[" * depth + "]" * depth + "\n"
    elif kind == "map":
        text = "populations: " + "{a: " * depth + "1" + "}" * depth + "\n"
    else:
        depth = min(depth, 400)
        text = "populations:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(depth))
    check_document(text)


@fuzz_settings("mutated")
@given(mutated())
def test_mutated_networks(doc):
    check_document(_dump(doc))


@fuzz_settings("valid")
@given(valid_network())
def test_valid_networks_run(doc):
    check_document(_dump(doc), must_accept=True)


def test_bases_are_valid():
    check_document(_dump(BASE), must_accept=True)
    check_document(_dump(LTC_BASE), must_accept=True)


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if TOTAL:
        print(f"\nfuzz: {STATS}\nreader exceptions caught by the command line: {READER_BUGS}")
