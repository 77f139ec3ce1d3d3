"""The CUDA sources compile with nvcc for the H200 (sm_90) with contraction off, and
hold the constants of the Python side."""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from neurosim.backends import cupy_backend as cb
from neurosim.backends import pexp

SOURCES = sorted(f for f in os.listdir(cb.CUDA_DIR) if f.endswith(".cu"))


def test_sources_found():
    assert SOURCES == ["ltc.cu", "spiking.cu"]


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on the PATH")
@pytest.mark.parametrize("name", SOURCES)
def test_nvcc_compiles(name, tmp_path):
    """What NVRTC is given (the expanded source) compiles for sm_90 with every warning an
    error, and with --fmad=false its PTX has no fused multiply-add (with contraction on,
    nvcc would emit dozens: the check would see them)."""
    src = tmp_path / name
    src.write_text(cb.read_source(name))
    base = ["nvcc", "-arch=sm_90", *cb.NVRTC_OPTIONS, "--Werror", "all-warnings"]
    for out, flag in ((tmp_path / "k.cubin", "-cubin"), (tmp_path / "k.ptx", "-ptx")):
        proc = subprocess.run(
            [*base, flag, str(src), "-o", str(out)], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert out.stat().st_size > 0
    ptx = (tmp_path / "k.ptx").read_text()
    kernels = cb.kernel_signatures(cb.read_source(name))
    for k in kernels:
        assert f".entry {k}(" in ptx, k
    assert "fma." not in ptx


def test_signatures_parse():
    for name in SOURCES:
        sigs = cb.kernel_signatures(cb.read_source(name))
        assert "k_record" in sigs  # from common.cuh, in every module
        for kern, params in sigs.items():
            assert params, kern
            assert all(p.dtype is not None or p.pointer for p in params)
    spk = cb.kernel_signatures(cb.read_source("spiking.cu"))
    assert set(spk) == {
        "k_record",
        "k_poisson",
        "k_currents",
        "k_neurons",
        "k_gather",
        "k_seg",
        "k_deliver_step",
        "k_deliver_rows",
        "k_deliver_expand",
        "k_deliver_add",
    }
    p = {q.name: q for q in spk["k_neurons"]}
    assert p["V"].pointer and p["V"].dtype == np.float64
    assert p["refr"].dtype == np.int32 and p["bspk"].dtype == np.int64
    assert cb.COOP_KERNELS <= set(spk)
    assert cb.COOP_BLOCK <= cb.defines(cb.read_source("spiking.cu"))["COOP_BLOCK"]
    assert not p["dt"].pointer and p["dt"].dtype == np.float64


def test_bad_signature_refused():
    with pytest.raises(ValueError, match="unsupported type"):
        cb.kernel_signatures('extern "C" __global__ void k(const long* x) {}')
    with pytest.raises(ValueError, match="void by value"):
        cb.kernel_signatures('extern "C" __global__ void k(void x) {}')


def test_parameter_columns_tile():
    """The columns of the propagator table cover [0, NPAR) once each."""
    c = cb.defines(cb.read_source("spiking.cu"))
    widths = {"P_GAIN": 2, "P_EREV": c["C_MAX"], "P_PV": c["S_MAX"]}
    widths.update({"P_PS": c["S_MAX"] ** 2, "P_GA": c["C_MAX"] * c["S_MAX"]})
    used = []
    for k, v in c.items():
        if k.startswith("P_"):
            used += range(v, v + widths.get(k, 1))
    assert sorted(used) == list(range(c["NPAR"]))
    q = [c["Q_MEMBRANE"], c["Q_REC"], c["Q_REC"] + 1, c["Q_REF"]]
    assert sorted(q) == list(range(c["NQ"]))
    from neurosim.network import build

    assert (c["S_MAX"], c["C_MAX"]) == (build.S_MAX, build.C_MAX)


def test_ltc_constants():
    from neurosim.backends.ltc_numpy import EPS_FUSED
    from neurosim.ltc.build import TILE

    src = cb.read_source("ltc.cu")
    assert cb.defines(src)["LTC_TILE"] == TILE
    assert float(re.search(r"#define EPS_FUSED (\S+)", src).group(1)) == EPS_FUSED


def test_pexp_constants():
    """common.cuh's portable exp uses pexp.py's constants, in Horner order."""
    src = cb.read_source("spiking.cu")
    for name in ("INV_LN2", "LN2_HI", "LN2_LO", "X_MIN"):
        m = re.search(rf"#define NS_{name} (\S+)", src)
        assert float(m.group(1)) == getattr(pexp, name), name
    body = src[src.index("double ns_pexp(") : src.index("double ns_sigmoid(")]
    coeffs = [float(x) for x in re.findall(r"p = (?:p \* r \+ )?([0-9.e+-]+);", body)]
    assert tuple(coeffs) == pexp.COEFFS
