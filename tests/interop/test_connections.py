"""get_connections reads the built synapses back; `neurosim connections` exports them."""

import dataclasses
import textwrap

import h5py
import numpy as np
import pytest

import neurosim
from neurosim.cli import main
from neurosim.network.build import build
from neurosim.network.inspect import get_connections


def _table(c):
    """Synapses as a sorted structured view: (source, target, weight, delay)."""
    a = np.rec.fromarrays(
        [c.source, c.target, np.asarray(c.weight, np.float64), np.round(c.delay, 9)],
        names="s,t,w,d",
    )
    return np.sort(a, order=["s", "t", "w", "d"])


def test_from_file_table_comes_back(tmp_path):
    """The oracle: a from_file table with mixed signs onto current and conductance
    targets is what get_connections returns (weights as stored: float32)."""
    rng = np.random.default_rng(1)
    n = 300
    pre, post = rng.integers(0, 30, n), rng.integers(0, 20, n)
    w = rng.uniform(-50, 50, n)
    d = rng.integers(1, 40, n) * 0.1
    np.savez(tmp_path / "t.npz", pre=pre, post=post, weight=w, delay=d)
    (tmp_path / "n.yaml").write_text(
        textwrap.dedent(
            """\
            populations:
              A: {size: 30, model: iaf_psc_alpha}
              B: {size: 20, model: iaf_cond_alpha}
              C: {size: 20, model: iaf_psc_delta}
            projections:
              - {pre: A, post: B, rule: {from_file: {path: t.npz}}}
              - {pre: A, post: C, rule: {from_file: {path: t.npz}}}
              - {pre: A, post: A, rule: one_to_one, weight: 5 pA, delay: 0.7 ms}
            """
        )
    )
    b = build(neurosim.load(tmp_path / "n.yaml"))
    want = _table(
        dataclasses.make_dataclass("T", ["source", "target", "weight", "delay"])(
            pre, post, w.astype(np.float32).astype(np.float64), np.round(d / 0.1) * 0.1
        )
    )
    for post_pop, unit in (("B", "nS"), ("C", "mV")):
        c = get_connections(b, "A", post_pop)
        assert c.weight_unit == unit and c.kind == "spikes" and len(c) == n
        got = _table(c)
        assert np.array_equal(got.s, want.s) and np.array_equal(got.t, want.t)
        assert np.array_equal(got.w, want.w)
        np.testing.assert_allclose(got.d, want.d, atol=1e-9)
        # the sign follows the port: negative weights on 'in', as in the file
        assert np.array_equal(c.weight < 0, c.receptor == c.receptors.index("in"))
    c = get_connections(b, "A", "A")
    assert np.array_equal(c.source, c.target) and len(c) == 30
    assert np.all(c.weight == 5) and np.allclose(c.delay, 0.7)
    assert c.degree_stats()["in"] == {"mean": 1.0, "std": 0.0, "min": 1, "max": 1}
    assert len(get_connections(b, "A", "C").sorted()) == n


def test_rules_and_devices(built, network_file):
    for post in ("E", "I"):
        c = get_connections(built, "E", post)
        assert np.all(c.in_degree() == 8)
        assert np.all((c.delay >= 1 - 1e-9) & (c.delay <= 3 + 1e-9))
    c = get_connections(built, "I", "I")
    assert c.weight_unit == "nS" and np.all(c.weight == -4) and np.allclose(c.delay, 1.2)
    c = get_connections(built, "ext", "E")
    assert (c.kind, len(c)) == ("poisson", 80)
    assert {(s, t) for s, t in zip(c.source, c.target, strict=True)} == {
        (s, t) for s in range(2) for t in range(40)
    }
    assert np.all(c.weight == 10) and np.allclose(c.delay, 1.5)
    c = get_connections(built, "ext", "I")
    assert np.all(np.abs(c.weight) <= 2) and (c.weight < 0).any() and (c.weight > 0).any()
    assert np.array_equal(c.weight < 0, c.receptor == 1)
    c = get_connections(built, "sg", "E")
    assert np.all(c.out_degree() == 4) and np.all(c.weight == 100)
    c = get_connections(built, "dc", "E")
    assert (c.kind, c.weight_unit) == ("current", "1")
    assert np.all(c.out_degree() == 10) and np.all(c.weight == 0.5) and np.all(c.receptor == -1)
    assert len(get_connections(built, "I", "E").sorted()) == len(
        get_connections(network_file, "I", "E")
    )
    with pytest.raises(KeyError, match="unknown population 'Q'"):
        get_connections(built, "Q", "E")
    with pytest.raises(KeyError, match="device"):
        get_connections(built, "E", "ext")


def _dense(b):
    """The same network in the single-process layout: row_ptr over every gid, no
    src_gids, no neuron_gid."""
    d = dataclasses.replace(b)
    src = getattr(b, "src_gids", None)
    if src is not None:
        counts = np.zeros(b.n_gids, np.int64)
        counts[np.asarray(src)] = np.diff(b.row_ptr)
        d.row_ptr = np.concatenate(([0], np.cumsum(counts)))
        d.src_gids = None
    if hasattr(d, "neuron_gid"):
        d.neuron_gid = None
    return d


def test_dense_and_compact_layouts_agree(built, monkeypatch):
    from neurosim.network import inspect

    dense = _dense(built)
    pairs = (("E", "E"), ("E", "I"), ("I", "E"), ("sg", "E"), ("ext", "I"))
    whole = {pq: get_connections(built, *pq) for pq in pairs}
    monkeypatch.setattr(inspect, "CHUNK", 7)  # decoded by blocks of a few rows
    for pre, post in pairs:
        a, b = whole[(pre, post)], get_connections(dense, pre, post)
        for f in ("source", "target", "weight", "delay", "receptor"):
            assert np.array_equal(getattr(a, f), getattr(b, f)), (pre, post, f)


def test_connections_command_sonata_edges_read_by_libsonata(network_file, built, tmp_path, capsys):
    libsonata = pytest.importorskip("libsonata")
    out = tmp_path / "edges.h5"
    assert main(["connections", str(network_file), "-o", str(out)]) == 0
    assert "E -> I" in capsys.readouterr().out
    storage = libsonata.EdgeStorage(str(out))
    pairs = [("E", "E"), ("E", "I"), ("I", "E"), ("I", "I"), ("ext", "E"), ("ext", "I")]
    pairs += [("sg", "E"), ("dc", "E")]
    assert storage.population_names == {f"{p}_to_{q}" for p, q in pairs}
    for p, q in pairs:
        pop = storage.open_population(f"{p}_to_{q}")
        assert (pop.source, pop.target) == (p, q)
        sel = pop.select_all()
        got = dataclasses.make_dataclass("T", ["source", "target", "weight", "delay"])(
            pop.source_nodes(sel).astype(np.int64),
            pop.target_nodes(sel).astype(np.int64),
            pop.get_attribute("syn_weight", sel),
            pop.get_attribute("delay", sel),
        )
        c = get_connections(built, p, q)
        assert np.array_equal(_table(got), _table(c)), (p, q)
        # the indices: afferent / efferent edges of a node
        t0, s0 = int(c.target[0]), int(c.source[0])
        aff = pop.afferent_edges([t0]).flatten()
        eff = pop.efferent_edges([s0]).flatten()
        assert len(aff) == int((c.target == t0).sum()) and len(eff) == int((c.source == s0).sum())
        assert np.all(pop.target_nodes(libsonata.Selection(aff)) == t0)
    # bmtk's reader wants the index in the singular: the same data under both names
    with h5py.File(out, "r") as f:
        for name in storage.population_names:
            for side in ("source_to_target", "target_to_source"):
                g = f["edges"][name]["indices"][side]
                assert np.array_equal(g["node_id_to_range"][()], g["node_id_to_ranges"][()])


def test_connections_npz_feeds_from_file(network_file, built, tmp_path, capsys):
    out = tmp_path / "ii.npz"
    assert (
        main(["connections", str(network_file), "-o", str(out), "--pre", "I", "--post", "I"]) == 0
    )
    with np.load(out) as z:
        assert {"pre", "post", "weight", "delay", "receptor"} <= set(z.files)
        assert set(z["receptor"]) == {"in"}
    (tmp_path / "again.yaml").write_text(
        "populations:\n  I: {size: 10, model: iaf_cond_exp}\n"
        "projections:\n  - {pre: I, post: I, rule: {from_file: {path: ii.npz}}}\n"
    )
    again = get_connections(tmp_path / "again.yaml", "I", "I")
    assert np.array_equal(_table(again), _table(get_connections(built, "I", "I")))
    out = tmp_path / "all.npz"
    assert main(["connections", str(network_file), "-o", str(out)]) == 0
    with np.load(out) as z:
        assert "E_to_I.pre" in z.files and "dc_to_E.weight" in z.files


def test_connections_bad_input(network_file, tmp_path, capsys):
    def err(argv):
        assert main(argv) == 2
        text = capsys.readouterr().err.strip()
        assert len(text.splitlines()) == 1, text
        return text

    net = str(network_file)
    e = err(["connections", net, "-o", str(tmp_path / "x.h5"), "--pre", "Q"])
    assert net in e and "--pre" in e and "'Q'" in e
    assert ".npz" in err(["connections", net, "-o", str(tmp_path / "x.csv")])
    bad = tmp_path / "bad.yaml"
    bad.write_text("populations: {E: {size: 5, model: iaf_psc_expp}}\n")
    assert "populations.E.model" in err(["connections", str(bad), "-o", str(tmp_path / "y.h5")])
