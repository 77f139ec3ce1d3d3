"""Convert the Cook et al. (2019) C. elegans hermaphrodite connectome to a small npz.

Run once, offline, with the C. elegans Connectome Toolbox (``cect``, MIT licence)
installed in a throwaway environment; neurosim itself never imports cect::

    python3 -m venv /tmp/cect-venv
    /tmp/cect-venv/bin/pip install cect            # ~170 MB, ships the data
    /tmp/cect-venv/bin/python networks/data/make_celegans.py

It writes ``networks/data/celegans_cook2019.npz`` next to this file (or ``--out``).
See README.md in this folder for what the arrays mean.

Sources (all read from the files shipped inside cect; nothing is downloaded):

* Connectivity: ``cect.readers.Cook2019HermReader`` -> ``Cook2019DataReader``, which
  parses "SI 5 Connectome adjacency matrices, corrected July 2020.xlsx" (WormWiring's
  corrected release of Cook et al. 2019, Nature 571:63-71, Supplementary Information 5),
  sheets "hermaphrodite chemical" and "hermaphrodite gap jn symmetric".
* Neuron classes: the Cook et al. 2019 lists in ``cect.Cells`` (sensory, interneuron,
  motor, pharyngeal polymodal, unknown function).
* Neurotransmitters: ``cect.readers.Wang2024Reader`` (hermaphrodite), which parses the
  neurotransmitter atlas of Wang et al. 2024 (eLife 13:RP95402, Supplementary File 2).

Choices (documented in README.md):

* Cells: the 302 hermaphrodite neurons (``cect.Cells.PREFERRED_HERM_NEURON_NAMES``);
  muscles, glia and other end organs are dropped, together with every edge touching them.
* Order: ``names`` is sorted with Python's ``sorted`` (plain code-point order, so
  "VD10" precedes "VD2"); every index in the file refers to this order.
* Chemical autapses (pre == post) are kept as in the data; gap-junction self-pairs are
  dropped (no current flows between a neuron and itself).  Gap junctions are stored
  once per unordered pair (gap_a < gap_b), with the count from the symmetric sheet.
* Sign: a neuron is inhibitory (-1) if its fast classical transmitters in Wang et al.
  2024 include GABA and include neither acetylcholine nor glutamate; otherwise it is
  excitatory (+1).  So ACh, Glu, ACh+GABA co-releasers (SMD), GABA-uptake-only (AVF),
  monoamine-only, orphan and unknown neurons are all +1 by default.  chem_sign is the
  presynaptic neuron's sign.  The classic 26 GABAergic neurons (McIntire et al. 1993)
  are stored as a separate mask for users who prefer that rule.
"""

import argparse
import datetime
import hashlib
import io
import os
import sys
from contextlib import redirect_stdout
from importlib.metadata import version

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "celegans_cook2019.npz")

# The 26 GABAergic neurons of McIntire, Jorgensen & Horvitz (1993, Nature 364:337-341):
# DD1-6, VD1-13, RMED/RMEV/RMEL/RMER, AVL, DVB, RIS.
GABA_MCINTIRE1993 = (
    [f"DD{i}" for i in range(1, 7)]
    + [f"VD{i}" for i in range(1, 14)]
    + ["RMED", "RMEV", "RMEL", "RMER", "AVL", "DVB", "RIS"]
)
FAST_EXCITATORY = {"Acetylcholine", "Glutamate"}
GABA = "GABA"


def _quiet(fn, *args, **kwargs):
    """Call a cect function with its chatter on stdout swallowed."""
    with redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    try:
        import cect.Cells as cells
        from cect.readers import Cook2019HermReader
        from cect.readers.Cook2019DataReader import HERMAPHRODITE, Cook2019DataReader
        from cect.readers.Wang2024Reader import Wang2024Reader
    except ImportError:
        sys.exit(
            "needs cect: python3 -m venv /tmp/cect-venv && "
            "/tmp/cect-venv/bin/pip install cect (see README.md)"
        )

    # ---- neurons -----------------------------------------------------------------
    names = sorted(cells.PREFERRED_HERM_NEURON_NAMES)
    assert len(names) == len(set(names)) == 302, len(names)
    index = {n: i for i, n in enumerate(names)}

    groups = [
        ("sensory", cells.SENSORY_NEURONS_COOK),
        ("interneuron", cells.INTERNEURONS_COOK),
        ("motor", cells.MOTORNEURONS_COOK),
        ("polymodal", cells.PHARYNGEAL_POLYMODAL_NEURONS),
        ("unknown", cells.UNKNOWN_FUNCTION_NEURONS),
    ]
    neuron_class = {}
    for cls, members in groups:
        for n in members:
            assert n not in neuron_class, f"{n} in two Cook classes"
            neuron_class[n] = cls
    assert set(neuron_class) == set(names)
    pharyngeal = set(cells.PHARYNGEAL_NEURONS)

    # ---- connectivity (Cook et al. 2019, hermaphrodite) ----------------------------
    reader = _quiet(Cook2019HermReader.get_instance, from_cache=False)
    conns = reader.get_current_connection_info_list()
    chem, gap = {}, {}
    n_chem_all = n_gap_all = 0
    for c in conns:
        w = float(c.number)
        assert w > 0 and w == int(w), c
        is_chem = c.syntype == "Chemical"
        if is_chem:
            n_chem_all += 1
        else:
            assert c.syntype == "GapJunction", c.syntype
            n_gap_all += 1
        if c.pre_cell not in index or c.post_cell not in index:
            continue  # muscle / glia / other cell
        i, j = index[c.pre_cell], index[c.post_cell]
        if is_chem:
            assert (i, j) not in chem
            chem[(i, j)] = int(w)
        else:
            if i == j:
                continue  # self gap junction: no effect
            key = (min(i, j), max(i, j))
            if key in gap:
                assert gap[key] == int(w), (c, gap[key])  # symmetric sheet
            gap[key] = int(w)
    gap_self = sum(
        1
        for c in conns
        if c.syntype == "GapJunction" and c.pre_cell == c.post_cell and c.pre_cell in index
    )

    chem_keys = sorted(chem)
    gap_keys = sorted(gap)
    chem_pre = np.array([k[0] for k in chem_keys], dtype=np.int32)
    chem_post = np.array([k[1] for k in chem_keys], dtype=np.int32)
    chem_count = np.array([chem[k] for k in chem_keys], dtype=np.int32)
    gap_a = np.array([k[0] for k in gap_keys], dtype=np.int32)
    gap_b = np.array([k[1] for k in gap_keys], dtype=np.int32)
    gap_count = np.array([gap[k] for k in gap_keys], dtype=np.int32)

    # ---- neurotransmitters (Wang et al. 2024) and signs ---------------------------
    wang = _quiet(Wang2024Reader, sex=HERMAPHRODITE)
    nts = wang.all_neurotransmitters
    missing = [n for n in names if n not in nts]
    assert not missing, missing
    nt_list = [[t for t in nts[n] if t is not None] for n in names]
    neurotransmitter = [";".join(t) for t in nt_list]
    neuron_sign = np.array(
        [-1 if (GABA in t and not FAST_EXCITATORY & set(t)) else 1 for t in nt_list], dtype=np.int8
    )
    gaba_wang = np.array([GABA in t for t in nt_list])
    assert set(GABA_MCINTIRE1993) <= set(names)
    gaba_classic = np.array([n in GABA_MCINTIRE1993 for n in names])
    assert gaba_classic.sum() == 26
    chem_sign = neuron_sign[chem_pre]

    # ---- provenance ------------------------------------------------------------------
    src = Cook2019DataReader.filename
    wang_src = os.path.join(os.path.dirname(src), "elife-95402-supp2-v1.xlsx")
    prov = dict(
        source=(
            "Cook SJ et al. (2019) Whole-animal connectomes of both Caenorhabditis "
            "elegans sexes. Nature 571:63-71, doi:10.1038/s41586-019-1352-7; "
            "hermaphrodite, WormWiring 'corrected July 2020' adjacency matrices "
            f"({os.path.basename(src)}, sha256 {_sha256(src)}), read with "
            "cect.readers.Cook2019HermReader"
        ),
        nt_source=(
            "Wang C et al. (2024) A neurotransmitter atlas of C. elegans males "
            "and hermaphrodites. eLife 13:RP95402, doi:10.7554/eLife.95402; "
            f"Supplementary File 2 ({os.path.basename(wang_src)}, sha256 "
            f"{_sha256(wang_src)}), read with cect.readers.Wang2024Reader"
        ),
        cect_version=version("cect"),
        licence=(
            "Converted data: Cook et al. 2019 (Nature SI / WormWiring) and Wang et "
            "al. 2024 (eLife, CC BY 4.0), redistributed via cect (MIT licence, "
            "OpenWorm); neither cect nor WormWiring states a separate data licence. "
            "Cite Cook et al. 2019 (and Wang et al. 2024 for the signs)."
        ),
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        weight_meaning=(
            "chem_count / gap_count are the Cook et al. 2019 adjacency-matrix "
            "values; per cect: " + Cook2019HermReader.WEIGHTS
        ),
        sign_rule=(
            "neuron_sign = -1 if the neuron's fast transmitters (Wang et al. 2024) "
            "include GABA and neither acetylcholine nor glutamate, else +1 "
            "(ACh, Glu, ACh+GABA, monoamine-only, orphan, unknown: +1); "
            "chem_sign = neuron_sign[chem_pre]"
        ),
        order="names sorted with Python sorted() (code-point order); indices refer to it",
        generator="networks/data/make_celegans.py",
    )

    np.savez_compressed(
        args.out,
        names=np.array(names, dtype=str),
        neuron_class=np.array([neuron_class[n] for n in names], dtype=str),
        pharyngeal=np.array([n in pharyngeal for n in names]),
        neurotransmitter=np.array(neurotransmitter, dtype=str),
        neuron_sign=neuron_sign,
        gaba_wang2024=gaba_wang,
        gaba_mcintire1993=gaba_classic,
        chem_pre=chem_pre,
        chem_post=chem_post,
        chem_count=chem_count,
        chem_sign=chem_sign,
        gap_a=gap_a,
        gap_b=gap_b,
        gap_count=gap_count,
        **{k: np.array(v, dtype=str) for k, v in prov.items()},
    )

    inh = neuron_sign < 0
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    print(
        f"cect {prov['cect_version']}: {n_chem_all} chemical and {n_gap_all} gap "
        f"entries among all cells"
    )
    print(
        f"neurons {len(names)}: "
        + ", ".join(f"{cls} {sum(1 for n in names if neuron_class[n] == cls)}" for cls, _ in groups)
    )
    print(
        f"chemical edges {len(chem_pre)} (autapses {int((chem_pre == chem_post).sum())}),"
        f" synapse count {int(chem_count.sum())}"
    )
    print(
        f"gap-junction pairs {len(gap_a)}, count {int(gap_count.sum())} "
        f"(dropped {gap_self} self pairs)"
    )
    inh_names = [n for n, x in zip(names, inh, strict=False) if x]
    print(f"inhibitory neurons {int(inh.sum())}: {inh_names}")
    print(
        f"GABA-positive (Wang 2024) {int(gaba_wang.sum())}; mixed, kept +1: "
        f"{[n for n, g, x in zip(names, gaba_wang, inh, strict=False) if g and not x]}"
    )
    print(
        f"inhibitory chemical edges {int((chem_sign < 0).sum())} "
        f"({(chem_sign < 0).mean():.3f}), synapses "
        f"{int(chem_count[chem_sign < 0].sum())} "
        f"({chem_count[chem_sign < 0].sum() / chem_count.sum():.3f})"
    )


if __name__ == "__main__":
    main()
