"""A SONATA point-neuron circuit runs in neurosim with the edges of its files.

The circuit is built with bmtk's NetworkBuilder where bmtk is installed; a second
circuit is written with h5py straight from the SONATA specification, so the import is
tested without bmtk too.  The edges are read back with libsonata (or h5py) and the
edge-types CSV, independently of neurosim's reader.
"""

import csv
import json

import numpy as np
import pytest

import neurosim
from neurosim.cli import main
from neurosim.network.inspect import get_connections

EXC = {"C_m": 250.0, "tau_m": 20.0, "t_ref": 2.0, "E_L": -70.0, "V_th": -55.0}
EXC.update({"V_reset": -70.0, "tau_syn_ex": 0.5, "tau_syn_in": 2.0, "V_m": -65.0})
INH = {"C_m": 250.0, "g_L": 16.7, "t_ref": 1.0, "E_L": -70.0, "V_th": -55.0}
INH.update({"V_reset": -70.0, "E_ex": 0.0, "E_in": -85.0, "tau_syn_ex": 0.5, "tau_syn_in": 2.0})


def _components(root):
    cells = root / "components" / "cell_models"
    syns = root / "components" / "synaptic_models"
    cells.mkdir(parents=True)
    syns.mkdir(parents=True)
    (cells / "exc.json").write_text(json.dumps(EXC))
    (cells / "inh.json").write_text(json.dumps(INH))
    (syns / "static.json").write_text(json.dumps({"model": "static_synapse"}))


def _configs(root, node_pops, edge_pairs, spikes_file, input_pop):
    circuit = {
        "manifest": {"$BASE_DIR": "${configdir}", "$NETWORK_DIR": "$BASE_DIR/network"},
        "components": {
            "point_neuron_models_dir": "$BASE_DIR/components/cell_models",
            "synaptic_models_dir": "$BASE_DIR/components/synaptic_models",
        },
        "networks": {
            "nodes": [
                {
                    "nodes_file": f"$NETWORK_DIR/{p}_nodes.h5",
                    "node_types_file": f"$NETWORK_DIR/{p}_node_types.csv",
                }
                for p in node_pops
            ],
            "edges": [
                {
                    "edges_file": f"$NETWORK_DIR/{a}_{b}_edges.h5",
                    "edge_types_file": f"$NETWORK_DIR/{a}_{b}_edge_types.csv",
                }
                for a, b in edge_pairs
            ],
        },
    }
    (root / "circuit_config.json").write_text(json.dumps(circuit, indent=1))
    sim = {
        "manifest": {"$BASE_DIR": "${configdir}"},
        "network": "$BASE_DIR/circuit_config.json",
        "run": {"tstop": 100.0, "dt": 0.1},
        "inputs": {
            "bg": {
                "input_type": "spikes",
                "module": "sonata",
                "input_file": f"$BASE_DIR/{spikes_file}",
                "node_set": input_pop,
            }
        },
    }
    (root / "simulation_config.json").write_text(json.dumps(sim, indent=1))
    return root / "simulation_config.json"


def _bmtk_circuit(root):
    from bmtk.builder import NetworkBuilder
    from bmtk.utils.reports.spike_trains import PoissonSpikeGenerator

    rng = np.random.default_rng(7)
    net = NetworkBuilder("cortex")
    common = {"model_type": "point_neuron"}
    net.add_nodes(N=160, pop_name="exc", model_template="nest:iaf_psc_alpha", **common,
                  dynamics_params="exc.json")  # fmt: skip
    net.add_nodes(N=40, pop_name="inh", model_template="nest:iaf_cond_exp", **common,
                  dynamics_params="inh.json")  # fmt: skip

    def maybe(source, target, p):
        return int(rng.random() < p) * int(rng.integers(1, 3))  # nsyns 0, 1 or 2

    net.add_edges(source={"pop_name": "exc"}, target={"pop_name": "exc"}, connection_rule=maybe,
                  connection_params={"p": 0.05}, syn_weight=30.0, delay=1.5,
                  dynamics_params="static.json", model_template="static_synapse")  # fmt: skip
    net.add_edges(source={"pop_name": "exc"}, target={"pop_name": "inh"}, connection_rule=maybe,
                  connection_params={"p": 0.1}, syn_weight=2.0, delay=1.0,
                  dynamics_params="static.json", model_template="static_synapse")  # fmt: skip
    cm = net.add_edges(source={"pop_name": "inh"}, target={}, connection_rule=maybe,
                       connection_params={"p": 0.2}, delay=0.8,
                       dynamics_params="static.json", model_template="static_synapse")  # fmt: skip
    # per-edge weights stored in the edges file: pA onto exc, nS onto inh (negative)
    cm.add_properties(
        "syn_weight",
        rule=lambda s, t: (
            -float(rng.uniform(40, 80) if t["pop_name"] == "exc" else rng.uniform(1, 3))
        ),
        dtypes=float,
    )
    net.build()
    net.save(output_dir=str(root / "network"))
    ext = NetworkBuilder("ext")
    ext.add_nodes(N=60, model_type="virtual", pop_name="bg")
    ext.add_edges(source=ext.nodes(), target=net.nodes(), connection_rule=maybe,
                  connection_params={"p": 0.15}, syn_weight=300.0, delay=2.0,
                  dynamics_params="static.json", model_template="static_synapse")  # fmt: skip
    ext.build()
    ext.save(output_dir=str(root / "network"))
    psg = PoissonSpikeGenerator(population="ext", seed=3)
    psg.add(node_ids=range(60), firing_rate=80.0, times=(0.0, 0.1))
    psg.to_sonata(str(root / "ext_spikes.h5"))
    return _configs(root, ["cortex", "ext"], [("cortex", "cortex"), ("ext", "cortex")],
                    "ext_spikes.h5", "ext")  # fmt: skip


def _libsonata_edges(edges_file):
    import h5py

    try:
        import libsonata
    except ImportError:
        return None
    out = {}
    st = libsonata.EdgeStorage(str(edges_file))
    for name in st.population_names:
        # libsonata reads one edge group per population, and its wheels (0.2.2) carry
        # no gzip filter, which bmtk's files use
        try:
            p = st.open_population(name)
            sel = p.select_all()
            cols = {a: np.asarray(p.get_attribute(a, sel)) for a in p.attribute_names}
            with h5py.File(edges_file, "r") as f:  # libsonata does not expose the types
                et = f[f"edges/{name}/edge_type_id"][()]
            out[name] = (p.source, p.target, p.source_nodes(sel), p.target_nodes(sel), cols, et)
        except (libsonata.SonataError, RuntimeError):
            return None
    return out


def _edge_table(edges_file, types_file):
    """{edge population: (source pop, target pop, src ids, tgt ids, weight, delay)}
    read with libsonata (h5py without it) and the edge-types CSV: weight is
    ``syn_weight * nsyns``, per edge where the file has it, else the type's."""
    with open(types_file, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=" "))
    types = {int(r["edge_type_id"]): r for r in rows}
    out = _libsonata_edges(edges_file)
    if out is None:  # no libsonata, or a file it cannot read
        import h5py

        out = {}
        with h5py.File(edges_file, "r") as f:
            for name, g in f["edges"].items():
                gid, gidx = g["edge_group_id"][()], g["edge_group_index"][()]
                cols = {}
                for k in np.unique(gid):
                    rows = np.nonzero(gid == k)[0]
                    for c, v in g[str(k)].items():
                        if hasattr(v, "shape"):
                            a = cols.setdefault(c, np.full(len(gid), np.nan))
                            a[rows] = v[()][gidx[rows]]
                out[name] = (
                    g["source_node_id"].attrs["node_population"],
                    g["target_node_id"].attrs["node_population"],
                    g["source_node_id"][()],
                    g["target_node_id"][()],
                    cols,
                    g["edge_type_id"][()],
                )
    table = {}
    for name, (sp, tp, src, tgt, cols, et) in out.items():

        def col(key, default, cols=cols, et=et):
            vals = [types[int(t)].get(key) for t in et]
            typed = np.array([default if v in (None, "", "NULL") else float(v) for v in vals])
            if key not in cols:
                return typed
            a = np.asarray(cols[key], np.float64)
            return np.where(np.isnan(a), typed, a)  # edges of a group without the column

        w = col("syn_weight", np.nan) * col("nsyns", 1.0)
        table[name] = (sp, tp, np.asarray(src, np.int64), np.asarray(tgt, np.int64), w,
                       col("delay", 1.0))  # fmt: skip
    return table


def _check_connectivity(res, sim, edges):
    """get_connections of the imported network, mapped to SONATA node ids, equals the
    edges of the files (weights as the simulation stores them: float32)."""
    want = {}
    for _name, (sp, tp, s, t, w, d) in edges.items():
        want.setdefault((sp, tp), []).append((s, t, w, d))
    got = {}
    spec = sim.spec
    for proj in spec.projections:
        c = get_connections(sim, proj.pre, proj.post)
        sp, sids = res.node_ids(proj.pre)
        tp, tids = res.node_ids(proj.post)
        got.setdefault((sp, tp), []).append((sids[c.source], tids[c.target], c.weight, c.delay))
    assert set(got) == set(want)
    n = 0
    for key in want:

        def table(parts):
            s, t, w, d = (np.concatenate(x) for x in zip(*parts, strict=True))
            a = np.rec.fromarrays([s, t, w, np.round(d, 9)], names="s,t,w,d")
            return np.sort(a, order=["s", "t", "w", "d"])

        a, b = table(got[key]), table(want[key])
        assert np.array_equal(a.s, b.s) and np.array_equal(a.t, b.t), key
        assert np.array_equal(a.w, b.w.astype(np.float32).astype(np.float64)), key
        np.testing.assert_allclose(a.d, b.d, atol=1e-9)
        n += len(a)
    return n


def _import_and_run(config, tmp_path, capsys):
    out = tmp_path / "net.yaml"
    assert main(["import-sonata", str(config), "-o", str(out)]) == 0, capsys.readouterr().err
    assert "wrote" in capsys.readouterr().out
    from neurosim.io.sonata import import_sonata

    res = import_sonata(config, tmp_path / "again.yaml")
    spec = neurosim.load(out)
    sim = neurosim.Simulation(spec, backend="numpy")
    sim.run(spec.duration)
    return res, sim


def test_bmtk_circuit_runs_with_its_edges(tmp_path, capsys):
    pytest.importorskip("bmtk")
    _components(tmp_path)
    config = _bmtk_circuit(tmp_path)
    res, sim = _import_and_run(config, tmp_path, capsys)
    spec = sim.spec
    assert spec.duration == 100.0 and spec.dt == 0.1
    assert {p.name: (p.model, p.size) for p in spec.populations.values()} == {
        "cortex.exc": ("iaf_psc_alpha", 160),
        "cortex.inh": ("iaf_cond_exp", 40),
        "ext": ("spike_generator", 60),
    }
    assert spec.populations["cortex.exc"].initial["V_m"].args == (-65.0,)
    assert spec.populations["cortex.inh"].params["g_L"].args == (16.7,)
    net = tmp_path / "network"
    edges = _edge_table(net / "cortex_cortex_edges.h5", net / "cortex_cortex_edge_types.csv")
    edges.update(_edge_table(net / "ext_cortex_edges.h5", net / "ext_cortex_edge_types.csv"))
    assert _check_connectivity(res, sim, edges) > 1000
    for pop in ("cortex.exc", "cortex.inh"):
        t, _ = sim.spikes(pop)
        assert len(t) > 0, pop
    # the input spikes reached the spike generators (times on the dt grid)
    import h5py

    with h5py.File(tmp_path / "ext_spikes.h5", "r") as f:
        n_in = f["spikes/ext/timestamps"].shape[0]
    sg = spec.populations["ext"].params["spike_times"]
    assert sum(len(r) for r in sg) == n_in > 100


def _h5py_circuit(root):
    """A circuit written from the SONATA specification: node types interleaved in
    node-id order, per-edge weights in two edge groups, one edge type with nsyns."""
    import h5py

    net = root / "network"
    net.mkdir()
    rng = np.random.default_rng(11)
    n = 120
    tid = np.where(rng.random(n) < 0.75, 1, 2)  # 1: exc, 2: inh, interleaved
    with h5py.File(net / "V1_nodes.h5", "w") as f:
        g = f.create_group("nodes/V1")
        g["node_id"] = np.arange(n, dtype=np.uint64)
        g["node_type_id"] = tid.astype(np.uint64)
        g["node_group_id"] = np.zeros(n, np.uint32)
        g["node_group_index"] = np.arange(n, dtype=np.uint64)
        g.create_group("0")["x"] = rng.random(n)
    (net / "V1_node_types.csv").write_text(
        "node_type_id model_type model_template dynamics_params pop_name\n"
        "1 point_neuron nest:iaf_psc_alpha exc.json e\n"
        "2 point_neuron nest:iaf_cond_exp inh.json i\n"
    )
    with h5py.File(net / "LGN_nodes.h5", "w") as f:
        g = f.create_group("nodes/LGN")
        g["node_type_id"] = np.full(30, 7, np.uint64)
        g["node_group_id"] = np.zeros(30, np.uint32)
        g["node_group_index"] = np.arange(30, dtype=np.uint64)
    (net / "LGN_node_types.csv").write_text("node_type_id model_type\n7 virtual\n")

    def edges(name, src_pop, tgt_pop, src, tgt, groups, types):
        with h5py.File(net / f"{name}_edges.h5", "w") as f:
            g = f.create_group(f"edges/{src_pop}_to_{tgt_pop}")
            g["source_node_id"] = src.astype(np.uint64)
            g["source_node_id"].attrs["node_population"] = src_pop
            g["target_node_id"] = tgt.astype(np.uint64)
            g["target_node_id"].attrs["node_population"] = tgt_pop
            g["edge_type_id"] = types.astype(np.uint32)
            gid = np.zeros(len(src), np.uint32)
            gidx = np.zeros(len(src), np.uint64)
            for k, (rows, cols) in enumerate(groups):
                gid[rows] = k
                gidx[rows] = np.arange(len(rows))
                gg = g.create_group(str(k))
                for c, v in cols.items():
                    gg[c] = v
            g["edge_group_id"] = gid
            g["edge_group_index"] = gidx

    m = 900
    src, tgt = rng.integers(0, n, m), rng.integers(0, n, m)
    inh = tid[src] == 2
    w = np.where(inh, -1, 1) * np.where(tid[tgt] == 1, rng.uniform(20, 60, m), rng.uniform(1, 4, m))
    half = rng.permutation(m)
    g0, g1 = np.sort(half[: m // 2]), np.sort(half[m // 2 :])
    edges("V1_V1", "V1", "V1", src, tgt,
          [(g0, {"syn_weight": w[g0], "delay": rng.integers(5, 30, len(g0)) * 0.1}),
           (g1, {"syn_weight": w[g1]})],
          np.full(m, 100))  # fmt: skip
    (net / "V1_V1_edge_types.csv").write_text(
        "edge_type_id model_template delay dynamics_params\n100 static_synapse 1.7 static.json\n"
    )
    k = 200
    src, tgt = rng.integers(0, 30, k), rng.integers(0, n, k)
    edges("LGN_V1", "LGN", "V1", src, tgt, [(np.arange(k), {"nsyns": rng.integers(1, 4, k)})],
          np.where(tid[tgt] == 1, 200, 201))  # fmt: skip
    (net / "LGN_V1_edge_types.csv").write_text(
        "edge_type_id model_template syn_weight delay\n"
        "200 static_synapse 250.0 2.0\n201 static_synapse 6.0 2.0\n"
    )
    with h5py.File(root / "lgn_spikes.h5", "w") as f:
        g = f.create_group("spikes/LGN")
        t = np.sort(rng.uniform(0, 100, 900))
        g["timestamps"] = t
        g["timestamps"].attrs["units"] = "ms"
        g["node_ids"] = rng.integers(0, 30, 900).astype(np.uint64)
    return _configs(root, ["V1", "LGN"], [("V1", "V1"), ("LGN", "V1")], "lgn_spikes.h5", "LGN")


def test_spec_written_circuit_runs_with_its_edges(tmp_path, capsys):
    _components(tmp_path)
    config = _h5py_circuit(tmp_path)
    res, sim = _import_and_run(config, tmp_path, capsys)
    pops = sim.spec.populations
    assert (pops["V1.e"].model, pops["V1.i"].model) == ("iaf_psc_alpha", "iaf_cond_exp")
    assert pops["V1.e"].size + pops["V1.i"].size == 120
    _, ids_e = res.node_ids("V1.e")
    _, ids_i = res.node_ids("V1.i")
    assert sorted(np.concatenate([ids_e, ids_i])) == list(range(120))
    net = tmp_path / "network"
    edges = _edge_table(net / "V1_V1_edges.h5", net / "V1_V1_edge_types.csv")
    edges.update(_edge_table(net / "LGN_V1_edges.h5", net / "LGN_V1_edge_types.csv"))
    assert _check_connectivity(res, sim, edges) == 1100
    assert sum(len(sim.spikes(p)[0]) for p in ("V1.e", "V1.i")) > 0


def test_import_sonata_bad_input(tmp_path, capsys):
    def err(argv):
        assert main(argv) == 2
        text = capsys.readouterr().err.strip()
        assert len(text.splitlines()) == 1, text
        return text

    _components(tmp_path)
    config = _h5py_circuit(tmp_path)
    out = str(tmp_path / "n.yaml")
    assert "file not found" in err(["import-sonata", str(tmp_path / "none.json"), "-o", out])
    broken = tmp_path / "broken.json"
    broken.write_text("{ nope")
    e = err(["import-sonata", str(broken), "-o", out])
    assert str(broken) in e and "JSON" in e
    types = tmp_path / "network" / "V1_node_types.csv"
    types.write_text(types.read_text().replace("nest:iaf_cond_exp", "nest:iaf_cond_expp"))
    e = err(["import-sonata", str(config), "-o", out])
    assert str(types) in e and "node_type_id 2" in e and "did you mean 'nest:iaf_cond_exp'" in e
    types.write_text(types.read_text().replace("nest:iaf_cond_expp", "nest:iaf_cond_exp"))
    exc = tmp_path / "components" / "cell_models" / "exc.json"
    exc.write_text('{"tau_mm": 3}')
    e = err(["import-sonata", str(config), "-o", out])
    assert "exc.json" in e and "tau_mm" in e and "did you mean 'tau_m'" in e
    exc.write_text(json.dumps(EXC))
    (tmp_path / "network" / "LGN_nodes.h5").write_bytes(b"not hdf5")
    e = err(["import-sonata", str(config), "-o", out])
    assert "LGN_nodes.h5" in e and "HDF5" in e
    cfg = json.loads((tmp_path / "circuit_config.json").read_text())
    del cfg["networks"]
    (tmp_path / "circuit_config.json").write_text(json.dumps(cfg))
    assert "networks" in err(["import-sonata", str(config), "-o", out])


def test_import_follows_bmtk_pointnet_on_start_potential_and_null_delays(tmp_path, capsys):
    """What a review running bmtk's pointnet (NEST 3.10) found: NEST starts V_m at the
    model's -70 mV whatever E_L is, so an imported population without V_m starts there
    (a network file's own default is E_L); an edge type whose delay column is NULL gets
    NEST's 1 ms, even with a delay in its synapse's dynamics_params."""
    _components(tmp_path)
    config = _h5py_circuit(tmp_path)
    exc = dict(EXC, E_L=-65.0)
    exc.pop("V_m", None)
    (tmp_path / "components" / "cell_models" / "exc.json").write_text(json.dumps(exc))
    syn = {"model": "static_synapse", "delay": 2.0}
    (tmp_path / "components" / "synaptic_models" / "delayed.json").write_text(json.dumps(syn))
    (tmp_path / "network" / "V1_V1_edge_types.csv").write_text(
        "edge_type_id model_template delay dynamics_params\n100 static_synapse NULL delayed.json\n"
    )
    out = tmp_path / "net.yaml"
    assert main(["import-sonata", str(config), "-o", str(out)]) == 0, capsys.readouterr().err
    spec = neurosim.load(out)
    e = spec.populations["V1.e"]
    assert e.params["E_L"].args == (-65.0,)
    assert e.initial["V_m"].args == (-70.0,)
    from neurosim.network.build import build

    b = build(spec)
    V = b.V[b.layouts["V1.e"].n0 : b.layouts["V1.e"].n0 + e.size]
    assert np.all(V == -70.0)
    # the edge type's own values: the NULL delay column wins over dynamics_params
    from neurosim.io.sonata import _edge_type_defaults, _read_types_csv

    types_file = tmp_path / "network" / "V1_V1_edge_types.csv"
    syn_dir = tmp_path / "components" / "synaptic_models"
    d = _edge_type_defaults(_read_types_csv(types_file), 100, str(syn_dir), str(types_file))
    assert "delay" not in d  # so 1 ms, NEST's default, as bmtk connects it
