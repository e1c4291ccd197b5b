"""The training state of the MGAN: parameters, optimizer states, step and key, all arrays.

Optimizers and modules are not in the state; they are rebuilt from the
:class:`~xharm.train.config.TrainConfig` (:func:`make_optimizers`, :func:`make_models`),
so the state is a plain pytree that checkpoints, replicates over devices and
compares leaf by leaf.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.core
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from ..exceptions import ConfigError, describe
from ..models.mgan import Discriminator, Generator, box_kernel, example_inputs
from ..spec import L8_BANDS
from .config import TrainConfig

__all__ = [
    "STREAM_PRNG",
    "GANState",
    "create_state",
    "grow_state",
    "make_key",
    "make_models",
    "make_optimizers",
]


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
    y = jnp.zeros((1, *shapes["l8"]), jnp.float32)
    # the condition: the Sentinel-2 input on the 30 m grid (condition_30m), all input bands
    cond = jnp.zeros((*y.shape[:-1], shapes["s2_10m"][-1] + shapes["s2_20m"][-1]), jnp.float32)
    k_g, k_d = jax.random.split(make_key(cfg))
    k_run = jax.random.key(cfg.seed, impl=STREAM_PRNG)

    @jax.jit
    def init() -> GANState:
        g_params = gen.init(k_g, **example_inputs(cfg.model))["params"]
        d_vars = disc.init(k_d, cond, y, update_stats=False)
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


#: where each network reads its inputs: (parameter, channel names of its input) per module
_INPUT_LAYERS = {
    "g": {"head_20m": "s2_20m", "skip": "condition"},
    "d": {"block_0": "condition+target"},
}


def _fill(a: np.ndarray, kind: str) -> float:
    """Start value of new entries: 0 for weights and first moments; for second moments
    the mean of the tensor's existing ones, so that a new weight's first Adam steps are
    of the usual size (with zeros, and the bias correction long gone, up to 16x larger)."""
    return float(np.mean(a)) if kind == "nu" else 0.0


def grow_state(state: GANState, old: TrainConfig, new: TrainConfig) -> GANState:
    """Carry a trained state over to a config with more 20 m input bands and/or a wider skip.

    The weights that read a new band (e.g. B8A) start at zero, and a 1 x 1 residual skip
    becomes the equivalent ``K x K`` one (``model.skip_kernel``, see
    :func:`xharm.models.mgan.box_kernel`), so the grown generator computes exactly what
    the old one did whatever the new band holds; training then learns to use the new
    weights. Adam moments come along the same way (new second moments start at the mean
    of their tensor's, see :func:`_fill`); step and key are kept, so a run resumed from
    the result continues the old run's data order.

    Parameters
    ----------
    state
        A single-device state of ``old`` (e.g. ``Checkpointer.restore``).
    old, new
        The configs of ``state`` and of the result: the same except for
        ``model.s2_20m_bands`` (a superset of the old bands), ``model.bands_20m`` and
        ``model.skip_kernel`` (from 1, or to a larger kernel).

    Examples
    --------
    >>> from xharm.train.config import TrainConfig
    >>> old = TrainConfig.preset("tiny")
    >>> new = old.with_overrides(["model.bands_20m=3", 'model.s2_20m_bands=["B8A", "B11", "B12"]'])
    >>> grow_state(create_state(old), old, new).g_params["head_20m"]["kernel"].shape[-2]
    3
    """
    mo, mn = old.model, new.model
    same = (
        dataclasses.replace(
            mn, bands_20m=mo.bands_20m, s2_20m_bands=mo.s2_20m_bands, skip_kernel=mo.skip_kernel
        )
        == mo
    )
    grows = mo.skip_kernel == 1 or mo.skip_kernel <= mn.skip_kernel
    if not same or not set(mo.s2_20m_bands) <= set(mn.s2_20m_bands) or not grows:
        raise ConfigError(
            describe(
                "grow_state can only add 20 m input bands and widen the residual skip",
                expected=f"the same model config with 20 m bands including {mo.s2_20m_bands}, "
                f"skip_kernel 1 or >= {mo.skip_kernel}",
                found=(mn.s2_20m_bands, mn.skip_kernel) if same else "other model changes",
            )
        )
    target = L8_BANDS[: mo.out_bands]
    names = {
        "s2_20m": (mo.s2_20m_bands, mn.s2_20m_bands),
        "condition": (mo.input_bands(), mn.input_bands()),
        "condition+target": (mo.input_bands() + target, mn.input_bands() + target),
    }

    def scatter(a: Any, before: tuple[str, ...], after: tuple[str, ...], kind: str) -> np.ndarray:
        a = np.asarray(a)
        out = np.full((*a.shape[:-2], len(after), a.shape[-1]), _fill(a, kind), a.dtype)
        out[..., [after.index(b) for b in before], :] = a
        return out

    def spread(a: np.ndarray, kind: str) -> np.ndarray:
        k = mn.skip_kernel
        if a.shape[0] == k:
            return a
        if a.shape[0] == 1:  # 1 x 1 on the 30 m average == box mean over the footprint
            if kind == "nu":  # a tap reads one pixel, the 1 x 1 weight their mean: similar gradients
                return np.broadcast_to(a[0, 0], (k, k, *a.shape[2:])).copy()
            return box_kernel(a[0, 0], k)
        out = np.full((k, k, *a.shape[2:]), _fill(a, kind), a.dtype)
        c = (k - a.shape[0]) // 2
        out[c : c + a.shape[0], c : c + a.shape[0]] = a
        return out

    def widen(params: Any, net: str, kind: str = "param") -> Any:
        params = flax.core.unfreeze(params) if isinstance(params, flax.core.FrozenDict) else dict(params)
        for layer, channels in _INPUT_LAYERS[net].items():
            if layer not in params:  # no "skip" without model.residual
                continue
            kernel = scatter(params[layer]["kernel"], *names[channels], kind)
            params[layer] = {**params[layer], "kernel": spread(kernel, kind) if layer == "skip" else kernel}
        return params

    fresh = create_state(new)
    g, d = widen(state.g_params, "g"), widen(state.d_params, "d")

    def moments(opt: Any, before: Any, net: str) -> Any:
        _, unravel = ravel_pytree(before)

        def one(path: Any, a: Any, b: Any) -> Any:
            if np.shape(a) == np.shape(b):
                return a  # the step count
            kind = "nu" if jax.tree_util.keystr(path).endswith(".nu") else "mu"
            return ravel_pytree(widen(unravel(a), net, kind))[0]

        return jax.tree_util.tree_map_with_path(one, opt, fresh.g_opt if net == "g" else fresh.d_opt)

    return state.replace(  # type: ignore[attr-defined]
        g_params=jax.tree_util.tree_map(jnp.asarray, g),
        d_params=jax.tree_util.tree_map(jnp.asarray, d),
        g_opt=moments(state.g_opt, state.g_params, "g"),
        d_opt=moments(state.d_opt, state.d_params, "d"),
    )
