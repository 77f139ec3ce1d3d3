"""Times in ms onto the step grid, rounded as NEST 3 rounds them.

NEST keeps time in integer tics (1 us by default) and converts with two rules, which
neurosim follows so that a network ported from NEST keeps its steps
(``tests/test_nest_devices.py``, and the t_ref and delay cases of
``tests/test_nest_edge_cases.py``):

- a duration such as ``t_ref`` and every device time (``spike_times``,
  ``amplitude_times``, ``start``, ``stop``) goes to tics (to nearest), then to steps
  rounded **up** (``Time::get_steps``): ``t_ref = 2.05 ms`` at dt = 0.1 ms is 21 steps,
  and an off-grid spike time moves to the end of its step (NEST refuses off-grid device
  times unless ``allow_offgrid_times`` is set, and then rounds them up);
- a delay is ``floor(d * steps_per_ms + 0.5)`` (``Time::delay_ms_to_steps``): halves
  round up, ``1.25 ms`` is 13 steps.

dt itself must be a whole number of tics for the first rule to be NEST's; for any other
dt, durations and device times are rounded up with a tolerance of 1e-9 of a step.
"""

from __future__ import annotations

import numpy as np

#: NEST's default tic: 1 us.
TICS_PER_MS = 1000.0
#: A step beyond any simulation: the step of ``stop: inf``.
NEVER = np.iinfo(np.int64).max // 4


def _tics_per_step(dt):
    t = dt * TICS_PER_MS
    r = round(t)
    return r if r >= 1 and abs(t - r) <= 1e-9 * t else None


def ceil_steps(t, dt):
    """Steps of durations or device times, rounded up as NEST's ``Time::get_steps``.

    Parameters
    ----------
    t : float or array of float
        Times (ms); ``inf`` means never.
    dt : float
        Step (ms).

    Returns
    -------
    int or ndarray of int64
        ``ceil(tics(t) / tics_per_step)``, with ``tics(t)`` rounded to nearest; ``NEVER``
        for ``inf``.
    """
    x = np.asarray(t, np.float64)
    fin = np.isfinite(x)
    xf = np.where(fin, x, 0.0)
    tps = _tics_per_step(dt)
    if tps is not None:
        tics = np.floor(xf * TICS_PER_MS + 0.5).astype(np.int64)
        n = -(-tics // tps)
    else:
        s = xf / dt
        r = np.round(s)
        n = np.where(np.abs(s - r) <= 1e-9, r, np.ceil(s)).astype(np.int64)
    n = np.where(fin, n, NEVER)
    return int(n) if n.ndim == 0 else n


def off_grid(t, dt):
    """Which (finite) times :func:`ceil_steps` moves: not a whole number of steps."""
    x = np.asarray(t, np.float64)
    xf = np.where(np.isfinite(x), x, 0.0)
    tps = _tics_per_step(dt)
    if tps is not None:
        return np.floor(xf * TICS_PER_MS + 0.5).astype(np.int64) % tps != 0
    s = xf / dt
    return np.abs(s - np.round(s)) > 1e-9


def delay_steps(d, dt):
    """Delays (ms, float or array) in steps: ``floor(d * (1 / dt) + 0.5)``, NEST's
    ``Time::delay_ms_to_steps`` (halves round up).  int or ndarray of int64."""
    n = np.floor(np.asarray(d, np.float64) * (1.0 / dt) + 0.5).astype(np.int64)
    return int(n) if n.ndim == 0 else n
