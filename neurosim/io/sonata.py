"""SONATA in and out: edges files from a built network, circuits into network files.

Out (:func:`write_edges`): a SONATA edges HDF5 file with one edge population
``<pre>_to_<post>`` per pair of populations::

    /edges/<pre>_to_<post>/source_node_id   uint64, attribute node_population = pre
    /edges/<pre>_to_<post>/target_node_id   uint64, attribute node_population = post
    /edges/<pre>_to_<post>/edge_type_id     uint32 (one edge type per population)
    /edges/<pre>_to_<post>/edge_group_id    uint32 (0)
    /edges/<pre>_to_<post>/edge_group_index uint64
    /edges/<pre>_to_<post>/0/syn_weight     float64, the network file's unit (attribute units)
    /edges/<pre>_to_<post>/0/delay          float64, ms
    /edges/<pre>_to_<post>/indices/{source_to_target, target_to_source}/
        {node_id_to_ranges, range_to_edge_id}

sorted by target then source (as bmtk writes them), node ids population-local, and
an edge-types table ``<stem>_edge_types.csv`` (space-separated, SONATA's CSV) next to it.

Reports (:func:`export_reports`): SONATA's report files hold one variable each,
``/report/<population>/{data, mapping/...}`` with float32 data, while a recording keeps
``/report/<population>/<variable>/...`` in the state's dtype; the export writes one
SONATA file per variable, which libsonata's ``ElementReportReader`` reads.

In (:func:`import_sonata`): a circuit (``circuit_config.json``, or a simulation
config naming one) with point neurons becomes a network file plus its connection
tables.  Mapping:

- node type ``model_type`` ``point_neuron`` (or ``point_process``) with
  ``model_template`` ``nest:<model>`` -> our model of that name (``iaf_psc_alpha`` ...);
  its ``dynamics_params`` JSON (in ``components.point_neuron_models_dir``) gives the
  parameters by NEST's names (NEST's units are ours) and ``V_m`` the initial state;
- ``model_type: virtual`` -> a ``spike_generator`` population, its spikes read from the
  simulation config's ``inputs`` (``input_type: spikes``, a SONATA spike file);
- the nodes of one SONATA population with the same model and parameters form one of
  our populations (named like the SONATA population when there is one group, else
  ``<population>.<pop_name>``); the node ids of each are saved in ``nodes.npz``;
- each edge population becomes ``from_file`` projections (``pre``, ``post``,
  ``weight``, ``delay`` tables in ``.npz``) with weight ``syn_weight * nsyns`` (bmtk's
  point-neuron rule), the sign choosing the port as in NEST, delay in ms;
- ``run.dt`` and ``run.tstop`` of a simulation config become ``simulation.dt`` and
  ``duration``.

h5py is imported here (``neurosim/io`` holds the file formats); libsonata is not
needed to import or export.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field

import numpy as np

#: NEST parameters of the supported models that neurosim accepts and ignores (they
#: only matter for plasticity, which these networks do not use).
IGNORED_PARAMS = ("tau_minus", "tau_minus_triplet")
#: Keys of an edge type's dynamics_params that we read (others are refused).
EDGE_PARAM_KEYS = ("model", "synapse_model", "weight", "delay")


class SonataError(ValueError):
    """A SONATA file is invalid or unsupported: names the file and the field."""

    def __init__(self, path, field, message):
        self.path, self.field, self.message = str(path), field, message
        super().__init__(str(self))

    def __str__(self):
        return (
            f"{self.path}: {self.field}: {self.message}"
            if self.field
            else (f"{self.path}: {self.message}")
        )


# ----------------------------------------------------------------------------- out


def edge_population_name(pre: str, post: str) -> str:
    """The edge population name of a pair: ``<pre>_to_<post>``."""
    return f"{pre}_to_{post}"


def _index(first, n_first):
    """A SONATA edge index of the node ids ``first`` (int64, one per edge, in edge
    order): ``node_id_to_ranges`` (uint64 [n_first, 2]: rows of ``range_to_edge_id``
    for each node) and ``range_to_edge_id`` (uint64 [ranges, 2]: runs of consecutive
    edge ids with that node, ``[start, stop)``)."""
    n = len(first)
    if n:
        brk = np.nonzero(np.diff(first) != 0)[0] + 1
        starts = np.concatenate(([0], brk))
        ends = np.concatenate((brk, [n]))
        node_of_range = first[starts]
        ro = np.argsort(node_of_range, kind="stable")
        ranges = np.stack([starts[ro], ends[ro]], axis=1).astype(np.uint64)
        counts = np.bincount(node_of_range, minlength=n_first)
    else:
        ranges = np.zeros((0, 2), np.uint64)
        counts = np.zeros(n_first, np.int64)
    cum = np.concatenate(([0], np.cumsum(counts)))
    n2r = np.stack([cum[:-1], cum[1:]], axis=1).astype(np.uint64)
    return n2r, ranges


def write_edges(path, connections, overwrite=False):
    """Write connections as a SONATA edges file (layout: module docstring).

    Parameters
    ----------
    path : str
        The ``.h5`` file to write.
    connections : dict of (pre, post) -> neurosim.network.inspect.Connections
        Or an iterable of ``((pre, post), Connections)`` items, written one at a time
        (:func:`neurosim.network.inspect.iter_connections`).
    overwrite : bool
        Replace existing files.

    Returns
    -------
    list of str
        The files written (the edges file and its edge-types CSV).
    """
    import h5py

    path = os.fspath(path)
    types_path = os.path.splitext(path)[0] + "_edge_types.csv"
    for p in (path, types_path):
        if os.path.exists(p) and not overwrite:
            raise SonataError(p, None, "already exists; pass --overwrite to replace it")
    rows = []
    with h5py.File(path, "w") as f:
        f.attrs["magic"] = np.uint32(0x0A7A)
        f.attrs["version"] = np.array([0, 1], np.uint32)
        edges = f.create_group("edges")
        items = connections.items() if hasattr(connections, "items") else connections
        for k, ((pre, post), c) in enumerate(items):
            name = edge_population_name(pre, post)
            if "/" in name:
                raise SonataError(path, name, "population names with '/' cannot name HDF5 groups")
            o = np.lexsort((c.source, c.target))
            n = len(o)
            type_id = 100 + k
            g = edges.create_group(name)
            g0 = g.create_group("0")
            ind = g.create_group("indices")
            # one column at a time: the temporaries stay one column large
            for col, where, attrs, index in (
                (c.source, g, {"node_population": pre}, ("source_to_target", c.n_pre)),
                (c.target, g, {"node_population": post}, ("target_to_source", c.n_post)),
            ):
                ids = np.asarray(col, np.int64)[o]
                dname = "source_node_id" if index[0] == "source_to_target" else "target_node_id"
                ds = where.create_dataset(dname, data=ids.astype(np.uint64))
                for a, v in attrs.items():
                    ds.attrs[a] = v
                n2r, r2e = _index(ids, index[1])
                del ids
                gi = ind.create_group(index[0])
                gi.create_dataset("node_id_to_ranges", data=n2r)
                # bmtk's reader and builder name it in the singular: the same data twice
                # (a hard link), so that libsonata and bmtk both open the file
                gi["node_id_to_range"] = gi["node_id_to_ranges"]
                gi.create_dataset("range_to_edge_id", data=r2e)
                del n2r, r2e
            g.create_dataset("edge_type_id", data=np.full(n, type_id, np.uint32))
            g.create_dataset("edge_group_id", data=np.zeros(n, np.uint32))
            g.create_dataset("edge_group_index", data=np.arange(n, dtype=np.uint64))
            for dname, col, unit in (
                ("syn_weight", c.weight, c.weight_unit),
                ("delay", c.delay, "ms"),
            ):
                ds = g0.create_dataset(dname, data=np.asarray(col, np.float64)[o])
                ds.attrs["units"] = unit
            del o
            rows.append((type_id, pre, post, c.kind, c.weight_unit))
    with open(types_path, "w", encoding="utf-8", newline="") as fh:
        fh.write(
            "edge_type_id model_template source_population target_population kind weight_unit\n"
        )
        for type_id, pre, post, kind, unit in rows:
            template = "static_synapse" if kind == "spikes" else kind
            fh.write(f"{type_id} {template} {pre} {post} {kind} {unit}\n")
    return [path, types_path]


def export_reports(recording, stem, reports, overwrite=False, rows_per_block=4096):
    """Write the state reports of a recording as SONATA report files, one per variable.

    Parameters
    ----------
    recording : str
        A neurosim recording (a merged MPI recording too: its virtual datasets are
        read through).
    stem : str
        Output names are ``<stem>.<variable>.h5``.
    reports : list of (population, variable)
        What to export (as :attr:`Recording.report_populations` / ``variables``).
    overwrite : bool
        Replace existing files.
    rows_per_block : int
        Time samples copied at once (the copy holds ``rows_per_block x neurons``
        values in memory, whatever the recording's length).

    Returns
    -------
    list of str
        The files written.  The data become float32, as SONATA's reports are
        (libsonata refuses float64): a float64 recording loses precision beyond
        about 7 significant digits.
    """
    import h5py

    by_var = {}
    for pop, var in reports:
        by_var.setdefault(var, []).append(pop)
    paths = {var: f"{stem}.{_safe_name(var)}.h5" for var in by_var}
    for path in paths.values():
        if os.path.exists(path) and not overwrite:
            raise SonataError(path, None, "already exists; pass --overwrite to replace it")
    written = []
    with h5py.File(recording, "r", locking=False) as src:
        for var, pops in by_var.items():
            path = paths[var]
            tmp = path + ".part"
            with h5py.File(tmp, "w") as f:
                for pop in pops:
                    g = src["report"][pop][var]
                    d = f.create_group(f"report/{pop}")
                    data = g["data"]
                    out = d.create_dataset(
                        "data",
                        shape=data.shape,
                        dtype=np.float32,
                        chunks=True if data.size else None,
                    )
                    for a in range(0, data.shape[0], rows_per_block):
                        out[a : a + rows_per_block] = data[a : a + rows_per_block]
                    out.attrs.update(dict(data.attrs))
                    m = d.create_group("mapping")
                    for k, v in g["mapping"].items():
                        m.create_dataset(k, data=v[()])
                        m[k].attrs.update(dict(v.attrs))
            os.replace(tmp, path)
            written.append(path)
    return written


def write_connections_npz(path, connections, plain=False, overwrite=False):
    """Write connections as ``.npz``.

    Parameters
    ----------
    path : str
    connections : dict of (pre, post) -> Connections
    plain : bool
        One pair only: columns ``pre``, ``post``, ``weight``, ``delay``, ``receptor``
        (a ``from_file`` table); else ``<pre>_to_<post>.<column>`` for every pair.
    overwrite : bool
    """
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise SonataError(path, None, "already exists; pass --overwrite to replace it")
    out = {}
    for (pre, post), c in connections.items():
        prefix = "" if plain else edge_population_name(pre, post) + "."
        out[prefix + "pre"] = c.source
        out[prefix + "post"] = c.target
        out[prefix + "weight"] = np.asarray(c.weight, np.float64)
        out[prefix + "delay"] = np.asarray(c.delay, np.float64)
        out[prefix + "receptor"] = np.asarray(
            [c.receptors[r] if r >= 0 else "current" for r in c.receptor], dtype="U7"
        )
    with open(path, "wb") as fh:
        np.savez(fh, **out)
    return [path]


# ----------------------------------------------------------------------------- in


@dataclass
class NodeGroup:
    """The nodes of one SONATA population that become one neurosim population."""

    name: str  # neurosim population name
    sonata_population: str
    node_ids: np.ndarray  # sorted SONATA node ids, int64
    model: str  # neurosim model or "spike_generator"
    params: dict
    initial: dict
    pop_names: tuple = ()


@dataclass
class SonataImport:
    """What :func:`import_sonata` wrote.

    Attributes
    ----------
    path : str
        The network file.
    files : list of str
        Every file written (network file, connection tables, node map).
    groups : dict of str -> NodeGroup
        neurosim population -> its SONATA population and node ids (local id ``i`` is
        node ``node_ids[i]``).
    warnings : list of str
    """

    path: str
    files: list
    groups: dict
    warnings: list = field(default_factory=list)

    def node_ids(self, population):
        """SONATA (population, node ids: int64 (size,)) of a neurosim population."""
        g = self.groups[population]
        return g.sonata_population, g.node_ids


def load_node_map(path):
    """The SONATA node ids of each population of an imported network.

    Parameters
    ----------
    path : str
        The ``nodes.npz`` that :func:`import_sonata` wrote (in ``<stem>_sonata/``), or
        the network file itself.

    Returns
    -------
    dict of str -> (str, ndarray of int64)
        neurosim population -> (SONATA population, node id of each local id).
    """
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path = os.path.join(os.path.splitext(path)[0] + "_sonata", "nodes.npz")
    with np.load(path, allow_pickle=False) as z:
        return {
            k: (str(z[k + ".population"]), z[k].astype(np.int64))
            for k in z.files
            if not k.endswith(".population")
        }


def _expand(value, manifest, path, where):
    if not isinstance(value, str):
        return value
    for _ in range(32):
        new = re.sub(
            r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?",
            lambda m: manifest.get("$" + m.group(1), manifest.get(m.group(1), m.group(0))),
            value,
        )
        if new == value:
            break
        value = new
    if "$" in value:
        raise SonataError(path, where, f"unresolved manifest variable in {value!r}")
    return value


def _read_json(path, where=None, ref=None):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise SonataError(ref or path, where, f"file not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SonataError(path, None, f"not a JSON file ({exc})") from None
    except OSError as exc:
        raise SonataError(path, None, f"cannot read ({exc.strerror})") from None


class _Config:
    """A SONATA config with its manifest resolved (paths absolute)."""

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))
        doc = _read_json(self.path)
        if not isinstance(doc, dict):
            raise SonataError(self.path, None, "expected a JSON object (a SONATA config)")
        self.doc = doc
        here = os.path.dirname(self.path)
        raw = doc.get("manifest", {}) or {}
        if not isinstance(raw, dict):
            raise SonataError(self.path, "manifest", "expected an object")
        manifest = {"configdir": here, "${configdir}": here}
        for k, v in raw.items():
            manifest[k if k.startswith("$") else "$" + k] = v
        for k in list(manifest):
            manifest[k] = _expand(manifest[k], manifest, self.path, f"manifest.{k}")
        self.manifest = manifest
        self.here = here

    def file(self, value, where):
        if not isinstance(value, str):
            raise SonataError(self.path, where, f"expected a file path, got {value!r}")
        p = _expand(value, self.manifest, self.path, where)
        if not os.path.isabs(p):
            p = os.path.normpath(os.path.join(self.here, p))
        if not os.path.exists(p):
            raise SonataError(self.path, where, f"file not found: {p}")
        return p


def _read_types_csv(path):
    """A SONATA types table (space-separated, header row) -> {type_id: {column: value}}."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh, delimiter=" ", skipinitialspace=True))
    except OSError as exc:
        raise SonataError(path, None, f"cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise SonataError(path, None, "not a text (CSV) file") from None
    rows = [r for r in rows if r]
    if not rows:
        raise SonataError(path, None, "empty types table")
    head = rows[0]
    key = head[0]
    if key not in ("node_type_id", "edge_type_id"):
        raise SonataError(
            path, None, f"expected a first column node_type_id or edge_type_id, got {key!r}"
        )
    out = {}
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(head):
            raise SonataError(path, f"line {i}", f"expected {len(head)} columns, got {len(r)}")
        rec = {h: (None if v in ("NULL", "") else v) for h, v in zip(head, r, strict=True)}
        try:
            out[int(rec[key])] = rec
        except (TypeError, ValueError):
            raise SonataError(
                path, f"line {i}: {key}", f"expected an integer, got {rec[key]!r}"
            ) from None
    return out


def _h5(path):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise SonataError(path, None, f"not a readable HDF5 file ({exc})") from None


def _col(g, name, path, where, n=None):
    if name not in g:
        raise SonataError(path, f"{where}/{name}", "required dataset is missing")
    a = g[name][()]
    if n is not None and len(a) != n:
        raise SonataError(path, f"{where}/{name}", f"expected {n} values, got {len(a)}")
    return a


def _str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def _number(v, path, where):
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise SonataError(path, where, f"expected a number, got {v!r}")
    try:
        x = float(v)
    except ValueError:
        raise SonataError(path, where, f"expected a number, got {v!r}") from None
    if x != x:
        raise SonataError(path, where, "expected a number, got NaN")
    return x


def _model_params(template, dyn, dyn_path, where):
    """Map a point-neuron template and its dynamics params to (model, params, initial)."""
    from ..models import MODELS

    name = template.split(":", 1)[1] if ":" in template else template
    prefix = template.split(":", 1)[0] if ":" in template else "nest"
    if prefix not in ("nest", "pointneuron", "point") or name not in MODELS:
        import difflib

        close = difflib.get_close_matches(name, list(MODELS), n=1)
        hint = f" (did you mean 'nest:{close[0]}'?)" if close else ""
        raise SonataError(
            where[0],
            where[1],
            f"unknown point-neuron model {template!r}{hint}; supported: "
            + ", ".join(f"nest:{m}" for m in sorted({m.name for m in MODELS.values()})),
        )
    model = MODELS[name]
    params, initial = {}, {}
    for k, v in (dyn or {}).items():
        if k in model.params:
            params[k] = _number(v, dyn_path, k)
        elif k in model.state:
            initial[k] = _number(v, dyn_path, k)
        elif k in IGNORED_PARAMS:
            continue
        elif k == "refractory_input" and not v:
            continue
        else:
            import difflib

            close = difflib.get_close_matches(k, list(model.params) + list(model.state), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise SonataError(dyn_path, k, f"unknown parameter of {model.name}{hint}")
    if "V_m" not in initial:
        # NEST (bmtk's pointnet) starts V_m at the model's default, whatever E_L says;
        # a network file's default would be E_L
        initial["V_m"] = float(model.state["V_m"].default)
    return model.name, params, initial


def _safe_name(text):
    s = re.sub(r"[^A-Za-z0-9_.-]", "_", str(text))
    return s if re.match(r"[A-Za-z_]", s) else "p" + s


def _read_nodes(cfg, entry, where, dyn_dir):
    """The node populations of one ``networks.nodes`` entry -> list of NodeGroup."""
    nodes_file = cfg.file(entry.get("nodes_file"), f"{where}.nodes_file")
    types_file = cfg.file(entry.get("node_types_file"), f"{where}.node_types_file")
    types = _read_types_csv(types_file)
    groups = []
    dyn_cache = {}
    with _h5(nodes_file) as f:
        if "nodes" not in f or not len(f["nodes"]):
            raise SonataError(nodes_file, "/nodes", "no node population (not a SONATA nodes file)")
        for pop in f["nodes"]:
            g = f["nodes"][pop]
            gw = f"/nodes/{pop}"
            tid = _col(g, "node_type_id", nodes_file, gw).astype(np.int64)
            n = len(tid)
            nid = (
                _col(g, "node_id", nodes_file, gw, n).astype(np.int64)
                if "node_id" in g
                else np.arange(n, dtype=np.int64)
            )
            grp = (
                _col(g, "node_group_id", nodes_file, gw, n).astype(np.int64)
                if "node_group_id" in g
                else np.zeros(n, np.int64)
            )
            # per-node models or parameters would override the node type's
            for gname in np.unique(grp):
                gg = g.get(str(gname))
                for col in ("model_type", "model_template", "dynamics_params"):
                    if gg is not None and col in gg:
                        raise SonataError(
                            nodes_file,
                            f"{gw}/{gname}/{col}",
                            "per-node models or dynamics params are not supported "
                            "(neurosim parameters are set per node type)",
                        )
            bad = sorted(set(np.unique(tid).tolist()) - set(types))
            if bad:
                raise SonataError(
                    nodes_file, f"{gw}/node_type_id", f"node types {bad[:5]} not in {types_file}"
                )
            keyed = {}
            for t in np.unique(tid):
                row = types[int(t)]
                mtype = row.get("model_type") or ""
                wt = (types_file, f"node_type_id {t}")
                if mtype == "virtual":
                    key = ("spike_generator", (), ())
                elif mtype in ("point_neuron", "point_process"):
                    template = row.get("model_template")
                    if not template:
                        raise SonataError(
                            types_file, f"node_type_id {t}: model_template", "missing"
                        )
                    dp = row.get("dynamics_params")
                    dyn = {}
                    dyn_path = types_file
                    if dp:
                        dyn_path = (
                            dp if os.path.isabs(dp) else os.path.join(dyn_dir or cfg.here, dp)
                        )
                        if dyn_path not in dyn_cache:
                            if not os.path.isfile(dyn_path):
                                raise SonataError(
                                    types_file,
                                    f"node_type_id {t}: dynamics_params",
                                    f"file not found: {dyn_path} "
                                    "(components.point_neuron_models_dir)",
                                )
                            dyn_cache[dyn_path] = _read_json(dyn_path)
                        dyn = dyn_cache[dyn_path]
                        if not isinstance(dyn, dict):
                            raise SonataError(
                                dyn_path, None, "expected a JSON object of parameters"
                            )
                    model, params, initial = _model_params(
                        template, dyn, dyn_path, (wt[0], f"{wt[1]}: model_template")
                    )
                    key = (model, tuple(sorted(params.items())), tuple(sorted(initial.items())))
                else:
                    raise SonataError(
                        types_file,
                        f"node_type_id {t}: model_type",
                        f"expected point_neuron or virtual, got {mtype!r} "
                        "(neurosim runs point neurons only)",
                    )
                keyed.setdefault(key, []).append(int(t))
            parts = []
            for key, tids in keyed.items():
                ids = np.sort(nid[np.isin(tid, tids)])
                pop_names = tuple(dict.fromkeys(types[t].get("pop_name") or "" for t in tids))
                parts.append((key, ids, pop_names))
            for k, (key, ids, pop_names) in enumerate(parts):
                if len(parts) == 1:
                    name = _safe_name(pop)
                elif len(pop_names) == 1 and pop_names[0]:
                    name = f"{_safe_name(pop)}.{_safe_name(pop_names[0])}"
                else:
                    name = f"{_safe_name(pop)}.{k}"
                groups.append(
                    NodeGroup(name, pop, ids, key[0], dict(key[1]), dict(key[2]), pop_names)
                )
    return groups


def _read_spike_input(cfg, inp, where):
    """[(SONATA population or None, node ids int64, times ms float64)] of a spike input."""
    path = cfg.file(inp.get("input_file"), f"{where}.input_file")
    out = []
    with _h5(path) as f:
        if "spikes" not in f:
            raise SonataError(path, "/spikes", "not a SONATA spike file")
        sp = f["spikes"]
        if "timestamps" in sp:  # the old single-population layout
            parts = [(None, sp, "gids" if "gids" in sp else "node_ids", "/spikes")]
        else:
            parts = [(pop, sp[pop], "node_ids", f"/spikes/{pop}") for pop in sp]
        for pop, g, id_col, gw in parts:
            ids = _col(g, id_col, path, gw)
            t = _col(g, "timestamps", path, gw, len(ids))
            units = _str(g["timestamps"].attrs.get("units", "ms"))
            if units not in ("ms", "s"):
                raise SonataError(
                    path, f"{gw}/timestamps", f"units: expected ms or s, got {units!r}"
                )
            scale = 1000.0 if units == "s" else 1.0
            out.append((pop, np.asarray(ids, np.int64), np.asarray(t, np.float64) * scale))
    return out


def _node_set_population(cfg, node_set, where):
    if node_set is None:
        return None
    if isinstance(node_set, dict):
        return node_set.get("population")
    sets_file = cfg.doc.get("node_sets_file")
    if sets_file:
        sets = _read_json(cfg.file(sets_file, "node_sets_file"))
        if isinstance(sets, dict) and node_set in sets and isinstance(sets[node_set], dict):
            return sets[node_set].get("population", node_set)
    return node_set


def read_circuit(config_path):
    """Read a SONATA circuit (or simulation) config: node groups, edges and run settings.

    Parameters
    ----------
    config_path : str
        ``circuit_config.json`` or a simulation config (with ``network`` naming the
        circuit config, or ``networks`` inline).

    Returns
    -------
    dict
        ``groups`` (list of NodeGroup), ``edges`` (list of (edges file, edge-types
        file)), ``run`` (the config's ``run`` object), ``inputs`` (list of
        (SONATA population, node ids, times ms, input name)), ``config`` (the
        resolved config), ``syn_dir`` (``components.synaptic_models_dir`` or None).
    """
    sim = _Config(config_path)
    circ = sim
    if isinstance(sim.doc.get("network"), str):
        circ = _Config(sim.file(sim.doc["network"], "network"))
    nets = circ.doc.get("networks", sim.doc.get("networks"))
    if not isinstance(nets, dict):
        raise SonataError(circ.path, "networks", "required object is missing (nodes and edges)")
    comps = dict(circ.doc.get("components", {}) or {})
    if sim is not circ:
        comps.update(sim.doc.get("components", {}) or {})
    dyn_dir = comps.get("point_neuron_models_dir")
    dyn_dir = circ.file(dyn_dir, "components.point_neuron_models_dir") if dyn_dir else None
    syn_dir = comps.get("synaptic_models_dir")
    syn_dir = circ.file(syn_dir, "components.synaptic_models_dir") if syn_dir else None
    node_entries = nets.get("nodes")
    if not isinstance(node_entries, list) or not node_entries:
        raise SonataError(circ.path, "networks.nodes", "expected a list of node files")
    groups = []
    for i, entry in enumerate(node_entries):
        if not isinstance(entry, dict):
            raise SonataError(circ.path, f"networks.nodes[{i}]", "expected an object")
        groups.extend(_read_nodes(circ, entry, f"networks.nodes[{i}]", dyn_dir))
    names = [gr.name for gr in groups]
    for k, gr in enumerate(groups):
        if names.count(gr.name) > 1:
            gr.name = f"{gr.name}.{k}"
    edges = []
    for i, entry in enumerate(nets.get("edges", []) or []):
        if not isinstance(entry, dict):
            raise SonataError(circ.path, f"networks.edges[{i}]", "expected an object")
        ef = circ.file(entry.get("edges_file"), f"networks.edges[{i}].edges_file")
        tf = circ.file(entry.get("edge_types_file"), f"networks.edges[{i}].edge_types_file")
        edges.append((ef, tf))
    run = sim.doc.get("run", {}) or {}
    inputs = []
    for name, inp in (sim.doc.get("inputs", {}) or {}).items():
        where = f"inputs.{name}"
        if not isinstance(inp, dict):
            raise SonataError(sim.path, where, "expected an object")
        if inp.get("input_type") != "spikes":
            raise SonataError(
                sim.path,
                f"{where}.input_type",
                f"only spike inputs are supported, got {inp.get('input_type')!r}",
            )
        if inp.get("module", "sonata") not in ("sonata", "h5", "hdf5"):
            raise SonataError(
                sim.path, f"{where}.module", f"expected sonata or h5, got {inp.get('module')!r}"
            )
        target = _node_set_population(sim, inp.get("node_set"), where)
        for pop, ids, t in _read_spike_input(sim, inp, where):
            if pop is not None and target is not None and pop != target:
                continue  # a spike file may hold other populations than the node set's
            inputs.append((pop or target, ids, t, name))
    return {
        "groups": groups,
        "edges": edges,
        "run": run,
        "inputs": inputs,
        "config": sim,
        "syn_dir": syn_dir,
    }


def _edge_type_defaults(types, t, syn_dir, types_file):
    row = types.get(int(t))
    if row is None:
        raise SonataError(types_file, f"edge_type_id {t}", "not in the edge types table")
    where = f"edge_type_id {t}"
    template = row.get("model_template") or "static_synapse"
    if template.split(":")[-1] != "static_synapse":
        raise SonataError(
            types_file,
            f"{where}: model_template",
            f"only static synapses are supported, got {template!r}",
        )
    if row.get("weight_function"):
        raise SonataError(
            types_file,
            f"{where}: weight_function",
            "weight functions are Python code of the builder; store syn_weight instead",
        )
    out = {}
    dp = row.get("dynamics_params")
    if dp:
        dpath = (
            dp if os.path.isabs(dp) else os.path.join(syn_dir or os.path.dirname(types_file), dp)
        )
        dyn = _read_json(dpath, f"{where}: dynamics_params", types_file)
        for k, v in (dyn or {}).items():
            if k not in EDGE_PARAM_KEYS:
                raise SonataError(
                    dpath, k, f"unsupported synapse parameter; expected {EDGE_PARAM_KEYS}"
                )
            if k in ("weight", "delay"):
                out[k] = _number(v, dpath, k)
            elif str(v).split(":")[-1] != "static_synapse":
                raise SonataError(dpath, k, f"only static_synapse is supported, got {v!r}")
    if "delay" in row and row["delay"] is None:
        # bmtk's point-neuron builder takes the table's delay column, NULL included (then
        # NEST's default, 1 ms), over the synapse's dynamics_params
        out.pop("delay", None)
    for col, key in (("syn_weight", "weight"), ("delay", "delay"), ("nsyns", "nsyns")):
        if row.get(col) is not None:
            out[key] = _number(row[col], types_file, f"{where}: {col}")
    return out


def _read_edges(edges_file, types_file, syn_dir):
    """Every edge population of one edges file: list of dict with SONATA node ids."""
    types = _read_types_csv(types_file)
    out = []
    with _h5(edges_file) as f:
        if "edges" not in f:
            raise SonataError(edges_file, "/edges", "not a SONATA edges file")
        for name in f["edges"]:
            g = f["edges"][name]
            gw = f"/edges/{name}"
            src = _col(g, "source_node_id", edges_file, gw)
            n = len(src)
            tgt = _col(g, "target_node_id", edges_file, gw, n)
            pops = []
            for col in ("source_node_id", "target_node_id"):
                p = g[col].attrs.get("node_population")
                if p is None:
                    raise SonataError(
                        edges_file, f"{gw}/{col}", "attribute node_population is missing"
                    )
                pops.append(_str(p))
            etype = _col(g, "edge_type_id", edges_file, gw, n).astype(np.int64)
            grp = (
                _col(g, "edge_group_id", edges_file, gw, n).astype(np.int64)
                if "edge_group_id" in g
                else np.zeros(n, np.int64)
            )
            gidx = (
                _col(g, "edge_group_index", edges_file, gw, n).astype(np.int64)
                if "edge_group_index" in g
                else np.arange(n, dtype=np.int64)
            )
            weight = np.full(n, np.nan)
            delay = np.full(n, np.nan)
            nsyns = np.full(n, np.nan)
            for t in np.unique(etype):
                d = _edge_type_defaults(types, t, syn_dir, types_file)
                m = etype == t
                weight[m] = d.get("weight", np.nan)
                delay[m] = d.get("delay", np.nan)
                nsyns[m] = d.get("nsyns", 1.0)
            for gid in np.unique(grp):
                rows = np.nonzero(grp == gid)[0]
                gg = g.get(str(gid))
                if gg is None:
                    continue
                if "weight_function" in gg:
                    raise SonataError(
                        edges_file,
                        f"{gw}/{gid}/weight_function",
                        "weight functions are Python code of the builder; not supported",
                    )
                for col, arr in (("syn_weight", weight), ("delay", delay), ("nsyns", nsyns)):
                    if col in gg:
                        vals = np.asarray(gg[col][()], np.float64)
                        if len(rows) and (gidx[rows].max() >= len(vals) or gidx[rows].min() < 0):
                            raise SonataError(
                                edges_file,
                                f"{gw}/edge_group_index",
                                f"indices beyond the {len(vals)} rows of {gw}/{gid}/{col}",
                            )
                        arr[rows] = vals[gidx[rows]]
            for col, arr in (("syn_weight", weight), ("delay", delay)):
                if col == "delay":
                    arr[np.isnan(arr)] = 1.0  # NEST's default delay
                elif np.isnan(arr).any():
                    raise SonataError(
                        edges_file,
                        f"{gw}: {col}",
                        "missing for some edges (no column, no edge-type value)",
                    )
            out.append(
                {
                    "name": name,
                    "file": edges_file,
                    "source_population": pops[0],
                    "target_population": pops[1],
                    "source": np.asarray(src, np.int64),
                    "target": np.asarray(tgt, np.int64),
                    "weight": weight * nsyns,
                    "delay": delay,
                }
            )
    return out


def _yaml_scalar(x):
    """A float as YAML reads it back exactly (``.inf`` for infinity)."""
    x = float(x)
    if np.isinf(x):
        return ".inf" if x > 0 else "-.inf"
    return repr(x)


def _write_yaml(path, name, description, dt, duration, seed, groups, spikes, projections):
    lines = [f"# {description}", f"name: {json.dumps(name)}"]
    lines.append(f"description: {json.dumps(description)}")
    lines.append(
        f"simulation: {{dt: {_yaml_scalar(dt)} ms, "
        f"duration: {_yaml_scalar(duration)} ms, seed: {seed}}}"
    )
    lines.append("populations:")
    for g in groups:
        lines.append(f"  {g.name}:")
        if g.model == "spike_generator":
            lines.append("    model: spike_generator")
            lines.append(f"    size: {len(g.node_ids)}")
            rows = spikes.get(g.name, [[] for _ in g.node_ids])
            body = ", ".join("[" + ", ".join(_yaml_scalar(t) for t in r) + "]" for r in rows)
            lines.append(f"    params: {{spike_times: [{body}]}}")
            continue
        lines.append(f"    model: {g.model}")
        lines.append(f"    size: {len(g.node_ids)}")
        if g.params:
            body = ", ".join(f"{k}: {_yaml_scalar(v)}" for k, v in g.params.items())
            lines.append(f"    params: {{{body}}}")
        if g.initial:
            body = ", ".join(f"{k}: {_yaml_scalar(v)}" for k, v in g.initial.items())
            lines.append(f"    initial: {{{body}}}")
    if projections:
        lines.append("projections:")
        for pr in projections:
            lines.append(
                f"  - {{name: {json.dumps(pr['name'])}, pre: {json.dumps(pr['pre'])}, "
                f"post: {json.dumps(pr['post'])}, "
                f"rule: {{from_file: {{path: {json.dumps(pr['path'])}}}}}}}"
            )
    neurons = [g.name for g in groups if g.model != "spike_generator"]
    lines.append("record:")
    lines.append(f"  spikes: [{', '.join(neurons)}]")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def import_sonata(config_path, out_path, overwrite=False, dt=None, duration=None, seed=1):
    """Turn a SONATA point-neuron circuit into a neurosim network file.

    Parameters
    ----------
    config_path : str
        ``circuit_config.json`` or a simulation config.
    out_path : str
        Network file to write (``.yaml``); its tables go to the folder
        ``<stem>_sonata/`` next to it (one ``.npz`` per projection and ``nodes.npz``,
        which maps each population's local ids to SONATA node ids).
    overwrite : bool
        Replace an existing network file and tables.
    dt, duration : float, optional
        ms; default: the config's ``run.dt`` and ``run.tstop``, else 0.1 and 1000.
    seed : int

    Returns
    -------
    SonataImport
    """
    out_path = os.fspath(out_path)
    stem = os.path.splitext(out_path)[0]
    folder = stem + "_sonata"
    if not overwrite:
        for p in (out_path, folder):
            if os.path.exists(p):
                raise SonataError(p, None, "already exists; pass --overwrite to replace it")
    c = read_circuit(config_path)
    cfg = c["config"]
    run = c["run"]
    dt = float(dt if dt is not None else _number(run.get("dt", 0.1), cfg.path, "run.dt"))
    if duration is None:
        duration = _number(run.get("tstop", 1000.0), cfg.path, "run.tstop") - float(
            _number(run.get("tstart", 0.0), cfg.path, "run.tstart")
        )
    groups = c["groups"]
    warnings = []
    by_pop = {}
    for g in groups:
        by_pop.setdefault(g.sonata_population, []).append(g)

    def locate(pop, ids, path, where):
        """SONATA node ids of population ``pop`` -> (group index per id, local id)."""
        gs = by_pop.get(pop)
        if gs is None:
            raise SonataError(path, where, f"node population {pop!r} is not in the circuit's nodes")
        gi = np.full(len(ids), -1, np.int64)
        li = np.full(len(ids), -1, np.int64)
        for k, g in enumerate(gs):
            pos = np.searchsorted(g.node_ids, ids)
            pos = np.minimum(pos, len(g.node_ids) - 1)
            hit = g.node_ids[pos] == ids
            gi[hit], li[hit] = k, pos[hit]
        if (gi < 0).any():
            bad = ids[gi < 0][:3].tolist()
            raise SonataError(path, where, f"node ids {bad} are not in node population {pop!r}")
        return gs, gi, li

    # spike inputs of virtual nodes
    spikes = {}
    for pop, ids, t, name in c["inputs"]:
        if pop is None:
            raise SonataError(cfg.path, f"inputs.{name}.node_set", "names no node population")
        gs, gi, li = locate(pop, ids, cfg.path, f"inputs.{name}")
        for k, g in enumerate(gs):
            if g.model != "spike_generator":
                raise SonataError(
                    cfg.path, f"inputs.{name}", f"spikes target {pop!r}, which is not virtual"
                )
            rows = spikes.setdefault(g.name, [[] for _ in g.node_ids])
            m = gi == k
            # a spike generator emits a spike at t in the step that ends at t (a time
            # off the grid rounded up), so the first it can emit is at dt (NEST likewise
            # needs t > 0)
            early = t[m] <= 0
            if early.any():
                warnings.append(f"inputs.{name}: {int(early.sum())} spikes at t <= 0 dropped")
            for i, tt in zip(li[m][~early], t[m][~early], strict=True):
                rows[i].append(float(tt))
    for rows in spikes.values():
        for r in rows:
            r.sort()
    virtual_without = [
        g.name for g in groups if g.model == "spike_generator" and g.name not in spikes
    ]
    if virtual_without:
        warnings.append(f"virtual populations without input spikes: {', '.join(virtual_without)}")

    if overwrite and os.path.isdir(folder):
        for fn in os.listdir(folder):
            if fn.endswith(".npz"):
                os.remove(os.path.join(folder, fn))
    os.makedirs(folder, exist_ok=True)
    files = []
    projections = []
    for ef, tf in c["edges"]:
        for e in _read_edges(ef, tf, c["syn_dir"]):
            where = f"/edges/{e['name']}"
            gs_s, gi_s, li_s = locate(
                e["source_population"], e["source"], ef, f"{where}/source_node_id"
            )
            gs_t, gi_t, li_t = locate(
                e["target_population"], e["target"], ef, f"{where}/target_node_id"
            )
            small = e["delay"] < dt * (1 - 1e-9)
            if small.any():
                raise SonataError(
                    ef,
                    f"{where}: delay",
                    f"{int(small.sum())} delays below dt ({dt} ms), e.g. {e['delay'][small][0]} ms",
                )
            for ks, gsrc in enumerate(gs_s):
                for kt, gtgt in enumerate(gs_t):
                    m = (gi_s == ks) & (gi_t == kt)
                    if not m.any():
                        continue
                    if gtgt.model == "spike_generator":
                        raise SonataError(
                            ef, where, f"edges end on virtual nodes of {gtgt.sonata_population!r}"
                        )
                    split = len(gs_s) > 1 or len(gs_t) > 1
                    pname = f"{e['name']}:{gsrc.name}->{gtgt.name}" if split else e["name"]
                    fn = _safe_name(pname.replace(":", "__").replace("->", "__to__")) + ".npz"
                    fpath = os.path.join(folder, fn)
                    with open(fpath, "wb") as fh:
                        np.savez(
                            fh,
                            pre=li_s[m],
                            post=li_t[m],
                            weight=e["weight"][m],
                            delay=e["delay"][m],
                        )
                    files.append(fpath)
                    rel = os.path.relpath(fpath, os.path.dirname(os.path.abspath(out_path)))
                    projections.append(
                        {"name": pname, "pre": gsrc.name, "post": gtgt.name, "path": rel}
                    )
    nodes_path = os.path.join(folder, "nodes.npz")
    node_map = {}
    for g in groups:
        node_map[g.name] = g.node_ids
        node_map[g.name + ".population"] = np.array(g.sonata_population)
    with open(nodes_path, "wb") as fh:
        np.savez(fh, **node_map)
    files.append(nodes_path)
    name = _safe_name(os.path.splitext(os.path.basename(out_path))[0])
    description = (
        f"imported from the SONATA circuit {os.path.abspath(os.fspath(config_path))}; "
        f"SONATA node ids of each population in {os.path.basename(folder)}/nodes.npz"
    )
    _write_yaml(out_path, name, description, dt, duration, seed, groups, spikes, projections)
    files.insert(0, out_path)
    return SonataImport(out_path, files, {g.name: g for g in groups}, warnings)
