"""neurosim: large-scale neuron network simulation with closed-form dynamics.

Public API::

    net = neurosim.load("networks/cuba.yaml")
    sim = neurosim.Simulation(net, output="out.h5", backend="numba")
    sim.run("500 ms"); sim.set("E", I_e="50 pA"); sim.run("500 ms")
    rec = neurosim.open("out.h5"); t, ids = rec.spikes("E")
"""

__version__ = "0.1.0"

from .network.inspect import get_connections  # noqa: E402
from .network.spec import SpecError, load  # noqa: E402
from .simulation import Simulation  # noqa: E402


def open(path):  # noqa: A001 - the name users expect (h5py.File-like)
    """Open a recording for reading: :class:`neurosim.io.hdf5.Recording`."""
    from .io.hdf5 import open_recording

    return open_recording(path)


__all__ = ["Simulation", "SpecError", "get_connections", "load", "open", "__version__"]
