"""Conversions from other tools' models to neurosim network files.

``neurosim.convert.ncps(model, out_yaml, inputs)``: a trained ncps LTC model (its
state dict as .pt or .npz) -> a network file; see :mod:`neurosim.io.ncps`.
"""

from .io.ncps import convert_ltc as ncps
from .io.ncps import readout as ncps_readout

__all__ = ["ncps", "ncps_readout"]
