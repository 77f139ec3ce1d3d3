"""Stimulation devices: tables of their parameters (NEST's names and conventions).

Devices are not neurons: they have no state advanced by the neuron kernel.
``poisson_generator`` sends an independent Poisson train through each of its
synapses (NEST's convention); ``spike_generator`` emits given spike times and is a
spike source like a neuron; the current generators add a current ``weight * I(t)``
to each target's input during a step.

Each device is one small table here rather than one file each: they carry no
dynamics of their own, only parameters (``noise_generator``'s Ornstein-Uhlenbeck
update lives with the other per-step input code in ``neurosim.network.inputs``).
"""

from __future__ import annotations

from dataclasses import dataclass

INF = float("inf")


@dataclass(frozen=True)
class DeviceParam:
    """One device parameter: default (None = required), dimension, list-valued, doc."""

    default: object
    dimension: str
    is_list: bool
    doc: str


@dataclass(frozen=True)
class DeviceModel:
    """A device declared as data; ``kind`` is ``poisson``, ``spikes`` or ``current``."""

    name: str
    kind: str
    params: dict
    doc: str


DEVICES = {
    "poisson_generator": DeviceModel(
        "poisson_generator",
        "poisson",
        {
            "rate": DeviceParam(0.0, "frequency", False, "mean rate of each train (Hz)"),
            "start": DeviceParam(
                0.0, "time", False, "spikes at t > start + dt (ms; NEST 3's timing)"
            ),
            "stop": DeviceParam(INF, "time", False, "spikes at t <= stop + dt (ms)"),
        },
        "Independent Poisson spike train per synapse; exact Poisson count per step.",
    ),
    "spike_generator": DeviceModel(
        "spike_generator",
        "spikes",
        {
            "spike_times": DeviceParam(
                [],
                "time",
                True,
                "spike times (ms; off the dt grid rounded up to it); one list for all, "
                "or a list of lists, one per generator",
            ),
            "start": DeviceParam(0.0, "time", False, "emits the spikes at t > start (ms)"),
            "stop": DeviceParam(INF, "time", False, "emits the spikes at t <= stop (ms)"),
        },
        "Emits spikes at given times; a spike at t reaches a target at t + delay.",
    ),
    "dc_generator": DeviceModel(
        "dc_generator",
        "current",
        {
            "amplitude": DeviceParam(0.0, "current", False, "current (pA)"),
            "start": DeviceParam(0.0, "time", False, "on from this time (ms; 0 acts as dt)"),
            "stop": DeviceParam(INF, "time", False, "off from this time (ms)"),
        },
        "Constant current between start and stop.",
    ),
    "step_current_generator": DeviceModel(
        "step_current_generator",
        "current",
        {
            "amplitude_times": DeviceParam([], "time", True, "times of the steps (ms, > 0)"),
            "amplitude_values": DeviceParam([], "current", True, "current from each time (pA)"),
            "start": DeviceParam(0.0, "time", False, "on from this time (ms)"),
            "stop": DeviceParam(INF, "time", False, "off from this time (ms)"),
        },
        "Piecewise-constant current.",
    ),
    "noise_generator": DeviceModel(
        "noise_generator",
        "current",
        {
            "mean": DeviceParam(0.0, "current", False, "mean current (pA)"),
            "std": DeviceParam(0.0, "current", False, "stationary standard deviation (pA)"),
            "tau": DeviceParam(1.0, "time", False, "correlation time of the OU process (ms)"),
            "dt": DeviceParam(
                0.0,
                "time",
                False,
                "NEST's process instead: a new N(mean, std^2) every dt (ms, a whole number "
                "of steps), held in between; 0 (default): the OU current",
            ),
            "start": DeviceParam(0.0, "time", False, "on from this time (ms; 0 acts as dt)"),
            "stop": DeviceParam(INF, "time", False, "off from this time (ms)"),
        },
        "Ornstein-Uhlenbeck current, independent per target, advanced by its exact "
        "update I' = mean + (I - mean) e^{-dt/tau} + std sqrt(1 - e^{-2 dt/tau}) xi; "
        "with its own dt > 0, NEST's noise_generator (piecewise constant).",
    ),
}
