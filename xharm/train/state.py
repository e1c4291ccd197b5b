"""The training state of the MGAN: parameters, optimizer states, step and key, all arrays.

Optimizers and modules are not in the state; they are rebuilt from the
:class:`~xharm.train.config.TrainConfig` (:func:`make_optimizers`, :func:`make_models`),
so the state is a plain pytree that checkpoints, replicates over devices and
compares leaf by leaf.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from ..models.mgan import Discriminator, Generator
from .config import TrainConfig

__all__ = ["STREAM_PRNG", "GANState", "create_state", "make_key", "make_models", "make_optimizers"]


@flax.struct.dataclass
class GANState:
    """All arrays a training run carries from one step to the next."""

    step: jax.Array  # int32 scalar: steps done
    g_params: Any  # generator parameters
    d_params: Any  # discriminator parameters
    d_stats: Any  # spectral-norm power-iteration state of the discriminator
    g_opt: Any  # Adam state of the generator
    d_opt: Any  # Adam state of the discriminator
    key: jax.Array  # threefry key data; dropout/augmentation keys derive from (key, step, patch id)


#: PRNG of the per-patch streams (dropout, augmentation): threefry is counter-based, so a
#: patch's random numbers do not depend on the batch it is in (``rbg`` under ``vmap`` does).
STREAM_PRNG = "threefry2x32"


def make_key(cfg: TrainConfig, seed: int | None = None) -> jax.Array:
    """A typed PRNG key of ``cfg.prng`` (used for parameter initialization)."""
    return jax.random.key(cfg.seed if seed is None else seed, impl=cfg.prng)


def make_models(cfg: TrainConfig) -> tuple[Generator, Discriminator]:
    """The generator and discriminator modules of ``cfg.model``."""
    return Generator(cfg.model), Discriminator(cfg.model)


def make_optimizers(cfg: TrainConfig, devices: int = 1) -> tuple[optax.GradientTransformation, ...]:
    """Adam for G and D with the learning rate scaled to ``devices`` (no schedule, no warm-up)."""
    lr = cfg.learning_rate_for(devices)
    tx = optax.flatten(optax.adam(lr, b1=cfg.adam_b1, b2=cfg.adam_b2))  # one vector: fast to compile
    return tx, tx


def create_state(cfg: TrainConfig, devices: int = 1) -> GANState:
    """Initialize both networks (Glorot uniform) and their optimizers from ``cfg.seed``.

    Examples
    --------
    >>> from xharm.train.config import TrainConfig
    >>> st = create_state(TrainConfig.preset("tiny"))
    >>> int(st.step)
    0
    """
    gen, disc = make_models(cfg)
    g_tx, d_tx = make_optimizers(cfg, devices)
    shapes = cfg.model.input_shapes()
    x10 = jnp.zeros((1, *shapes["s2_10m"]), jnp.float32)
    x20 = jnp.zeros((1, *shapes["s2_20m"]), jnp.float32)
    y = jnp.zeros((1, *shapes["l8"]), jnp.float32)
    k_g, k_d = jax.random.split(make_key(cfg))
    k_run = jax.random.key(cfg.seed, impl=STREAM_PRNG)

    @jax.jit
    def init() -> GANState:
        g_params = gen.init(k_g, x10, x20)["params"]
        d_vars = disc.init(k_d, y, y, update_stats=False)
        return GANState(
            step=jnp.zeros((), jnp.int32),
            g_params=g_params,
            d_params=d_vars["params"],
            d_stats=d_vars["batch_stats"],
            g_opt=g_tx.init(g_params),
            d_opt=d_tx.init(d_vars["params"]),
            key=jax.random.key_data(k_run),
        )

    return init()
