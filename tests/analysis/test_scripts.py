"""The scripts in analysis/ run on the output of shipped networks."""

import importlib.util
import os

import pytest

from tests.conftest import ROOT

PNG = b"\x89PNG\r\n\x1a\n"


def script(name):
    path = os.path.join(ROOT, "analysis", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"analysis_script_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_raster(brunel_h5, tmp_path, capsys):
    out = tmp_path / "raster.png"
    args = [brunel_h5, "-o", str(out), "--t-start", "50", "--t-stop", "150", "--neurons", "50"]
    assert script("raster").main(args) == 0
    assert out.read_bytes()[:8] == PNG


def test_rates_table(brunel_h5, tmp_path, capsys):
    csv = tmp_path / "t.csv"
    assert script("rates_table").main([brunel_h5, "--csv", str(csv)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["population", "neurons", "spikes"]
    assert out[1].split()[:2] == ["E", "800"] and out[2].split()[:2] == ["I", "200"]
    assert any(line.split()[0] == "E/V_m" for line in out)
    assert csv.read_text().startswith("population,neurons,spikes,rate_hz")


def test_compare_runs(brunel_h5, brunel_h5_b, capsys):
    mod = script("compare_runs")
    assert mod.main([brunel_h5, brunel_h5_b]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 6 and out[2].split()[:2] == ["E", "rate"]
    assert out[2].split()[-1] == "scipy"
    # a run against itself: same distributions, D = 0, p = 1
    from neurosim import analysis as A

    with A.open_recording(brunel_h5) as a, A.open_recording(brunel_h5) as b:
        rows = mod.compare(a, b)
    assert len(rows) == 4 and all(r[6] == 0.0 and r[7] == 1.0 for r in rows)


def test_ltc_traces(celegans_h5, tmp_path, capsys):
    out = tmp_path / "ltc.png"
    assert script("ltc_traces").main([celegans_h5, "-o", str(out), "--show", "3"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("neurons/v: 302 neurons, 400 samples")
    assert out.read_bytes()[:8] == PNG


@pytest.mark.parametrize("name", ["raster", "rates_table", "ltc_traces"])
def test_scripts_bad_input(name, tmp_path, capsys):
    missing = str(tmp_path / "nothing.h5")
    assert script(name).main([missing]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing.h5: no such file" in err[0]
