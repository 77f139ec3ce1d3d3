"""Generate ``docs/models/<name>.md`` from each built-in model's tables and docstring.

Usage::

    python docs/gen_model_docs.py            # (re)write docs/models/*.md
    python docs/gen_model_docs.py --check    # exit 1 if any file is stale

Each page holds the model's docstring (equations, closed-form update, array shapes;
numpydoc section headers become Markdown headings and ``::`` literal blocks become
fenced code), followed by the parameter, state and receptor tables taken from the
:class:`~neurosim.models.base.NeuronModel` itself, so defaults and units cannot drift
from the code.
"""

from __future__ import annotations

import argparse
import inspect
import math
import sys
from pathlib import Path

import numpy as np

from neurosim.models import MODEL_NAMES, get_model

OUT_DIR = Path(__file__).resolve().parent / "models"
GAIN_DT = 0.1  # ms; receptor gains of the models here do not depend on dt


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "-inf" if x < 0 else "inf"
    return f"{x:g}"


def docstring_to_markdown(doc: str) -> str:
    """Numpydoc module docstring -> Markdown (headings, fenced literal blocks)."""
    lines = inspect.cleandoc(doc).splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if (
            line.strip()
            and nxt.strip()
            and set(nxt.strip()) == {"-"}
            and len(nxt.strip()) == len(line.strip())
        ):
            out += [f"## {line.strip()}", ""]
            i += 2
            if i < len(lines) and not lines[i].strip():
                i += 1
            continue
        if line.rstrip().endswith("::"):
            text = line.rstrip()[:-1]  # "Foo::" -> "Foo:", a bare "::" -> ":"
            if text.strip() != ":":
                out.append(text)
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            while block and not block[0].strip():
                block.pop(0)
            indent = min(len(b) - len(b.lstrip()) for b in block if b.strip())
            out += ["", "```text", *(b[indent:] for b in block), "```", ""]
            continue
        out.append(line)
        i += 1
    text = "\n".join(out)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"


def _initial(name, entry):
    """The initial value column: V_m starts at E_L in a network file."""
    if name == "V_m":
        return "`E_L`"
    return _fmt(entry.default)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def render(model) -> str:
    """The Markdown page of one model."""
    doc = model.doc or ""
    first, _, rest = inspect.cleandoc(doc).partition("\n")
    parts = [f"# {model.name}", "", first.strip(), ""]
    if model.aliases:
        parts += ["Also accepted as: " + ", ".join(f"`{a}`" for a in model.aliases) + ".", ""]
    parts.append(
        f"Weights in {model.weight_unit}"
        + (
            " (conductances: the magnitude is stored, the sign selects the port)."
            if model.conductance_weights
            else "."
        )
    )
    parts.append("")
    parts.append(docstring_to_markdown(rest) if rest.strip() else "")

    parts += ["## Parameters", ""]
    parts.append(
        _table(
            ["Name", "Default", "Unit", "Description"],
            [[f"`{k}`", _fmt(e.default), e.unit, e.doc] for k, e in model.params.items()],
        )
    )
    parts += ["", "## State", ""]
    parts.append(
        _table(
            ["Name", "Initial value", "Unit", "Description"],
            [[f"`{k}`", _initial(k, e), e.unit, e.doc] for k, e in model.state.items()],
        )
    )
    if "V_m" in model.state and "E_L" in model.params:
        parts += [
            "",
            "`V_m` starts at `E_L` unless the population's `initial` sets it (NEST starts it "
            f"at {_fmt(model.state['V_m'].default)} mV whatever `E_L` is, and so does a "
            "SONATA circuit imported with `neurosim import-sonata`).",
        ]

    defaults = {k: np.array([e.default]) for k, e in model.params.items()}
    prop = model.propagator(defaults, GAIN_DT)
    syn = model.syn_state
    rows = []
    for r, port in enumerate(model.receptors):
        s = int(prop.receptor_state[r])
        target = "`V_m` (jump)" if s < 0 else f"`{syn[s]}`"
        rows.append([f"`{port}`", target, f"{prop.receptor_gain[0, r]:.10g}"])
    parts += ["", "## Receptors", ""]
    parts.append(_table(["Port", "Adds to", "Gain at defaults"], rows))
    parts += ["", f"Membrane update: `{prop.membrane}`.", ""]
    return "\n".join(parts).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if a page is stale")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = ap.parse_args(argv)
    stale = []
    args.out.mkdir(parents=True, exist_ok=True)
    for name in MODEL_NAMES:
        path = args.out / f"{name}.md"
        text = render(get_model(name))
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text)
    for path in stale:
        print(("stale: " if args.check else "wrote: ") + str(path))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
