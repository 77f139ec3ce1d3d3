"""PyTorch ``.pt`` state dicts read without torch (neurosim.io.ncps.read_pt): the values
ncps saved, and refusal of anything that is not a plain state dict of tensors.

The reference files are ncps's own ``torch.save(model.state_dict())`` outputs
(tests/reference/ncps_*.pt, made by make_ncps_reference.py); their raw parameters are
also in ncps_reference.npz (``<case>/param/<key>``), written from the same tensors.
"""

import glob
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from neurosim.io.ncps import load_state_dict, read_pt
from neurosim.network.spec import SpecError
from tests.conftest import ROOT, run_cli

REF = os.path.join(ROOT, "tests", "reference")
PT_FILES = sorted(glob.glob(os.path.join(REF, "ncps_*.pt")))


def test_reference_pt_files_read_exactly():
    z = np.load(os.path.join(REF, "ncps_reference.npz"))
    assert len(PT_FILES) >= 13
    for path in PT_FILES:
        case = os.path.basename(path)[len("ncps_") : -len(".pt")]
        sd = read_pt(path)
        ref = {k.split("/param/")[1]: z[k] for k in z.files if k.startswith(case + "/param/")}
        assert set(sd) == set(ref), case
        for k, v in ref.items():
            # the npz holds float64 copies (masks are float32 tensors in the .pt)
            assert sd[k].dtype.kind == "f" and sd[k].shape == v.shape, (case, k)
            assert np.array_equal(sd[k], v), (case, k)
    # the converter's view: float64, the sequence module's prefix stripped
    sd = load_state_dict(os.path.join(REF, "ncps_ltc_ncp19.pt"))
    assert "sparsity_mask" in sd and all(v.dtype == np.float64 for v in sd.values())


def _pt(path, pkl, storages=None, name="archive"):
    """A zip in torch's layout with the given data.pkl bytes and raw storages."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}/data.pkl", pkl)
        zf.writestr(f"{name}/byteorder", "little")
        for key, raw in (storages or {}).items():
            zf.writestr(f"{name}/data/{key}", raw)
    return path


class _Global:
    """Pickles as a reference to ``module.name`` (what a malicious file would name)."""

    def __init__(self, module, name):
        self.module, self.name = module, name


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, _Call):
            return obj.fn_ref, obj.args
        return NotImplemented

    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, _Pid) else None


class _Call:
    def __init__(self, module, name, args):
        self.fn_ref = _fake_global(module, name)
        self.args = args


class _Pid:
    def __init__(self, pid):
        self.pid = pid


def _fake_global(module, name):
    """A stand-in class pickled as ``module.name`` (never imported while writing)."""
    cls = type(name, (), {})
    cls.__module__, cls.__qualname__ = module, name
    import sys
    import types

    mod = sys.modules.setdefault(module, types.ModuleType(module))
    if not hasattr(mod, name):
        setattr(mod, name, cls)
    return getattr(mod, name)


def _dumps(obj):
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def test_malicious_pickle_refused(tmp_path):
    marker = tmp_path / "pwned"
    # a raw pickle that calls os.system (what torch.load without weights_only would run)
    evil = b"cos\nsystem\n(V touch " + str(marker).encode() + b"\ntR."
    np.savez(tmp_path / "seq.npz", inputs=np.zeros((5, 3)))
    for i, pkl in enumerate(
        [
            evil,
            b"cbuiltins\neval\n(V__import__('os').system('touch "
            + str(marker).encode()
            + b"')\ntR.",
            b"cposix\nsystem\n(V touch " + str(marker).encode() + b"\ntR.",
            b"cnumpy\nload\n(V" + str(marker).encode() + b"\ntR.",
        ]
    ):
        path = _pt(tmp_path / f"evil{i}.pt", pkl)
        with pytest.raises(SpecError, match="refused.*not allowed"):
            read_pt(str(path))
        proc = run_cli(
            "convert", "ncps", path, "-o", tmp_path / f"e{i}.yaml", "--inputs", tmp_path / "seq.npz"
        )
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert "refused" in proc.stderr and "not allowed" in proc.stderr
        assert not os.path.exists(tmp_path / f"e{i}.yaml")
    assert not marker.exists()


def test_malformed_pt_refused(tmp_path):
    f64 = _fake_global("torch", "DoubleStorage")
    st = _Pid(("storage", f64, "0", "cpu", 4))
    raw = np.arange(4, dtype=np.float64).tobytes()

    def tensor(size, stride, offset=0):
        return _Call("torch._utils", "_rebuild_tensor_v2", (st, offset, size, stride, False, {}))

    ok = _pt(
        tmp_path / "ok.pt",
        _dumps({"a": tensor((2, 2), (2, 1)), "b": tensor((2,), (2,), 1)}),
        {"0": raw},
    )
    sd = read_pt(str(ok))
    assert np.array_equal(sd["a"], [[0.0, 1.0], [2.0, 3.0]]) and np.array_equal(sd["b"], [1.0, 3.0])
    cases = {  # message -> (pickled object, storages)
        "larger than its storage": ({"a": tensor((3, 2), (2, 1))}, {"0": raw}),
        "malformed tensor shape": ({"a": tensor((2,), (-1,), 3)}, {"0": raw}),
        "truncated": ({"a": tensor((2,), (1,))}, {"0": raw[:8]}),
        "data/0 missing": ({"a": tensor((2,), (1,))}, {}),
        "expected a tensor": ({"a": 3}, {"0": raw}),
        "expected a state dict": ([tensor((2,), (1,))], {"0": raw}),
    }
    for what, (obj, storages) in cases.items():
        path = _pt(tmp_path / "bad.pt", _dumps(obj), storages)
        with pytest.raises(SpecError, match=what):
            read_pt(str(path))
    (tmp_path / "plain.pt").write_bytes(pickle.dumps({"a": 1}))  # torch's legacy format
    with pytest.raises(SpecError, match="not a PyTorch zip"):
        read_pt(str(tmp_path / "plain.pt"))
