"""Conversions from other tools' models to neurosim network files.

``neurosim.convert.ncps(model, out_yaml, inputs)``: a trained ncps LTC or CfC model
(its state dict as .pt or .npz) -> a network file; see :mod:`neurosim.io.ncps`.
``ncps_readout(params_npz, v)``: ncps's output of a recorded trajectory.
"""

from .io.ncps import convert as ncps
from .io.ncps import convert_cfc as ncps_cfc
from .io.ncps import convert_ltc as ncps_ltc
from .io.ncps import readout as ncps_readout

__all__ = ["ncps", "ncps_cfc", "ncps_ltc", "ncps_readout"]
