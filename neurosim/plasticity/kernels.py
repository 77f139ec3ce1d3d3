"""Event-driven plastic synapse updates, as plain Python loops over numpy arrays.

The same functions serve both backends: :mod:`neurosim.backends.plastic_numpy` calls
them as they are (the reference), :mod:`neurosim.backends.plastic_numba` compiles them
with ``numba.njit`` (this module never imports numba).  Times are ms; a spike of step
``k`` has the time stamp ``t = (k + 1) dt`` (the end of the step, NEST's stamp).

``stdp_deliver`` -- NEST's ``stdp_synapse`` (all-to-all pairing)
------------------------------------------------------------------
Traces, advanced in closed form only at spikes::

    K+(t)  = sum_{pre spikes t_j <= t}  exp(-(t - t_j) / tau_plus)   (per source)
    K-(t)  = sum_{post spikes t_i <= t} exp(-(t - t_i) / tau_minus)  (per neuron)
    K+ <- K+ exp((t_last - t_spike) / tau_plus) + 1      at a presynaptic spike
    K- <- K- exp((t_last_post - t) / tau_minus) + 1      at a postsynaptic spike

With ``d`` the synapse's delay (all of it dendritic, as NEST's ``stdp_synapse``), at
the delivery of a presynaptic spike at ``t_spike`` (previous one ``t_last``; 0 before
the first): for each postsynaptic spike ``t_i`` in ``(t_last - d, t_spike - d]``, in
order (facilitation)::

    w <- Wmax min(1, w / Wmax + lambda (1 - w / Wmax)^mu_plus K+(t_i + d))
    K+(t_i + d) = K+(t_last) exp((t_last - t_i - d) / tau_plus)

then (depression, ``K-`` taken strictly before ``t_spike - d``)::

    w <- Wmax max(0, w / Wmax - alpha lambda (w / Wmax)^mu_minus K-(t_spike - d))

and the spike reaches the target at ``t_spike + d`` with the new ``w``.

``tsodyks_deliver`` -- NEST's ``tsodyks_synapse``
-------------------------------------------------
Between spikes (interval ``h``), exact solution of ``du/dt = -u / tau_fac``,
``dy/dt = -y / tau_psc``, ``dx/dt = z / tau_rec`` with ``z = 1 - x - y``::

    u <- u exp(-h / tau_fac)          (0 when tau_fac = 0)
    x <- x + Pxy y + (1 - exp(-h / tau_rec)) z
    Pxy = ((exp(-h/tau_rec) - 1) tau_rec - (exp(-h/tau_psc) - 1) tau_psc) / (tau_psc - tau_rec)
    y <- y exp(-h / tau_psc)

then at the spike ``u <- u + U (1 - u)``, ``dy = u x``, ``x <- x - dy``, ``y <- y + dy``
and the target receives ``dy * w``.  The state depends on the presynaptic spike train
only, so it is kept once per source (all synapses of a source and projection share
it), and per synapse only the weight.
"""

from __future__ import annotations

import math

import numpy as np


def stdp_deliver(
    sp_steps,
    sp_gids,
    dt,
    L,
    NR,
    N,
    ring,
    src_gids,
    row_ptr,
    target,
    delay,
    weight,
    kplus,
    tlast,
    tau_plus,
    lam,
    alpha,
    mu_plus,
    mu_minus,
    wmax,
    absw,
    hrow,
    h_step,
    h_k,
    h_len,
    tau_minus_inv,
):
    """Deliver spikes (sorted by step, then gid) through one STDP projection.

    Parameters
    ----------
    sp_steps, sp_gids : int64 arrays
        Spikes (step, source gid).
    dt : float
        Step (ms).
    L, NR, N : int
        Ring length (steps), ring slots per step (2 N), local neurons.
    ring : float64 array
        Ring buffer; slot ``(k % L) NR + receptor N + neuron``.
    src_gids, row_ptr : int64 arrays
        Rows by source.
    target : int32 array
        Per synapse: ``receptor N + neuron``.
    delay : uint16 array
        Per synapse: delay (steps).
    weight : float64 array
        Per synapse: weight (target's weight unit), updated in place.
    kplus, tlast : float64 arrays
        Per row: presynaptic trace after the last spike, and its time (ms).
    tau_plus, lam, alpha, mu_plus, mu_minus, wmax : float
        NEST's parameters (ms; dimensionless; weight unit).
    absw : bool
        Deliver ``|w|`` (conductance-based targets).
    hrow : int64 array (N,)
        Row of each neuron in the postsynaptic history.
    h_step, h_k : 2-d arrays
        Per history row: postsynaptic spike steps and ``K-`` just after each.
    h_len : int64 array
        Entries per history row.
    tau_minus_inv : float64 array
        Per history row: ``1 / tau_minus`` (1/ms).
    """
    for i in range(sp_steps.shape[0]):
        r = np.searchsorted(src_gids, sp_gids[i])
        if r >= src_gids.shape[0] or src_gids[r] != sp_gids[i]:
            continue
        k = sp_steps[i]
        t_spike = (k + 1) * dt
        t_last = tlast[r]
        kp = kplus[r]
        for s in range(row_ptr[r], row_ptr[r + 1]):
            slot = target[s]
            n = slot % N
            ds = np.int64(delay[s])
            d = ds * dt
            h = hrow[n]
            w = weight[s]
            t1 = t_last - d
            t2 = t_spike - d
            m = h_len[h]
            # facilitation by the postsynaptic spikes in (t_last - d, t_spike - d]
            for e in range(m):
                tp = (h_step[h, e] + 1) * dt
                if tp - t1 < 1e-6:
                    continue
                if tp - t2 >= 1e-6:
                    break
                minus_dt = t_last - (tp + d)
                nw = w / wmax + lam * math.pow(1.0 - w / wmax, mu_plus) * (
                    kp * math.exp(minus_dt / tau_plus)
                )
                w = nw * wmax if nw < 1.0 else wmax
            # depression by K- strictly before t_spike - d
            km = 0.0
            for e in range(m - 1, -1, -1):
                tp = (h_step[h, e] + 1) * dt
                if t2 - tp > 1e-6:
                    km = h_k[h, e] * math.exp((tp - t2) * tau_minus_inv[h])
                    break
            nw = w / wmax - alpha * lam * math.pow(w / wmax, mu_minus) * km
            w = nw * wmax if nw > 0.0 else 0.0
            weight[s] = w
            ring[((k + ds) % L) * NR + slot] += abs(w) if absw else w
        kplus[r] = kp * math.exp((t_last - t_spike) / tau_plus) + 1.0
        tlast[r] = t_spike


def tsodyks_deliver(
    sp_steps,
    sp_gids,
    dt,
    L,
    NR,
    ring,
    src_gids,
    row_ptr,
    target,
    delay,
    weight,
    sx,
    sy,
    su,
    tlast,
    U,
    tau_psc,
    tau_rec,
    tau_fac,
    absw,
):
    """Deliver spikes through one ``tsodyks_synapse`` projection (see the module).

    ``sx``, ``sy``, ``su``, ``tlast`` (float64, per row) are the source's state after
    its last spike and that spike's time (ms); other arguments as :func:`stdp_deliver`.
    """
    for i in range(sp_steps.shape[0]):
        r = np.searchsorted(src_gids, sp_gids[i])
        if r >= src_gids.shape[0] or src_gids[r] != sp_gids[i]:
            continue
        k = sp_steps[i]
        t_spike = (k + 1) * dt
        h = t_spike - tlast[r]
        puu = 0.0 if tau_fac == 0.0 else math.exp(-h / tau_fac)
        pyy = math.exp(-h / tau_psc)
        pzz = math.exp(-h / tau_rec)
        pxy = ((pzz - 1.0) * tau_rec - (pyy - 1.0) * tau_psc) / (tau_psc - tau_rec)
        pxz = 1.0 - pzz
        x, y, u = sx[r], sy[r], su[r]
        z = 1.0 - x - y
        u *= puu
        x += pxy * y + pxz * z
        y *= pyy
        u += U * (1.0 - u)
        dy = u * x
        x -= dy
        y += dy
        sx[r], sy[r], su[r] = x, y, u
        tlast[r] = t_spike
        for s in range(row_ptr[r], row_ptr[r + 1]):
            w = dy * weight[s]
            ring[((k + np.int64(delay[s])) % L) * NR + target[s]] += abs(w) if absw else w


def post_append(
    sp_steps, sp_gids, dt, lo_gid, gid_row, h_step, h_k, h_len, kminus, tpost, tau_minus_inv
):
    """Append the spikes of tracked neurons to their history, with ``K-`` after each.

    ``gid_row[g - lo_gid]`` is the history row of gid ``g`` (-1: not tracked);
    ``kminus``, ``tpost`` per row: trace after the last spike and its time (ms).
    The caller made room (``h_len + new <= h_step.shape[1]``).  Returns nothing.
    """
    n = gid_row.shape[0]
    for i in range(sp_steps.shape[0]):
        j = sp_gids[i] - lo_gid
        if j < 0 or j >= n:
            continue
        h = gid_row[j]
        if h < 0:
            continue
        t = (sp_steps[i] + 1) * dt
        kminus[h] = kminus[h] * math.exp((tpost[h] - t) * tau_minus_inv[h]) + 1.0
        tpost[h] = t
        e = h_len[h]
        h_step[h, e] = sp_steps[i]
        h_k[h, e] = kminus[h]
        h_len[h] = e + 1


def prune(h_step, h_k, h_len, bound):
    """Drop history entries with step <= ``bound`` but the last of them (kept for the
    ``K-`` of later queries); shift the rest to the front."""
    for h in range(h_len.shape[0]):
        m = h_len[h]
        c = 0
        while c < m and h_step[h, c] <= bound:
            c += 1
        drop = c - 1
        if drop > 0:
            for e in range(drop, m):
                h_step[h, e - drop] = h_step[h, e]
                h_k[h, e - drop] = h_k[h, e]
            h_len[h] = m - drop
