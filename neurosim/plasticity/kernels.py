"""Event-driven plastic synapse updates, as plain Python loops over numpy arrays.

The same functions serve both backends: :mod:`neurosim.backends.plastic_numpy` calls
them as they are (the reference), :mod:`neurosim.backends.plastic_numba` compiles them
with ``numba.njit`` (this module never imports numba).  Times are ms; a spike of step
``k`` has the time stamp ``t = (k + 1) dt`` (the end of the step, NEST's stamp).

``stdp_deliver`` -- NEST's ``stdp_synapse`` and its nearest-neighbour variants
-------------------------------------------------------------------------------
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

Nearest-neighbour pairing (NEST's ``stdp_nn_*_synapse``, the ``pairing`` argument):
``K-`` is replaced by ``exp(-(t_spike - d - t_i) / tau_minus)`` of the newest
postsynaptic spike ``t_i`` strictly before ``t_spike - d``; facilitation uses
``exp((t_last - t_i - d) / tau_plus)`` instead of ``K+`` (``symm``: every ``t_i`` of
the window; ``restr``: the first one only, and no depression without one;
``pre_centered``: the first one only, times the synapse's own ``K+``, which is then
reset to 0 before it jumps by 1).

The factors ``exp(-lag dt / tau)`` of lags below the tables' length come from
:func:`decay_table` (computed once), others from ``exp`` as NEST writes it.

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

#: Synapses ahead whose target's history and ring slot are prefetched.
AHEAD = 16


def prefetch(arr, i):
    """Hint the CPU to load ``arr[i]`` (a 1-d array) into its cache; no effect on any
    result.  A no-op here; :mod:`neurosim.backends.plastic_numba` compiles it to
    LLVM's prefetch (a random read per synapse event is the kernel's main cost)."""


#: ``pairing`` codes of :func:`stdp_deliver` (NEST's model names).
PAIRING = {
    "stdp_synapse": 0,
    "stdp_nn_symm_synapse": 1,
    "stdp_nn_restr_synapse": 2,
    "stdp_nn_pre_centered_synapse": 3,
}


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
    kplus_syn,
    pairing,
    tau_plus,
    lam,
    alpha,
    mu_plus,
    mu_minus,
    wmax,
    absw,
    hist,
    tau_minus_inv,
    tab_plus,
    tab_minus,
    tm_row,
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
        Per synapse: ``receptor N + neuron`` (receptor 0 or 1).
    delay : uint16 array
        Per synapse: delay (steps), below ``L``.
    weight : float64 array
        Per synapse: weight (target's weight unit), updated in place.
    kplus, tlast : float64 arrays
        Per row: presynaptic trace after the last spike (all-to-all pairing), and that
        spike's time (ms; 0 before the first).
    kplus_syn : float64 array
        Per synapse: the presynaptic trace of ``stdp_nn_pre_centered_synapse`` (reset
        by the target's spikes, so it is the synapse's own); empty otherwise.
    pairing : int
        :data:`PAIRING` code.
    tau_plus, lam, alpha, mu_plus, mu_minus, wmax : float
        NEST's parameters (ms; dimensionless; weight unit).
    absw : bool
        Deliver ``|w|`` (conductance-based targets).
    hist : float64 array (N, cap + 1, 2)
        Per local neuron, its spikes newest first: step and ``K-`` just after it,
        ended by a step of ``-inf`` (:class:`neurosim.plasticity.build.PostHistory`).
    tau_minus_inv : float64 array (N,)
        ``1 / tau_minus`` (1/ms).
    tab_plus : float64 array (T,)
        ``exp(-l dt / tau_plus)`` for lags of ``l`` steps (:func:`decay_table`).
    tab_minus : float64 array (G, T)
        ``exp(-l dt / tau_minus)`` per value of ``tau_minus``; row ``tm_row[n]`` for
        neuron ``n``.

    Notes
    -----
    Spike times are on the step grid, so NEST's comparisons of times with its
    ``stdp_eps`` (1e-6 ms) are comparisons of steps here: a postsynaptic spike of
    step ``p`` lies in ``(t_last - d, t_spike - d]`` when ``k_last - ds < p <= k - ds``
    and strictly before ``t_spike - d`` when ``p < k - ds`` (``ds``: the delay in
    steps; ``k``, ``k_last``: the steps of the spike and of the previous one).  The
    window is found by walking the target's history back from its newest entry (only
    the last few spikes are ever in it).  The decays ``exp(-lag / tau)`` of lags below
    ``T`` steps come from the tables (NEST evaluates ``exp`` of the same lag computed
    from times in ms: the two differ by the rounding of that difference, ~1e-16
    relative; an ``exp`` per synapse event was two thirds of the kernel's time), longer
    lags from ``exp`` with NEST's arithmetic.
    """
    T = tab_plus.shape[0]
    hflat = hist.reshape(-1)
    hstride = hist.shape[1] * 2
    one_mu_p = mu_plus == 1.0
    zero_mu_p = mu_plus == 0.0
    one_mu_m = mu_minus == 1.0
    zero_mu_m = mu_minus == 0.0
    for i in range(sp_steps.shape[0]):
        r = np.searchsorted(src_gids, sp_gids[i])
        if r >= src_gids.shape[0] or src_gids[r] != sp_gids[i]:
            continue
        k = sp_steps[i]
        kk = k % L
        t_spike = (k + 1) * dt
        t_last = tlast[r]
        k_last = np.int64(round(t_last / dt)) - 1
        kp = kplus[r]
        decay_pre = math.exp((t_last - t_spike) / tau_plus)
        row_end = row_ptr[r + 1]
        for s in range(row_ptr[r], row_end):
            if s + AHEAD < row_end:
                a = np.int64(target[s + AHEAD])
                prefetch(hflat, (a - N if a >= N else a) * hstride)
                b = kk + np.int64(delay[s + AHEAD])
                prefetch(ring, (b - L if b >= L else b) * NR + a)
            slot = np.int64(target[s])
            n = slot - N if slot >= N else slot
            ds = np.int64(delay[s])
            d = ds * dt
            w = weight[s]
            t2 = t_spike - d
            top = np.float64(k - ds)
            low = np.float64(k_last - ds)
            # newest first: skip the spikes after t_spike - d, then walk the window
            hi = 0
            while hist[n, hi, 0] > top:
                hi += 1
            lo = hi
            while hist[n, lo, 0] > low:
                lo += 1
            # entries hi .. lo - 1 lie in the window, the oldest at lo - 1
            if pairing == 0 or pairing == 1:
                first = hi
            else:  # restricted and pre-centred: the first spike of the window only
                first = lo - 1 if lo > hi else lo
            kps = kplus_syn[s] if pairing == 3 else 0.0
            for e in range(lo - 1, first - 1, -1):
                sp = hist[n, e, 0]
                lag = np.int64(sp - low)
                if lag < T:
                    dec = tab_plus[lag]
                else:
                    dec = math.exp((t_last - ((sp + 1.0) * dt + d)) / tau_plus)
                if pairing == 0:
                    kpl = kp * dec
                elif pairing == 3:
                    kpl = kps * dec
                else:
                    kpl = dec
                x = 1.0 - w / wmax
                f = x if one_mu_p else (1.0 if zero_mu_p else math.pow(x, mu_plus))
                nw = w / wmax + lam * f * kpl
                w = nw * wmax if nw < 1.0 else wmax
            if pairing == 3 and lo > hi:
                kps = 0.0  # a postsynaptic spike forgets the earlier presynaptic ones
            if pairing != 2 or lo > hi:
                # K- from the newest spike strictly before t_spike - d (none: 0)
                e = hi + 1 if hist[n, hi, 0] == top else hi
                km = 0.0
                sp = hist[n, e, 0]
                if sp != -np.inf:
                    lag = np.int64(top - sp)
                    if lag < T:
                        decay = tab_minus[tm_row[n], lag]
                    else:
                        decay = math.exp(((sp + 1.0) * dt - t2) * tau_minus_inv[n])
                    km = hist[n, e, 1] * decay if pairing == 0 else decay
                x = w / wmax
                f = x if one_mu_m else (1.0 if zero_mu_m else math.pow(x, mu_minus))
                nw = x - alpha * lam * f * km
                w = nw * wmax if nw > 0.0 else 0.0
            if pairing == 3:
                kplus_syn[s] = kps * decay_pre + 1.0
            weight[s] = w
            j = kk + ds
            if j >= L:
                j -= L
            ring[j * NR + slot] += abs(w) if absw else w
        kplus[r] = kp * decay_pre + 1.0
        tlast[r] = t_spike


def decay_table(dt, tau, T, inverse=False):
    """``exp(-(l dt) / tau)`` for ``l = 0 .. T - 1`` (float64, the lags of
    :func:`stdp_deliver`'s tables); with ``inverse``, ``tau`` is ``1 / tau`` and
    multiplies (NEST's form for ``tau_minus``)."""
    out = np.empty(T)
    for lag in range(T):
        out[lag] = math.exp(-(lag * dt) * tau) if inverse else math.exp(-(lag * dt) / tau)
    return out


def table_length(dt):
    """Entries of a decay table: lags up to 400 ms (nearly every interval between spikes
    of a neuron firing at a few Hz and more), between 1024 and 32768 (256 KiB)."""
    return int(min(32768, max(1024, math.ceil(400.0 / dt))))


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


def post_append(sp_steps, sp_gids, dt, lo_gid, gid_row, hist, length, kminus, tpost, tau_minus_inv):
    """Add the spikes of tracked neurons to their history (newest first), with ``K-``
    after each.

    ``gid_row[g - lo_gid]`` is the local neuron of gid ``g`` (-1: not tracked);
    ``kminus``, ``tpost`` per neuron: trace after the last spike and its time (ms).
    The caller made room (``length + new <= hist.shape[1] - 1``).  Returns nothing.
    """
    n_ids = gid_row.shape[0]
    for i in range(sp_steps.shape[0]):
        j = sp_gids[i] - lo_gid
        if j < 0 or j >= n_ids:
            continue
        n = gid_row[j]
        if n < 0:
            continue
        t = (sp_steps[i] + 1) * dt
        kminus[n] = kminus[n] * math.exp((tpost[n] - t) * tau_minus_inv[n]) + 1.0
        tpost[n] = t
        m = length[n]
        for e in range(m, 0, -1):
            hist[n, e, 0] = hist[n, e - 1, 0]
            hist[n, e, 1] = hist[n, e - 1, 1]
        hist[n, 0, 0] = sp_steps[i]
        hist[n, 0, 1] = kminus[n]
        hist[n, m + 1, 0] = -np.inf
        length[n] = m + 1


def bucket_order(target, N, out):
    """Storage positions sorted by local target neuron (``target % N``), ties in
    storage order (a counting sort): the (target, source) order of a projection's
    synapses, since storage runs by ascending source.  ``out``: int32 or int64
    ``(n,)``, filled."""
    counts = np.zeros(N + 1, np.int64)
    for s in range(target.shape[0]):
        counts[target[s] % N + 1] += 1
    for n in range(N):
        counts[n + 1] += counts[n]
    for s in range(target.shape[0]):
        n = target[s] % N
        out[counts[n]] = s
        counts[n] += 1


def prune(hist, length, bound):
    """Drop history entries with step <= ``bound`` but the newest of them (kept for
    the ``K-`` of later queries)."""
    for n in range(length.shape[0]):
        m = length[n]
        e = 0
        while e < m and hist[n, e, 0] > bound:
            e += 1
        if e + 1 < m:
            length[n] = e + 1
            hist[n, e + 1, 0] = -np.inf
