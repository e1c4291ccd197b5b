"""Training configuration: a frozen dataclass with the paper's defaults.

Presets: ``"full"`` (the paper: pix2pix widths, 128 px, local batch 16, 100 epochs),
``"small"`` (a quarter of the widths, for two CPU cores: the starter model) and
``"tiny"`` (tests). Override fields with dotted ``key=value`` strings
(:meth:`TrainConfig.with_overrides`), e.g. ``"model.features=32"``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import ConfigError, describe
from ..models.augment import AugmentConfig
from ..models.mgan import MGANConfig

__all__ = ["TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (besides the data).

    Examples
    --------
    >>> cfg = TrainConfig.preset("tiny").with_overrides(["epochs=2", "model.features=4"])
    >>> cfg.epochs, cfg.model.features
    (2, 4)
    >>> TrainConfig.from_json(cfg.to_json()) == cfg
    True
    """

    model: MGANConfig = field(default_factory=MGANConfig)  # generator / discriminator sizes
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # DiffAugment before D
    learning_rate: float = 1e-4  # Adam base learning rate (G and D), per device
    scale_lr_with_devices: bool = True  # effective lr = learning_rate * devices (the paper)
    adam_b1: float = 0.5  # Adam beta1 (pix2pix; the paper does not state it)
    adam_b2: float = 0.999  # Adam beta2
    l1_weight: float = 100.0  # weight of the L1 term in the generator loss (pix2pix lambda)
    sam_weight: float = 0.0  # weight of a spectral-angle term (radians, reflectance units); 0: the paper
    input_holes: float = 0.0  # share of patches given a masked-out (cloud-like) input hole; 0: the paper
    local_batch: int = 16  # patches per device and step; global batch = devices * local_batch
    epochs: int = 100  # passes over the training patches
    max_steps: int | None = None  # stop after this many steps (None: epochs decide)
    devices: int | None = None  # local devices to use (None: all)
    seed: int = 0  # init, shuffling, dropout and augmentation
    prng: str = (
        "rbg"  # PRNG for parameter init: "rbg" (fast) or "threefry2x32"; per-patch streams use threefry
    )
    clip_percentiles: tuple[float, float] = (1.0, 99.0)  # per-band clip range of the normalization
    val_fraction: float = 0.1  # share of patches held out for validation metrics
    checkpoint_every: int = 500  # save a checkpoint every this many steps (and at the end)
    keep_checkpoints: int = 2  # checkpoints kept on disk
    progress: bool = True  # show a progress bar with the losses

    def __post_init__(self) -> None:
        object.__setattr__(self, "clip_percentiles", tuple(float(q) for q in self.clip_percentiles))
        q = self.clip_percentiles
        if len(q) != 2 or not 0.0 <= q[0] < q[1] <= 100.0:
            raise ConfigError(
                describe(
                    "clip_percentiles must be two percentiles 0 <= low < high <= 100",
                    found=self.clip_percentiles,
                    fix="e.g. clip_percentiles=[1,99] (the paper) or [0.1,99.9]",
                )
            )
        if not (self.l1_weight >= 0.0 and self.sam_weight >= 0.0):
            raise ConfigError(
                describe(
                    "loss weights must be >= 0",
                    found={"l1_weight": self.l1_weight, "sam_weight": self.sam_weight},
                )
            )
        if self.local_batch < 1 or self.epochs < 1 or self.checkpoint_every < 1:
            raise ConfigError(
                describe(
                    "local_batch, epochs and checkpoint_every must be >= 1",
                    found=(self.local_batch, self.epochs, self.checkpoint_every),
                )
            )
        if not 0.0 <= self.input_holes <= 1.0:
            raise ConfigError(describe("input_holes must be a share in [0, 1]", found=self.input_holes))
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(describe("val_fraction must be in [0, 1)", found=self.val_fraction))
        if self.prng not in ("threefry2x32", "rbg", "unsafe_rbg"):
            raise ConfigError(
                describe("unknown prng", expected="threefry2x32, rbg or unsafe_rbg", found=self.prng)
            )

    # ---------------------------------------------------------------- presets
    @classmethod
    def preset(cls, name: str) -> TrainConfig:
        """``"full"`` (paper), ``"small"`` (CPU size), ``"starter"`` or ``"tiny"`` (tests).

        ``"starter"`` is the recipe of the bundled ``mgan-starter`` (see
        ``docs/model_card.md``): the small preset with 32 first-block features, U-Net depth
        4, a 64 px output patch, B8A, B11, B12 at 20 m, **physics-anchored** (the output is
        ``method="hls_psf"`` plus a correction bounded at 0.05 reflectance), L1 1000 +
        spectral angle 200, input holes on half the patches, clip at the 0.1/99.9
        percentiles, checkpoints every 250 steps.
        """
        if name == "full":
            return cls()
        if name == "small":
            return cls(model=MGANConfig.small())
        if name == "starter":
            return cls.preset("small").with_overrides(
                ["model.patch30=64", "model.depth=4", "model.dropout_blocks=1", "model.features=32",
                 "model.anchor=true", "model.bound=0.05", 'model.output_activation="linear"',
                 'model.s2_20m_bands=["B8A", "B11", "B12"]', "model.bands_20m=3", "input_holes=0.5",
                 "local_batch=16", "checkpoint_every=250", "keep_checkpoints=20", "epochs=1000",
                 "l1_weight=1000", "sam_weight=200", "clip_percentiles=[0.1, 99.9]"]
            )  # fmt: skip
        if name == "tiny":
            return cls(model=MGANConfig.tiny(), local_batch=4, epochs=1, checkpoint_every=50, progress=False)
        raise ConfigError(
            describe(f"unknown preset {name!r}", expected="full, small, starter, tiny", found=name)
        )

    def learning_rate_for(self, devices: int) -> float:
        """Effective Adam learning rate on ``devices`` devices."""
        return self.learning_rate * (devices if self.scale_lr_with_devices else 1)

    # ---------------------------------------------------------------- (de)serialization
    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (JSON-able)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["model"] = self.model.to_dict()
        d["augment"] = self.augment.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        d = dict(d)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(describe("unknown TrainConfig fields", expected=sorted(names), found=unknown))
        if "model" in d and not isinstance(d["model"], MGANConfig):
            d["model"] = MGANConfig.from_dict(d["model"])
        if "augment" in d and not isinstance(d["augment"], AugmentConfig):
            d["augment"] = AugmentConfig.from_dict(d["augment"])
        return cls(**d)

    def to_json(self) -> str:
        """Deterministic JSON."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def with_overrides(self, items: Iterable[str]) -> TrainConfig:
        """A copy with dotted ``key=value`` overrides; values are parsed as JSON when they can be."""
        d = self.to_dict()
        for item in items:
            if "=" not in item:
                raise ConfigError(describe("override is not key=value", expected="e.g. epochs=5", found=item))
            key, raw = item.split("=", 1)
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
            target = d
            *parents, leaf = key.strip().split(".")
            for p in parents:
                if not isinstance(target.get(p), dict):
                    raise ConfigError(describe(f"unknown config section {p!r}", found=key))
                target = target[p]
            if leaf not in target:
                raise ConfigError(
                    describe(f"unknown config field {key!r}", expected=sorted(target), found=leaf)
                )
            target[leaf] = _typed(key, value, target[leaf])
        return TrainConfig.from_dict(d)


def _typed(key: str, value: Any, current: Any) -> Any:
    """``value`` checked against the type of the field's current value (int accepted for float)."""
    if current is None or value is None:
        return value
    if isinstance(current, str):  # text fields take the text as typed (e.g. a name "2021")
        return value if isinstance(value, str) else json.dumps(value)
    kinds: tuple[type, ...]
    if isinstance(current, bool):
        kinds = (bool,)
    elif isinstance(current, int | float):
        kinds = (int, float) if isinstance(current, float) else (int,)
    elif isinstance(current, list | tuple):
        kinds = (list,)
    else:
        kinds = (type(current),)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        raise ConfigError(
            describe(
                f"override {key}={json.dumps(value)} has the wrong type",
                expected=f"{' or '.join(k.__name__ for k in kinds)} (like the current {json.dumps(current)})",
                found=type(value).__name__,
                fix=f"e.g. --set {key}={json.dumps(current)}",
            )
        )
    return float(value) if isinstance(current, float) else value
