"""The ``scale`` section of a network file: fewer neurons, smaller in-degrees, same input.

NEST's Potjans-Diesmann microcircuit example (``pynest/examples/Potjans_2014``) runs the
model down-scaled with two factors, and this module applies them to any spiking network
whose populations are current-based, while the spec is loaded (:mod:`.spec` calls
:func:`apply_scale` after the projections are parsed, before ``record``)::

    scale:
      N: 0.1              # neuron numbers x N (rounded); in-degrees kept
      K: 0.1              # in-degrees x K; weights / sqrt(K); the lost mean input as DC
      rates: {E: 5 Hz}    # full-scale mean rates of the presynaptic populations (K != 1)
      poisson_as_dc: false   # true: every Poisson input replaced by its mean current

What the factors do (NEST's ``network.py`` ``__derive_parameters`` and ``helpers.py``
``adjust_weights_and_input_to_synapse_scaling``):

- ``N``: the size of every neuron population becomes ``round(size N)`` (devices keep
  theirs); the rules keep the in-degrees: ``fixed_total_number`` draws
  ``round(n_full N K)`` synapses (``n_full`` unrounded where the file gives ``p``),
  ``fixed_indegree`` and ``fixed_outdegree`` ``round(k K)``, ``pairwise_bernoulli``
  ``p K / N``.
- ``K``: every weight from a neuron or Poisson population is divided by ``sqrt(K)``
  (the variance of the input is kept), a Poisson generator's rate is multiplied by
  ``K`` (one generator stands for ``K_ext`` independent sources, NEST's ``bg_rate
  K_ext``), and each target population gets the DC current
  ``(1 - sqrt(K)) sum_proj w k r Q`` added to ``I_e`` (the mean is kept): ``w`` the
  full-scale mean weight, ``k`` the full-scale in-degree, ``r`` the full-scale rate of
  the source (``rates``, or the generator's rate), ``Q`` the charge of a unit weight
  (``tau_syn`` for ``iaf_psc_exp``, ``e tau_syn`` for ``iaf_psc_alpha``, ``C_m`` for
  ``iaf_psc_delta``; conductance-based targets are refused).
- ``poisson_as_dc``: NEST's ``poisson_input: False``: each Poisson projection onto
  neurons is removed and its mean current ``w k r Q`` added to the target's ``I_e``
  (generators left without projections are removed too); applied at full scale, before
  ``K``, so that ``K`` compensates the recurrent input only, as NEST does.

Units: rates Hz, weights pA (mV for ``iaf_psc_delta``), time ms, currents pA.
"""

from __future__ import annotations

import math

from ..models import get_model
from ..units import UnitError, parse_quantity

KEYS = ("N", "K", "rates", "poisson_as_dc")


def total_number_from_probability(p, n_pre, n_post):
    """Synapses of NEST's microcircuit from a connection probability (unrounded).

    ``n = ln(1 - p) / ln(1 - 1 / (n_pre n_post))``: the number of synapses drawn with
    replacement over the ``n_pre n_post`` pairs such that a pair is connected at least
    once with probability ``p`` (NEST ``helpers.num_synapses_from_conn_probs``; Potjans
    & Diesmann 2014, Eq. 1).

    Parameters
    ----------
    p : float
        Connection probability, ``0 <= p < 1``.
    n_pre, n_post : int
        Population sizes (neurons).

    Returns
    -------
    float
        Number of synapses, not rounded.
    """
    prod = float(n_pre) * float(n_post)
    if p <= 0.0:
        return 0.0
    if prod <= 1.0:
        raise ValueError("a connection probability needs more than one pair of neurons")
    return math.log(1.0 - p) / math.log((prod - 1.0) / prod)


def mean_of(value):
    """The mean of a :class:`~neurosim.network.spec.Value` (internal units).

    A bounded normal counts with its untruncated mean, as NEST's compensation does.
    """
    if value.kind == "const":
        return value.args[0]
    if value.kind == "uniform":
        return 0.5 * (value.args[0] + value.args[1])
    if value.kind in ("normal", "normal_clipped"):
        return value.args[0]
    mu, sigma = value.args
    return math.exp(mu + 0.5 * sigma * sigma)


def scaled(value, factor):
    """``value`` times ``factor`` (> 0): every argument of a constant or distribution."""
    from .spec import Value

    if value.kind == "lognormal":
        mu, sigma = value.args
        return Value("lognormal", (mu + math.log(factor), sigma))
    return Value(value.kind, tuple(a * factor for a in value.args))


def shifted(value, offset):
    """``value`` plus ``offset``; ``None`` for a lognormal (which cannot be shifted)."""
    from .spec import Value

    if value.kind == "const":
        return Value("const", (value.args[0] + offset,))
    if value.kind == "uniform":
        return Value("uniform", (value.args[0] + offset, value.args[1] + offset))
    if value.kind in ("normal", "normal_clipped"):
        m, s, lo, hi = value.args
        return Value(value.kind, (m + offset, s, lo + offset, hi + offset))
    return None


def _param_mean(pop, model, name):
    v = pop.params.get(name)
    return model.params[name].default if v is None else mean_of(v)


def charge_per_weight(pop, receptor):
    """Charge (pA ms) that one input of unit weight on ``receptor`` brings to ``pop``.

    Returns ``None`` for models whose input is not a current (conductance-based).
    """
    model = get_model(pop.model)
    tau = "tau_syn_ex" if receptor == "ex" else "tau_syn_in"
    if model.name == "iaf_psc_exp":
        return _param_mean(pop, model, tau)
    if model.name == "iaf_psc_alpha":
        return math.e * _param_mean(pop, model, tau)
    if model.name == "iaf_psc_delta":
        return _param_mean(pop, model, "C_m")  # a jump of w mV is a charge C_m w
    return None


def indegree(proj, n_pre, n_post):
    """Mean in-degree of a projection between populations of ``n_pre`` and ``n_post``.

    ``None`` for ``from_file`` (unknown before reading).
    """
    a, rule = proj.rule_args, proj.rule
    if rule == "fixed_total_number":
        return a.get("n_full", a["n"]) / n_post
    if rule == "fixed_indegree":
        return float(a["k"])
    if rule == "fixed_outdegree":
        return a["k"] * n_pre / n_post
    if rule == "pairwise_bernoulli":
        auto = proj.pre == proj.post and not proj.allow_autapses
        return a["p"] * (n_pre - (1 if auto else 0))
    if rule == "all_to_all":
        auto = proj.pre == proj.post and not proj.allow_autapses
        return float(n_pre - (1 if auto else 0))
    if rule == "one_to_one":
        return 1.0
    return None


def _number(ctx, raw, path):
    try:
        x = parse_quantity(raw, "dimensionless")
    except UnitError as exc:
        raise ctx.err(path, str(exc)) from None
    if isinstance(raw, bool) or not (math.isfinite(x) and x > 0):
        raise ctx.err(path, f"expected a number > 0, got {raw!r}")
    return float(x)


def parse_scale(ctx, raw):
    """Validate the ``scale`` section; returns ``{N, K, rates, poisson_as_dc}``."""
    from .spec import _bool, _check_keys, _mapping, _quantity

    raw = raw or {}
    _mapping(ctx, raw, "scale")
    _check_keys(ctx, raw, "scale", KEYS)
    out = {
        "N": _number(ctx, raw.get("N", 1.0), "scale.N"),
        "K": _number(ctx, raw.get("K", 1.0), "scale.K"),
        "poisson_as_dc": _bool(ctx, raw.get("poisson_as_dc", False), "scale.poisson_as_dc"),
        "rates": {},
    }
    rates = _mapping(ctx, raw.get("rates", {}) or {}, "scale.rates")
    for name, r in rates.items():
        path = f"scale.rates.{name}"
        x = _quantity(ctx, r, "frequency", path)
        if not (x >= 0 and math.isfinite(x)):
            raise ctx.err(path, f"expected a rate >= 0, got {x} Hz")
        out["rates"][name] = x
    return out


def _add_current(ctx, pop, amount, where):
    from .spec import Value

    if amount == 0.0:
        return
    old = pop.params.get("I_e", Value("const", (get_model(pop.model).params["I_e"].default,)))
    new = shifted(old, amount)
    if new is None:
        raise ctx.err(f"{pop.field}.params.I_e", f"{where} adds a DC to I_e; I_e is lognormal")
    pop.params["I_e"] = new


def _mean_input(ctx, proj, pops, full, rate, where):
    """Full-scale mean current (pA) of one projection into its target."""
    post = pops[proj.post]
    w = mean_of(proj.weight)
    receptor = proj.receptor or ("in" if w < 0 else "ex")
    q = charge_per_weight(post, receptor)
    if q is None:
        raise ctx.err(
            where,
            f"the mean input of '{proj.name}' onto '{post.name}' ({post.model}) is not a "
            "current; scale.K and poisson_as_dc need current-based targets",
        )
    k = indegree(proj, full[proj.pre], full[proj.post])
    if k is None:
        raise ctx.err(where, f"'{proj.name}' reads its synapses from a file; cannot scale it")
    return w * k * rate * q * 1e-3


def _reindex(projections):
    for i, p in enumerate(projections):
        p.index = i


def apply_scale(ctx, raw, pops, projections):
    """Apply a ``scale`` section in place; returns ``(projections, info)``.

    Parameters
    ----------
    ctx : neurosim.network.spec._Ctx
        The file's context; ``ctx.err`` builds a SpecError naming the file and field.
    raw : dict or None
        The ``scale`` mapping of the file (after ``--set`` overrides).
    pops : dict
        name -> PopulationSpec (sizes, params in internal units); changed in place,
        Poisson generators left without projections by ``poisson_as_dc`` are removed.
    projections : list of ProjectionSpec
        Parsed at full scale; changed in place.

    Returns
    -------
    projections : list of ProjectionSpec
        The projections kept (renumbered when ``poisson_as_dc`` removed some).
    info : dict
        ``N``, ``K``, ``dc`` (pA added to ``I_e`` per population), ``full_sizes``
        (neurons per population before ``N``), ``removed`` (the generators that
        ``poisson_as_dc`` removed).
    """
    s = parse_scale(ctx, raw)
    N, K = s["N"], s["K"]
    full = {name: p.size for name, p in pops.items()}
    dc = {name: 0.0 for name, p in pops.items() if p.kind == "neuron"}
    info = {"N": N, "K": K, "dc": dc, "full_sizes": dict(full), "removed": []}
    for name in s["rates"]:
        if name not in pops or pops[name].kind != "neuron":
            raise ctx.err(f"scale.rates.{name}", f"unknown neuron population {name!r}")

    # ---- Poisson input as its mean current (NEST's poisson_input False), at full scale
    if s["poisson_as_dc"]:
        kept = []
        for proj in projections:
            pre = pops[proj.pre]
            if pre.kind != "poisson":
                kept.append(proj)
                continue
            if pre.params["start"] > 0.0 or math.isfinite(pre.params["stop"]):
                raise ctx.err(
                    f"populations.{pre.name}.params",
                    "poisson_as_dc replaces a generator that is on for the whole run "
                    "(start 0, no stop)",
                )
            dc[proj.post] += _mean_input(
                ctx, proj, pops, full, pre.params["rate"], "scale.poisson_as_dc"
            )
        used = {p.pre for p in kept}
        for name in [n for n, p in pops.items() if p.kind == "poisson" and n not in used]:
            del pops[name]
            info["removed"].append(name)
        projections = kept
        _reindex(projections)

    # ---- DC that keeps the full-scale mean input when in-degrees shrink
    if K != 1.0:
        for proj in projections:
            pre = pops[proj.pre]
            if pre.kind == "neuron":
                if proj.pre not in s["rates"]:
                    raise ctx.err(
                        "scale.rates",
                        f"scale.K = {K:g} needs the full-scale rate of '{proj.pre}' "
                        f"(it projects onto '{proj.post}')",
                    )
                rate = s["rates"][proj.pre]
            elif pre.kind == "poisson":
                rate = pre.params["rate"]
            else:
                continue  # spike and current generators are not scaled
            dc[proj.post] += (1.0 - math.sqrt(K)) * _mean_input(
                ctx, proj, pops, full, rate, proj.field
            )

    # ---- sizes
    if N != 1.0:
        for pop in pops.values():
            if pop.kind != "neuron":
                continue
            pop.size = round(full[pop.name] * N)
            if pop.size < 1:
                raise ctx.err(
                    "scale.N",
                    f"population '{pop.name}' ({full[pop.name]} neurons) would have none "
                    f"at N = {N:g}",
                )

    # ---- rules, weights, Poisson rates
    if N != 1.0 or K != 1.0:
        w_factor = 1.0 / math.sqrt(K)
        for proj in projections:
            pre, post = pops[proj.pre], pops[proj.post]
            if pre.kind == "neuron":
                _scale_rule(ctx, proj, pre, post, N, K)
                if K != 1.0:
                    proj.weight = scaled(proj.weight, w_factor)
            elif pre.kind == "poisson" and K != 1.0:
                proj.weight = scaled(proj.weight, w_factor)
        if K != 1.0:
            for pop in pops.values():
                if pop.kind == "poisson" and any(p.pre == pop.name for p in projections):
                    pop.params["rate"] = pop.params["rate"] * K
    for name, amount in dc.items():
        _add_current(ctx, pops[name], amount, "scale")
    return projections, info


def _scale_rule(ctx, proj, pre, post, N, K):
    # a new dict: the projections of one file entry with several targets share theirs
    a = proj.rule_args = dict(proj.rule_args)
    rule = proj.rule
    where = f"{proj.field}.rule"
    if rule == "fixed_total_number":
        a["n"] = round(a.get("n_full", a["n"]) * N * K)
    elif rule in ("fixed_indegree", "fixed_outdegree"):
        a["k"] = round(a["k"] * K)
        if rule == "fixed_indegree" and not proj.allow_multapses:
            avail = pre.size - (1 if proj.pre == proj.post and not proj.allow_autapses else 0)
            if a["k"] > avail:
                raise ctx.err(where, f"k = {a['k']} exceeds the {avail} sources after scale.N")
    elif rule == "pairwise_bernoulli":
        p = a["p"] * K / N
        if p > 1.0:
            raise ctx.err(
                where, f"p = {a['p']:g} x K / N = {p:g} > 1: the in-degree cannot be kept"
            )
        a["p"] = p
    elif rule == "one_to_one" and K == 1.0:
        pass  # equal full sizes stay equal; the in-degree is 1 at any N
    else:
        raise ctx.err(
            where,
            f"rule {rule} between neuron populations cannot keep or scale the in-degree; "
            "scale.N and scale.K need fixed_total_number, fixed_indegree, fixed_outdegree "
            "or pairwise_bernoulli",
        )
