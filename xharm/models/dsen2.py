"""DSen2: Sentinel-2 20 m -> 10 m and 60 m -> 10 m band sharpening (Lanaras et al. 2018).

Lanaras, Bioucas-Dias, Galliani, Baltsavias, Schindler (2018), "Super-resolution of
Sentinel-2 images: learning a globally applicable deep neural network", ISPRS J.
Photogramm. Remote Sens. 146, 305-319 (code: ``lanha/DSen2``). The network:

* the coarse bands are upsampled to 10 m (bilinear) and concatenated with the 10 m
  guide bands (and, for the 60 m network, the upsampled 20 m bands);
* one 3x3 convolution + ReLU to ``features`` channels, then ``blocks`` residual blocks
  (conv 3x3, ReLU, conv 3x3, scaled by ``residual_scale`` = 0.1, added to the block input);
* a last 3x3 convolution to the coarse bands' channel count, **added to the upsampled
  coarse input** (the network learns only the missing high-frequency detail).

``anchor="hpf"`` (this project's variant, used by the bundled starter) adds the residual to
the classical high-pass detail injection instead (:func:`xharm.sharpening.classic.hpf`, a
per-date regression of each coarse band on the 10 m bands plus their high-pass detail),
given as one more input group ``physics`` and also fed to the first convolution. The last
convolution starts at zero, so an untrained network *is* the classical method, and
``bound`` caps the correction (``bound * tanh(r / bound)``): on inputs unlike its training
data the output stays within ``bound`` of the physical estimate.

The paper's sizes: DSen2 ``blocks=6, features=128``; the very deep VDSen2
``blocks=32, features=256`` (the defaults of ``s2model`` in the reference code).
:meth:`DSen2Config.preset("small")` is a CPU preset for the bundled starter and tests.

Inputs are native-resolution patches (``{"s2_10m": (N, P, P, 4), "s2_20m": (N, P/2, P/2, 6)}``,
plus ``"s2_60m": (N, P/6, P/6, 2)`` for the 60 m network), normalized by the model's
``ModelSpec``; upsampling happens inside the network, so the engine hands it the
observed pixels and never resamples first. Pure JAX/Flax: no xarray or Dask here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ..exceptions import describe
from ..spec import ANCHOR_GROUP, S2_10M_GUIDE, S2_20M_SHARP, S2_60M_SHARP
from .mgan import ConfigError

__all__ = [
    "ANCHORS",
    "S2_10M_GUIDE",
    "S2_20M_SHARP",
    "S2_60M_SHARP",
    "DSen2",
    "DSen2Config",
    "upsample",
]


#: Anchors of the residual: the paper's bilinear upsampling of the coarse band, or the
#: classical high-pass injection (:func:`xharm.sharpening.classic.hpf`), fed as input group
#: ``ANCHOR_GROUP`` (``"physics"``, as the anchored MGAN's) on the 10 m grid, computed
#: outside the network per date.
ANCHORS = ("bilinear", "hpf")
_HE = nn.initializers.he_uniform()  # the reference code's kernel initializer
_Conv = functools.partial(nn.Conv, kernel_size=(3, 3), padding="SAME", kernel_init=_HE)


@dataclass(frozen=True)
class DSen2Config:
    """Size and bands of a DSen2 network.

    Examples
    --------
    >>> DSen2Config.preset("paper").blocks, DSen2Config.preset("paper").features
    (6, 128)
    >>> DSen2Config.preset("small", scale=6).input_shapes(48)
    {'s2_10m': (48, 48, 4), 's2_20m': (24, 24, 6), 's2_60m': (8, 8, 2)}
    """

    scale: int = 2  # 2: the 20 m -> 10 m network; 6: the 60 m -> 10 m network
    blocks: int = 6  # residual blocks (paper: DSen2 6, VDSen2 32)
    features: int = 128  # channels inside the network (paper: DSen2 128, VDSen2 256)
    residual_scale: float = 0.1  # factor on each residual block's output (paper: 0.1)
    guide_bands: tuple[str, ...] = S2_10M_GUIDE  # 10 m bands, in channel order
    bands_20m: tuple[str, ...] = S2_20M_SHARP  # 20 m bands (sharpened when scale=2, extra input when 6)
    bands_60m: tuple[str, ...] = S2_60M_SHARP  # 60 m bands (scale=6 only)
    anchor: str = "bilinear"  # what the residual is added to: "bilinear" (the paper) or "hpf"
    bound: float = 0.0  # anchor "hpf": |correction| <= bound (normalized units); 0 = unbounded

    def __post_init__(self) -> None:
        for name in ("guide_bands", "bands_20m", "bands_60m"):
            object.__setattr__(self, name, tuple(str(b) for b in getattr(self, name)))
        if self.scale not in (2, 6):
            raise ConfigError(
                describe("DSen2 scale must be 2 or 6", expected="2 (20 m) or 6 (60 m)", found=self.scale)
            )
        if self.anchor not in ANCHORS:
            raise ConfigError(
                describe("unknown DSen2 anchor", expected=", ".join(ANCHORS), found=self.anchor)
            )
        if self.bound < 0 or (self.bound and self.anchor != "hpf"):
            raise ConfigError(
                describe(
                    "DSen2 bound must be >= 0, and is for anchor='hpf' only",
                    found=(self.anchor, self.bound),
                )
            )
        if self.blocks < 0 or self.features < 1:
            raise ConfigError(
                describe("DSen2 needs blocks >= 0 and features >= 1", found=(self.blocks, self.features))
            )

    @classmethod
    def preset(cls, name: str, scale: int = 2) -> DSen2Config:
        """``"paper"`` (DSen2 as published: 6 blocks, 128 features), ``"very_deep"`` (VDSen2:
        32 x 256), ``"small"`` (the bundled CPU starter: 4 x 32) or ``"tiny"`` (tests: 1 x 8).

        Examples
        --------
        >>> DSen2Config.preset("paper").features
        128
        """
        sizes = {"paper": (6, 128), "very_deep": (32, 256), "small": (4, 32), "tiny": (1, 8)}
        if name not in sizes:
            raise ConfigError(describe(f"unknown DSen2 preset {name!r}", expected=sorted(sizes), found=name))
        blocks, features = sizes[name]
        return cls(scale=scale, blocks=blocks, features=features)

    @property
    def groups(self) -> tuple[str, ...]:
        """Input group names in the network's order (``"physics"`` last when anchored on HPF)."""
        native = ("s2_10m", "s2_20m") if self.scale == 2 else ("s2_10m", "s2_20m", "s2_60m")
        return (*native, ANCHOR_GROUP) if self.anchor == "hpf" else native

    @property
    def coarse_group(self) -> str:
        """The input group of the bands being sharpened."""
        return "s2_20m" if self.scale == 2 else "s2_60m"

    @property
    def out_bands(self) -> tuple[str, ...]:
        """The sharpened bands."""
        return self.bands_20m if self.scale == 2 else self.bands_60m

    def input_shapes(self, patch: int) -> dict[str, tuple[int, int, int]]:
        """``(H, W, C)`` of each input group for a 10 m patch side ``patch``."""
        if patch % self.scale:
            raise ConfigError(
                describe("patch must be a multiple of the scale", expected=self.scale, found=patch)
            )
        out = {
            "s2_10m": (patch, patch, len(self.guide_bands)),
            "s2_20m": (patch // 2, patch // 2, len(self.bands_20m)),
        }
        if self.scale == 6:
            out["s2_60m"] = (patch // 6, patch // 6, len(self.bands_60m))
        if self.anchor == "hpf":
            out[ANCHOR_GROUP] = (patch, patch, len(self.out_bands))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DSen2Config:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})  # type: ignore[arg-type]


def upsample(x: jax.Array, factor: int) -> jax.Array:
    """Bilinear upsampling of ``(N, H, W, C)`` by an integer factor on area-aligned grids.

    Examples
    --------
    >>> upsample(jnp.ones((1, 2, 2, 1)), 3).shape
    (1, 6, 6, 1)
    """
    n, h, w, c = x.shape
    return jax.image.resize(x, (n, h * factor, w * factor, c), method="linear")


class _ResBlock(nn.Module):
    features: int
    scale: float

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = nn.relu(_Conv(self.features)(x))
        return x + self.scale * _Conv(self.features)(y)


class DSen2(nn.Module):
    """The DSen2 network: ``(x10, x20[, x60])`` normalized patches -> sharpened ``(N, P, P, C)``.

    Examples
    --------
    >>> cfg = DSen2Config.preset("tiny")
    >>> s = cfg.input_shapes(16)
    >>> x = [jnp.zeros((1, *s[g])) for g in cfg.groups]
    >>> params = DSen2(cfg).init(jax.random.key(0), *x)["params"]
    >>> DSen2(cfg).apply({"params": params}, *x).shape
    (1, 16, 16, 6)
    """

    config: DSen2Config

    @nn.compact
    def __call__(self, x10: jax.Array, x20: jax.Array, *rest: jax.Array) -> jax.Array:
        cfg = self.config
        if len(rest) != len(cfg.groups) - 2:
            raise ConfigError(
                describe("wrong number of DSen2 inputs", expected=cfg.groups, found=2 + len(rest))
            )
        up20 = upsample(x20, 2)
        parts = [x10, up20]
        base = up20
        if cfg.scale == 6:
            base = upsample(rest[0], 6)
            parts.append(base)
        if cfg.anchor == "hpf":
            base = rest[-1]
            parts.append(base)
        h = nn.relu(_Conv(cfg.features)(jnp.concatenate(parts, axis=-1)))
        for _ in range(cfg.blocks):
            h = _ResBlock(cfg.features, cfg.residual_scale)(h)
        if cfg.anchor == "bilinear":
            return base + _Conv(base.shape[-1])(h)
        # anchored: starts as the physical estimate exactly (zero last layer), stays within the bound
        r = _Conv(base.shape[-1], kernel_init=nn.initializers.zeros)(h)
        return base + (cfg.bound * jnp.tanh(r / cfg.bound) if cfg.bound else r)
