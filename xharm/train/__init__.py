"""Training of the MGAN: config, data, state, step, data-parallel step, checkpoints, loop, CLI.

Pure JAX/Flax/Optax/Orbax + NumPy; never xarray or Dask.
"""

from .config import TrainConfig
from .data import PatchSet, load_patches, save_patches
from .loop import FitResult, fit

__all__ = ["FitResult", "PatchSet", "TrainConfig", "fit", "load_patches", "save_patches"]
