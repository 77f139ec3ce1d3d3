"""The numba backend (CPU default): many steps per compiled call.

The kernel follows :mod:`neurosim.backends.numpy_backend` operation by operation (same
order of additions, the same portable exp, no fast-math so LLVM does not contract
multiply-adds), so the two backends produce the same bits.  Python is entered only
once per chunk, to flush recordings.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from . import pexp as _pe
from .base import HostBackend

_C = np.array(_pe.COEFFS, np.float64)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@nb.njit(cache=True, nogil=True)
def pexp(x):
    """Portable exp, scalar (bit-identical to the numpy version)."""
    if x < _pe.X_MIN:
        return 0.0
    n = np.floor(x * _pe.INV_LN2 + 0.5)
    r = (x - n * _pe.LN2_HI) - n * _pe.LN2_LO
    p = _C[0]
    for i in range(1, _C.shape[0]):
        p = p * r + _C[i]
    return p * 2.0**n


@nb.njit(cache=True, nogil=True, inline="always")
def _uniform(key, ctr):
    z = key + (ctr + np.uint64(1)) * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    return np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@nb.njit(cache=True, nogil=True)
def _run(
    k0, nsteps, dt, L, N,
    V, syn, refr, ring, prow,
    membrane, P_syn, P_VV, P_VI, P_Vsyn, G_avg, E_rev, n_syn, n_cond, rec_state, rec_gain,
    E_L, I_e, V_th, V_reset, V_min, C_m, g_L, ref_ticks,
    row_ptr, target, weight, delay, neuron_gid,
    sg_steps, sg_gids, sg_pos,
    p_target, p_weight, p_delay, p_gen, p_key, p_cdf, p_parts, p_start, p_stop,
    c_target, c_weight, c_delay, c_chan, amp, amp_base,
    r_nidx, r_row, r_every, r_buf,
    sp_steps, sp_gids,
):
    NR = 2 * N
    n_sp = 0
    cap = sp_steps.shape[0]
    istim = np.zeros(N)
    fired = np.empty(N, np.int64)
    K = p_cdf.shape[1]
    for k in range(k0, k0 + nsteps):
        if n_sp + N + (sg_steps.shape[0] - sg_pos) > cap and k > k0:
            return k - k0, n_sp, sg_pos
        # 1. Poisson input
        for j in range(p_target.shape[0]):
            g = p_gen[j]
            if k < p_start[g] or k >= p_stop[g]:
                continue
            parts = p_parts[g]
            count = 0
            for p in range(parts):
                u = _uniform(p_key[j], np.uint64(k) * np.uint64(parts) + np.uint64(p))
                c = 0
                while c < K - 1 and p_cdf[g, c] < u:
                    c += 1
                count += c
            if count:
                slot = ((k + p_delay[j]) % L) * NR + p_target[j]
                ring[slot] += np.float64(count) * np.float64(p_weight[j])
        # 2. current input
        for i in range(N):
            istim[i] = 0.0
        for j in range(c_target.shape[0]):
            istim[c_target[j]] += c_weight[j] * amp[c_chan[j], k - c_delay[j] - amp_base]
        # 3. neurons
        base = (k % L) * NR
        nf = 0
        for i in range(N):
            r = prow[i]
            v = V[i]
            free = refr[i] == 0
            ns = n_syn[r]
            if free:
                i_tot = I_e[r] + istim[i]
                if membrane[r] == 0:
                    acc = 0.0
                    for s in range(ns):
                        acc = acc + P_Vsyn[r, s] * syn[s, i]
                    vn = E_L[r] + P_VV[r] * (v - E_L[r]) + acc + P_VI[r] * i_tot
                else:
                    gsum = 0.0
                    ge = 0.0
                    for c in range(n_cond[r]):
                        gbar = 0.0
                        for s in range(ns):
                            gbar = gbar + G_avg[r, c, s] * syn[s, i]
                        gsum = gsum + gbar
                        ge = ge + gbar * E_rev[r, c]
                    gtot = g_L[r] + gsum
                    vinf = (g_L[r] * E_L[r] + ge + i_tot) / gtot
                    vn = vinf + (v - vinf) * pexp(-dt * gtot / C_m[r])
            else:
                vn = v
                refr[i] -= 1
            # synaptic states: exact decay, then this step's input
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            s3 = 0.0
            for s in range(ns):
                acc = 0.0
                for t in range(ns):
                    acc = acc + P_syn[r, s, t] * syn[t, i]
                if abs(acc) < 1e-300:
                    acc = 0.0
                if s == 0:
                    s0 = acc
                elif s == 1:
                    s1 = acc
                elif s == 2:
                    s2 = acc
                else:
                    s3 = acc
            for rc in range(2):
                x = rec_gain[r, rc] * ring[base + rc * N + i]
                ring[base + rc * N + i] = 0.0
                st = rec_state[r, rc]
                if st < 0:
                    if free:
                        vn = vn + x
                elif st == 0:
                    s0 = s0 + x
                elif st == 1:
                    s1 = s1 + x
                elif st == 2:
                    s2 = s2 + x
                else:
                    s3 = s3 + x
            if ns > 0:
                syn[0, i] = s0
            if ns > 1:
                syn[1, i] = s1
            if ns > 2:
                syn[2, i] = s2
            if ns > 3:
                syn[3, i] = s3
            if vn < V_min[r]:
                vn = V_min[r]
            if vn >= V_th[r]:
                vn = V_reset[r]
                refr[i] = ref_ticks[r]
                fired[nf] = i
                nf += 1
            V[i] = vn
        # 4. deliver spikes of step k in ascending gid (neurons merged with generators)
        a = 0
        while True:
            g_n = neuron_gid[fired[a]] if a < nf else -1
            has_g = sg_pos < sg_steps.shape[0] and sg_steps[sg_pos] == k
            g_s = sg_gids[sg_pos] if has_g else -1
            if g_n < 0 and g_s < 0:
                break
            if g_n >= 0 and (g_s < 0 or g_n <= g_s):
                src = g_n
                a += 1
            else:
                src = g_s
                sg_pos += 1
            sp_steps[n_sp] = k
            sp_gids[n_sp] = src
            n_sp += 1
            for j in range(row_ptr[src], row_ptr[src + 1]):
                slot = ((k + np.int64(delay[j])) % L) * NR + target[j]
                ring[slot] += np.float64(weight[j])
        # 5. record
        for e in range(r_nidx.shape[0]):
            ev = r_every[e]
            if (k + 1) % ev == 0:
                row = (k + 1) // ev - k0 // ev - 1
                if r_row[e] < 0:
                    r_buf[row, e] = V[r_nidx[e]]
                else:
                    r_buf[row, e] = syn[r_row[e], r_nidx[e]]
    return nsteps, n_sp, sg_pos


class NumbaBackend(HostBackend):
    """Compiled CPU backend (numba, ``cache=True``: compiled once per machine)."""

    name = "numba"

    def setup(self):
        cap = max(4 * self.N, 1 << 16)
        self.sp_steps = np.zeros(cap, np.int64)
        self.sp_gids = np.zeros(cap, np.int64)
        b = self.built
        # skip generator events before step 0 (none: times > 0 are checked in the spec)
        self.sg_pos = 0
        self._sg_steps = np.ascontiguousarray(b.sg_steps, np.int64)
        self._sg_gids = np.ascontiguousarray(b.sg_gids, np.int64)

    def run_steps(self, k0, nsteps, amp, amp_base, rec):
        b, p, pi, ci = self.built, self.prop, self.pois, self.cur
        # generator events before k0 (after a restart in the middle) are skipped
        while self.sg_pos < len(self._sg_steps) and self._sg_steps[self.sg_pos] < k0:
            self.sg_pos += 1
        buf = rec.buf if rec.n_entries else np.zeros((1, 0))
        done, n_sp, self.sg_pos = _run(
            k0, nsteps, self.dt, self.L, self.N,
            self.V, self.syn, self.refr, self.ring_flat, b.prow,
            p["membrane"], p["P_syn"], p["P_VV"], p["P_VI"], p["P_Vsyn"], p["G_avg"],
            p["E_rev"], p["n_syn"], p["n_cond"], p["rec_state"], p["rec_gain"],
            p["E_L"], p["I_e"], p["V_th"], p["V_reset"], p["V_min"], p["C_m"], p["g_L"],
            p["ref_ticks"],
            b.row_ptr, b.target, b.weight, b.delay, self.neuron_gid,
            self._sg_steps, self._sg_gids, self.sg_pos,
            b.pois_target, b.pois_weight, b.pois_delay, b.pois_gen, b.pois_key,
            pi.cdf, pi.parts, pi.start, pi.stop,
            b.cur_target, b.cur_weight, b.cur_delay, ci.channel, amp, amp_base,
            rec.nidx, rec.row, rec.every, buf,
            self.sp_steps, self.sp_gids,
        )
        return self.sp_steps[:n_sp].copy(), self.sp_gids[:n_sp].copy(), done
