"""``neurosim plot``: every kind writes an image; bad input is one line and status 2."""

import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from neurosim import analysis as A
from neurosim.cli import main
from tests.conftest import ROOT

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "kind,extra",
    [
        ("raster", []),
        ("rates", ["--populations", "E"]),
        ("cv", ["--t-start", "20 ms"]),
        ("traces", ["--neurons", "3"]),
        ("spectrum", ["--bin", "1 ms", "--nperseg", "64"]),
        ("raster", ["--populations", "I,E", "--t-start", "50 ms", "--t-stop", "0.15 s"]),
    ],
)
def test_plot_brunel(brunel_h5, tmp_path, capsys, kind, extra):
    out = tmp_path / f"{kind}.png"
    assert main(["plot", brunel_h5, "--kind", kind, "-o", str(out), *extra]) == 0
    assert out.read_bytes()[:8] == PNG and out.stat().st_size > 5000
    assert capsys.readouterr().out.strip() == f"wrote {out}"


@pytest.mark.parametrize("kind", ["traces", "spectrum"])
def test_plot_celegans(celegans_h5, tmp_path, kind):
    out = tmp_path / f"{kind}.svg"
    assert main(["plot", celegans_h5, "--kind", kind, "-o", str(out), "--variable", "v"]) == 0
    assert out.read_text().lstrip().startswith("<?xml")


def test_default_output_and_overwrite(brunel_h5, tmp_path, capsys):
    rec = tmp_path / "run.h5"
    shutil.copy(brunel_h5, rec)
    assert main(["plot", str(rec), "--kind", "rates"]) == 0
    assert (tmp_path / "run_rates.png").exists()
    assert main(["plot", str(rec), "--kind", "rates"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["plot", str(rec), "--kind", "rates", "--overwrite"]) == 0


def test_no_matplotlib_or_elephant_on_import():
    code = (
        "import sys, neurosim.analysis, neurosim.analysis.commands; "
        "bad = [m for m in ('matplotlib', 'elephant', 'neo', 'scipy') if m in sys.modules]; "
        "sys.exit(str(bad) if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    for folder, _dirs, files in os.walk(os.path.join(ROOT, "neurosim", "analysis")):
        for name in files:
            if name.endswith(".py"):
                text = open(os.path.join(folder, name)).read()
                assert "import elephant" not in text and "from elephant" not in text
                assert "import h5py" not in text


@pytest.fixture(scope="module")
def bad_files(brunel_h5, celegans_h5, tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "text.h5").write_text("not HDF5 at all\n")
    with h5py.File(d / "foreign.h5", "w") as f:
        f["x"] = np.arange(3)
    data = open(brunel_h5, "rb").read()
    (d / "truncated.h5").write_bytes(data[: len(data) // 2])
    return {
        "good": brunel_h5,
        "ltc": celegans_h5,
        "missing": str(d / "missing.h5"),
        "text": str(d / "text.h5"),
        "foreign": str(d / "foreign.h5"),
        "truncated": str(d / "truncated.h5"),
        "dir": str(d),
    }


BAD = [
    ("missing", ["--kind", "raster"], ["missing.h5", "no such file"]),
    ("text", ["--kind", "raster"], ["text.h5", "not a readable HDF5 file"]),
    ("foreign", ["--kind", "rates"], ["foreign.h5", "not a neurosim recording"]),
    ("truncated", ["--kind", "raster"], ["truncated.h5", "truncated file"]),
    ("dir", ["--kind", "raster"], ["is a directory"]),
    ("good", ["--kind", "raster", "--populations", "X"], ["--populations", "'X'", "E, I"]),
    ("good", ["--kind", "traces", "--populations", "I"], ["--populations", "'I'", "E"]),
    ("good", ["--kind", "traces", "--variable", "g_ex"], ["--variable", "'g_ex'", "V_m"]),
    ("good", ["--kind", "rates", "--t-stop", "500 ms"], ["--t-stop", "past the end", "200"]),
    ("good", ["--kind", "cv", "--t-start", "300 ms"], ["--t-start", "not before"]),
    ("good", ["--kind", "cv", "--t-start", "-5 ms"], ["--t-start", ">= 0"]),
    ("good", ["--kind", "raster", "--t-start", "5 mV"], ["--t-start", "time"]),
    ("good", ["--kind", "raster", "--bin", "0 ms"], ["--bin", "> 0"]),
    ("good", ["--kind", "raster", "--bin", "1 s"], ["--bin", "longer than the window"]),
    ("good", ["--kind", "raster", "-o", "x.xyz"], ["x.xyz", "-o", "format"]),
    ("ltc", ["--kind", "raster"], ["celegans.h5", "no spikes recorded"]),
    ("ltc", ["--kind", "traces", "--t-start", "100 ms"], ["celegans.h5", "--t-start"]),
]


@pytest.mark.parametrize("which,args,words", BAD, ids=[f"{b[0]}-{'_'.join(b[1][1:])}" for b in BAD])
def test_bad_input(bad_files, tmp_path, capsys, which, args, words):
    if "-o" not in args:
        args = [*args, "-o", str(tmp_path / "out.png")]
    rc = main(["plot", bad_files[which], *args])
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurosim: error: "), err
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not os.path.exists(tmp_path / "out.png")


def test_bad_input_exit_status(bad_files, tmp_path):
    # the real command as the console script runs it: status 2, one line, no traceback
    # (not `python -m neurosim.cli`: there cli.py runs as __main__, a second copy of the
    # module, whose `except BadInput` does not catch neurosim.cli.BadInput)
    entry = "import sys; from neurosim.cli import main; sys.exit(main())"
    args = ["plot", bad_files["truncated"], "--kind", "cv", "-o", str(tmp_path / "x.png")]
    proc = subprocess.run([sys.executable, "-c", entry, *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "truncated.h5" in proc.stderr and "truncated file" in proc.stderr


def test_api_errors_name_the_field(brunel_h5):
    with A.open_recording(brunel_h5) as rec:
        with pytest.raises(A.RecordingError, match=r"brunel.h5: population 'X'"):
            A.firing_rates(rec, "X")
        with pytest.raises(A.RecordingError, match=r"variable 'v': not recorded"):
            A.trace_stats(rec, "E", "v")
        with pytest.raises(A.RecordingError, match=r"t_stop: 1000 ms is past the end"):
            A.isi_cv(rec, "E", t_stop=1000.0)
        with pytest.raises(A.RecordingError, match=r"neurons: ids must lie in 0..799"):
            A.correlation_matrix(rec, "E", 1.0, neurons=[0, 800])
