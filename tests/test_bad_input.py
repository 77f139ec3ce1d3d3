"""Bad input: one short line naming file and field, exit status 2, no traceback, no output."""

import os
import textwrap

import pytest

from tests.conftest import network, run_cli

GOOD = textwrap.dedent(
    """\
    name: tiny
    simulation: {dt: 0.1 ms, duration: 20 ms, seed: 1}
    populations:
      E: {size: 10, model: iaf_psc_exp, params: {tau_m: 20 ms, I_e: 400 pA}}
      ext: {model: poisson_generator, params: {rate: 1 kHz}}
    projections:
      - {pre: E, post: E, rule: {pairwise_bernoulli: {p: 0.5}}, weight: 10 pA, delay: 1 ms}
      - {pre: ext, post: E, rule: all_to_all, weight: 5 pA, delay: 1 ms}
    """
)

# (name, text replacing part of GOOD or a whole document, words the message must contain)
CASES = [
    (
        "unknown_model",
        GOOD.replace("model: iaf_psc_exp", "model: iaf_psc_expp"),
        ["populations.E.model", "iaf_psc_expp", "did you mean 'iaf_psc_exp'"],
    ),
    (
        "unknown_parameter",
        GOOD.replace("tau_m: 20 ms", "tau_mm: 20 ms"),
        ["populations.E.params.tau_mm", "did you mean 'tau_m'"],
    ),
    (
        "unknown_population",
        GOOD.replace("{pre: E, post: E", "{pre: E, post: Ee"),
        ["projections[0].post", "'Ee'", "did you mean 'E'"],
    ),
    (
        "wrong_unit",
        GOOD.replace("tau_m: 20 ms", "tau_m: 20 mV"),
        ["populations.E.params.tau_m", "expected a time", "20 mV"],
    ),
    (
        "negative_delay",
        GOOD.replace("weight: 10 pA, delay: 1 ms", "weight: 10 pA, delay: -1 ms"),
        ["projections[0].delay", "delay >= dt"],
    ),
    (
        "sub_dt_delay",
        GOOD.replace("weight: 10 pA, delay: 1 ms", "weight: 10 pA, delay: 0.04 ms"),
        ["projections[0].delay", "delay >= dt", "0.04"],
    ),
    (
        "sub_dt_delay_rounding_up",  # 0.05 ms would round to one step: refused all the same
        GOOD.replace("weight: 10 pA, delay: 1 ms", "weight: 10 pA, delay: 0.05 ms"),
        ["projections[0].delay", "delay >= dt", "0.05"],
    ),
    (
        "sub_dt_delay_distribution",
        GOOD.replace(
            "weight: 10 pA, delay: 1 ms", "weight: 10 pA, delay: {uniform: [0.09 ms, 1 ms]}"
        ),
        ["projections[0].delay", "delay >= dt", "0.09", "smallest value"],
    ),
    (
        "dtype",
        GOOD.replace("seed: 1}", "seed: 1, dtype: float16}"),
        ["simulation.dtype", "expected float64 or float32", "float16"],
    ),
    (
        "float32_plastic",
        GOOD.replace("seed: 1}", "seed: 1, dtype: float32}").replace(
            "weight: 10 pA, delay: 1 ms}",
            "weight: 10 pA, delay: 1 ms, synapse: {model: stdp_synapse}}",
        ),
        ["projections[0].synapse", "plastic synapses need simulation.dtype float64"],
    ),
    (
        "probability",
        GOOD.replace("p: 0.5", "p: 1.5"),
        ["projections[0].rule.pairwise_bernoulli.p", "probability in [0, 1]", "1.5"],
    ),
    (
        "negative_size",
        GOOD.replace("size: 10", "size: -10"),
        ["populations.E.size", "integer >= 1", "-10"],
    ),
    ("empty_file", "", ["empty"]),
    ("yaml_syntax", GOOD.replace("E: {size: 10,", "E: {size: 10,,"), ["YAML error", "line 4"]),
    (
        "python_tag",
        "name: !!python/object/apply:os.system ['echo pwned > pwned.txt']\npopulations: {}\n",
        ["YAML error", "python/object", "line 1"],
    ),
    ("wrong_type", GOOD.replace("size: 10", "size: [1, 2]"), ["populations.E.size", "integer"]),
    (
        "unknown_rule",
        GOOD.replace("pairwise_bernoulli: {p: 0.5}", "pairwise_bernouli: {p: 0.5}"),
        ["projections[0].rule", "did you mean 'pairwise_bernoulli'"],
    ),
    ("unknown_top_key", GOOD + "recrod: {spikes: [E]}\n", ["recrod", "did you mean 'record'"]),
    (
        "total_number_no_multapses",
        GOOD.replace(
            "pairwise_bernoulli: {p: 0.5}", "fixed_total_number: {n: 5, allow_multapses: false}"
        ),
        ["projections[0].rule", "allow_multapses"],
    ),
    (
        "bad_distribution",
        GOOD.replace("weight: 5 pA", "weight: {gauss: [1, 2]}"),
        ["projections[1].weight.gauss", "unknown distribution"],
    ),
    (
        "infinite_time_constant",
        GOOD.replace("tau_m: 20 ms", "tau_m: .inf ms"),
        ["populations.E.params.tau_m", "expected a finite value"],
    ),
    (
        "spike_time_out_of_range",
        GOOD.replace(
            "  ext: {model:",
            "  sg: {model: spike_generator, params: {spike_times: [1e300 ms]}}\n  ext: {model:",
        ),
        ["populations.sg.params.spike_times", "expected times <="],
    ),
    (
        "variable_not_a_name",
        GOOD + "record: {state: [{population: E, variables: [[]]}]}\n",
        ["record.state[0].variables", "expected variable names"],
    ),
]


def _check_failure(proc, words, path):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr
    lines = [x for x in err.splitlines() if x.startswith("neurosim: error:")]
    assert len(lines) == 1, err
    assert str(path) in lines[0] or "--" in lines[0], lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.mark.parametrize("name,text,words", CASES, ids=[c[0] for c in CASES])
def test_bad_network_file(tmp_cwd, name, text, words):
    path = tmp_cwd / "net.yaml"
    path.write_text(text)
    # an existing output must survive, even with --overwrite
    out = tmp_cwd / "out.h5"
    out.write_bytes(b"precious")
    proc = run_cli("run", path, "-o", out, "--overwrite", "--quiet", cwd=tmp_cwd)
    _check_failure(proc, words, path)
    assert out.read_bytes() == b"precious"
    assert not (tmp_cwd / "pwned.txt").exists()
    proc = run_cli("validate", path, cwd=tmp_cwd)
    _check_failure(proc, words, path)


def test_missing_file(tmp_cwd):
    proc = run_cli("run", tmp_cwd / "nope.yaml", "-o", "x.h5")
    _check_failure(proc, ["file not found"], tmp_cwd / "nope.yaml")
    assert not (tmp_cwd / "x.h5").exists()


def test_existing_output_is_never_replaced(tmp_cwd):
    path = tmp_cwd / "net.yaml"
    path.write_text(GOOD)
    out = tmp_cwd / "out.h5"
    out.write_bytes(b"precious")
    proc = run_cli("run", path, "-o", out, "--quiet", "--backend", "numpy")
    assert proc.returncode == 2
    assert "already exists" in proc.stderr and "--overwrite" in proc.stderr
    assert out.read_bytes() == b"precious"


def test_bad_options(tmp_cwd):
    path = tmp_cwd / "net.yaml"
    path.write_text(GOOD)
    for args, word in [
        (["--duration", "5 mV"], "--duration"),
        (["--seed", "abc"], "--seed"),
        (["--backend", "fortran"], "unknown backend"),
        (["--set", "populations.E.size=-3"], "populations.E.size"),
        (["--set", "nokeyvalue"], "KEY=VALUE"),
    ]:
        proc = run_cli("run", path, "-o", "o.h5", "--quiet", *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert word in proc.stderr and "Traceback" not in proc.stderr
        assert not os.path.exists(tmp_cwd / "o.h5")


def test_warning_for_off_grid_delay(tmp_cwd):
    path = tmp_cwd / "net.yaml"
    path.write_text(GOOD.replace("weight: 10 pA, delay: 1 ms", "weight: 10 pA, delay: 1.04 ms"))
    proc = run_cli("validate", path)
    assert proc.returncode == 0
    assert "not a multiple of dt" in proc.stderr and "rounded to 1 ms" in proc.stderr


def test_shipped_networks_validate():
    for name in ("brunel2000", "cuba", "coba"):
        proc = run_cli("validate", network(name))
        assert proc.returncode == 0, proc.stderr
        assert "valid network" in proc.stdout
