"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for multispectral patches.

The discriminator of the MGAN sees real and generated patches through the same
random transform, drawn per sample from one PRNG key per sample: pass the same
keys for the real and the fake batch (and for the condition) and they are
transformed identically. Every transform is differentiable in the images, so the
generator's gradient flows through it.

Policies (``AugmentConfig.policy``):

* ``"color"`` - adapted to reflectance bands rather than RGB: *brightness* adds one
  offset to every band; *saturation* scales each pixel's spectrum about its band
  mean (the spectral spread); *contrast* scales each band about its own spatial
  mean (so the mean spectrum of the patch is kept).
* ``"translation"`` - integer shift of up to ``translation * side`` px in y and x,
  the uncovered border filled with zeros.
* ``"cutout"`` - one square of side ``cutout * side`` px set to zero.

Magnitudes are multiplied by ``strength``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ..exceptions import ConfigError
from ._rng import uniform

__all__ = ["AugmentConfig", "diff_augment", "input_holes"]

_POLICIES = ("color", "translation", "cutout")


@dataclass(frozen=True)
class AugmentConfig:
    """Switches and magnitudes of :func:`diff_augment`.

    Examples
    --------
    >>> AugmentConfig(strength=0.5).scaled("translation")
    0.0625
    """

    enabled: bool = True  # apply DiffAugment before the discriminator
    policy: tuple[str, ...] = _POLICIES  # any of "color", "translation", "cutout"
    strength: float = 1.0  # multiplies every magnitude below
    brightness: float = 0.25  # max |offset| added to all bands (normalized units)
    saturation: float = 0.5  # spectral spread scaled by a factor in [1 - s, 1 + s]
    contrast: float = 0.5  # each band's spatial contrast scaled by a factor in [1 - c, 1 + c]
    translation: float = 0.125  # max shift as a fraction of the patch side
    cutout: float = 0.5  # side of the zeroed square as a fraction of the patch side

    def __post_init__(self) -> None:

        unknown = [p for p in self.policy if p not in _POLICIES]
        if unknown:
            raise ConfigError(f"unknown DiffAugment policy {unknown}; expected any of {_POLICIES}")
        object.__setattr__(self, "policy", tuple(self.policy))

    def scaled(self, name: str) -> float:
        """Magnitude ``name`` times ``strength``."""
        return float(getattr(self, name)) * self.strength

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-able)."""
        d = dataclasses.asdict(self)
        d["policy"] = list(self.policy)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AugmentConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        if "policy" in d:
            d["policy"] = tuple(d["policy"])
        return cls(**d)


def _color(x: jax.Array, u: jax.Array, cfg: AugmentConfig) -> jax.Array:
    b, s, c = cfg.scaled("brightness"), cfg.scaled("saturation"), cfg.scaled("contrast")
    x = x + (2.0 * u[0] - 1.0) * b
    spectral_mean = jnp.mean(x, axis=-1, keepdims=True)
    x = (x - spectral_mean) * (1.0 + (2.0 * u[1] - 1.0) * s) + spectral_mean
    band_mean = jnp.mean(x, axis=(0, 1), keepdims=True)
    return (x - band_mean) * (1.0 + (2.0 * u[2] - 1.0) * c) + band_mean


def _randint(u: jax.Array, low: int, high: int) -> jax.Array:
    """Integer in ``[low, high)`` from a uniform number in ``[0, 1)``."""
    return jnp.minimum(low + jnp.floor(u * (high - low)).astype(jnp.int32), high - 1)


def _translate(x: jax.Array, u: jax.Array, cfg: AugmentConfig) -> jax.Array:
    h, w, _ = x.shape
    th = int(h * cfg.scaled("translation") + 0.5)
    tw = int(w * cfg.scaled("translation") + 0.5)
    if th == 0 and tw == 0:
        return x
    dy = _randint(u[0], -th, th + 1)
    dx = _randint(u[1], -tw, tw + 1)
    padded = jnp.pad(x, ((th, th), (tw, tw), (0, 0)))
    # output[i, j] = x[i - dy, j - dx], zero outside
    return lax.dynamic_slice(padded, (th - dy, tw - dx, 0), x.shape)


def _cutout(x: jax.Array, u: jax.Array, cfg: AugmentConfig) -> jax.Array:
    h, w, _ = x.shape
    ch = int(h * cfg.scaled("cutout") + 0.5)
    cw = int(w * cfg.scaled("cutout") + 0.5)
    if ch == 0 or cw == 0:
        return x
    y0 = _randint(u[0], 0, h + (1 - ch % 2)) - ch // 2
    x0 = _randint(u[1], 0, w + (1 - cw % 2)) - cw // 2
    rows = jnp.arange(h)
    cols = jnp.arange(w)
    inside = ((rows >= y0) & (rows < y0 + ch))[:, None] & ((cols >= x0) & (cols < x0 + cw))[None, :]
    return jnp.where(inside[..., None], jnp.zeros_like(x), x)


def diff_augment(x: jax.Array, keys: jax.Array, cfg: AugmentConfig = AugmentConfig()) -> jax.Array:
    """Augment a batch ``(N, H, W, C)`` with one PRNG key per sample (``keys`` of length N).

    The same ``keys`` give the same transform whatever the images and their number
    of bands (the geometric draws do not depend on ``C``). Returns ``x`` unchanged
    when ``cfg.enabled`` is false.

    Examples
    --------
    >>> keys = jax.random.split(jax.random.PRNGKey(0), 2)
    >>> real, fake = jnp.ones((2, 8, 8, 6)), jnp.zeros((2, 8, 8, 6))
    >>> a, b = diff_augment(real, keys), diff_augment(fake, keys)
    >>> a.shape == b.shape == (2, 8, 8, 6)
    True
    """
    if not cfg.enabled or not cfg.policy:
        return x

    def one(key: jax.Array, xi: jax.Array) -> jax.Array:
        u = uniform(key, (7,))  # 3 colour factors, 2 shifts, 2 cutout corners
        if "color" in cfg.policy:
            xi = _color(xi, u[0:3], cfg)
        if "translation" in cfg.policy:
            xi = _translate(xi, u[3:5], cfg)
        if "cutout" in cfg.policy:
            xi = _cutout(xi, u[5:7], cfg)
        return xi

    return jax.vmap(one)(keys, x)


def input_holes(
    x10: jax.Array, x20: jax.Array, keys: jax.Array, probability: float, max_side: float = 0.5
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Masked-out (cloud-like) rectangles in the generator's inputs, for training.

    At inference :func:`xharm.to_landsat` with a ``valid`` mask hands the generator
    cloudy and shadowed input pixels as normalized zeros (the band mean); a model
    trained on clear patches only has never seen such holes and disturbs the clear
    pixels around them. With probability ``probability`` per patch, one rectangle of
    random position and sides up to ``max_side`` of the patch is set to zero in both
    inputs, on the same ground area (aligned to the 30 m grid). Returns the two inputs
    and ``keep`` ``(N, P, P)``, 1 outside the hole on the 30 m output grid: losses are
    taken there only, so the model learns to leave the surroundings of a hole
    undisturbed rather than to invent what is under it.

    Examples
    --------
    >>> keys = jax.random.split(jax.random.PRNGKey(0), 3)
    >>> x10, x20 = jnp.ones((3, 48, 48, 4)), jnp.ones((3, 24, 24, 2))
    >>> a, b, keep = input_holes(x10, x20, keys, probability=1.0)
    >>> keep.shape, bool((keep.sum((1, 2)) < 16 * 16).all())
    ((3, 16, 16), True)
    """
    p30 = x10.shape[1] // 3

    def one(key: jax.Array) -> jax.Array:
        u = uniform(key, (5,))
        hi = max(1, int(p30 * max_side))
        hh, hw = _randint(u[0], 1, hi + 1), _randint(u[1], 1, hi + 1)
        y0, x0 = _randint(u[2], 0, p30) - hh // 2, _randint(u[3], 0, p30) - hw // 2
        rows, cols = jnp.arange(p30), jnp.arange(p30)
        hole = ((rows >= y0) & (rows < y0 + hh))[:, None] & ((cols >= x0) & (cols < x0 + hw))[None, :]
        return hole & (u[4] < probability)

    hole30 = jax.vmap(one)(keys)  # (N, P, P) at 30 m

    def at(scale_num: int, scale_den: int, side: int) -> jax.Array:
        idx = (jnp.arange(side) * scale_den) // scale_num  # fine pixel -> 30 m pixel it lies in
        return hole30[:, idx][:, :, idx]

    h10 = at(3, 1, x10.shape[1])
    h20 = at(3, 2, x20.shape[1])
    x10 = jnp.where(h10[..., None], jnp.zeros_like(x10), x10)
    x20 = jnp.where(h20[..., None], jnp.zeros_like(x20), x20)
    return x10, x20, (~hole30).astype(x10.dtype)
