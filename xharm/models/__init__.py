"""Pure JAX/Flax models: the MGAN generator and discriminator, its losses and DiffAugment.

Nothing here imports xarray or Dask; ``import xharm`` does not import this package.
"""

from ..exceptions import ConfigError
from .augment import AugmentConfig, diff_augment
from .losses import l1_loss, relativistic_d_loss, relativistic_g_loss
from .mgan import Discriminator, Generator, MGANConfig, condition_30m, count_params

__all__ = [
    "AugmentConfig",
    "ConfigError",
    "Discriminator",
    "Generator",
    "MGANConfig",
    "condition_30m",
    "count_params",
    "diff_augment",
    "l1_loss",
    "relativistic_d_loss",
    "relativistic_g_loss",
]
