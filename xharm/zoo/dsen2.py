"""DSen2 model files: weights (Flax msgpack) + ``spec.json`` with checksum, and the ``PredictFn``.

Same layout as :mod:`xharm.zoo.io` (``weights.msgpack`` + ``spec.json``; the spec's
``checksum`` is the sha256 of the weights and is verified before anything is decoded);
the spec's ``meta`` holds ``"dsen2_config"`` instead of ``"mgan_config"``, and the
``ModelSpec`` is :func:`dsen2_spec`: input groups ``s2_10m`` / ``s2_20m`` (/ ``s2_60m``) at
their native resolutions (and ``physics`` at 10 m for HPF-anchored networks), output group
``s2_sharp`` at 10 m.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from ..exceptions import CorruptProductError, DimensionError, describe
from ..models.dsen2 import DSen2, DSen2Config
from ..spec import ANCHOR_GROUP, InputGroup, ModelSpec, NormStats, OutputGroup
from .io import batch_inputs, read_model_files, write_model_files

__all__ = ["DSen2Predictor", "dsen2_spec", "init_params", "is_dsen2", "load_dsen2", "save_dsen2"]

#: DSen2's input scaling: reflectance x 10000 / 2000, i.e. reflectance / 0.2 (Lanaras et al. 2018).
REFLECTANCE_SCALE = 0.2


def dsen2_spec(
    config: DSen2Config,
    patch: int = 128,
    *,
    buffer: float = 0.125,
    level: str = "L1C",
    version: str = "1",
    checksum: str | None = None,
    meta: Mapping[str, str] | None = None,
) -> ModelSpec:
    """The :class:`~xharm.spec.ModelSpec` of a DSen2 network for 10 m patches of side ``patch``.

    Normalization is DSen2's (reflectance / 0.2, no centring), so the model's residual
    is added in reflectance units / 0.2. ``level`` ("L1C" or "L2A") is the processing
    level the weights were trained on; :func:`xharm.sharpening.api.sharpen` refuses the other.

    Examples
    --------
    >>> s = dsen2_spec(DSen2Config.preset("small"))
    >>> [(g.name, g.patch) for g in s.groups]
    [('s2_10m', 128), ('s2_20m', 64), ('s2_sharp', 128)]
    """
    q = 6 if config.scale == 6 else 2
    if patch % q or round(buffer * patch) % q:
        raise DimensionError(
            describe(
                "DSen2 patch and buffer must be whole coarse pixels",
                expected=f"multiples of {q} px at 10 m",
                found=f"patch {patch}, buffer {buffer * patch:g}",
            )
        )
    groups = [
        InputGroup("s2_10m", config.guide_bands, 10.0, patch),
        InputGroup("s2_20m", config.bands_20m, 20.0, patch // 2),
    ]
    if config.scale == 6:
        groups.append(InputGroup("s2_60m", config.bands_60m, 60.0, patch // 6))
    if config.anchor == "hpf":  # the classical estimate the residual is added to, at 10 m
        groups.append(InputGroup(ANCHOR_GROUP, config.out_bands, 10.0, patch))
    out = OutputGroup("s2_sharp", config.out_bands, 10.0, patch)

    def stats(bands: tuple[str, ...]) -> NormStats:
        n = len(bands)
        return NormStats(bands, (-1.0,) * n, (10.0,) * n, (0.0,) * n, (REFLECTANCE_SCALE,) * n)

    norm = {g.name: stats(g.bands) for g in groups}
    norm["s2_sharp"] = stats(out.bands)
    m = {
        **dict(meta or {}),
        "dsen2_config": json.dumps(config.to_dict(), sort_keys=True),
        "processing_level": level,
    }
    return ModelSpec(
        name="dsen2" if config.scale == 2 else "dsen2-60m",
        version=version,
        inputs=tuple(groups),
        output=out,
        buffer=buffer,
        norm=norm,
        sensor_in="sentinel-2",
        sensor_out="sentinel-2",
        checksum=checksum,
        meta=tuple(sorted(m.items())),
    )


def is_dsen2(spec: ModelSpec) -> bool:
    """Whether ``spec`` describes a DSen2 network."""
    return "dsen2_config" in dict(spec.meta)


def init_params(config: DSen2Config, patch: int = 48, seed: int = 0) -> Any:
    """Fresh parameters of the network (He-uniform init, as the reference code)."""
    s = config.input_shapes(patch)
    xs = [jnp.zeros((1, *s[g])) for g in config.groups]
    return DSen2(config).init(jax.random.key(seed), *xs)["params"]


def save_dsen2(
    directory: str | Path,
    params: Any,
    config: DSen2Config,
    *,
    patch: int = 128,
    buffer: float = 0.125,
    level: str = "L1C",
    version: str = "1",
    meta: Mapping[str, str] | None = None,
) -> ModelSpec:
    """Write weights and spec (with checksum) to ``directory``; returns the spec.

    Examples
    --------
    >>> import tempfile
    >>> cfg = DSen2Config.preset("tiny")
    >>> spec = save_dsen2(tempfile.mkdtemp(), init_params(cfg), cfg, patch=32)
    >>> spec.checksum.startswith("sha256:"), spec.name
    (True, 'dsen2')
    """
    spec = dsen2_spec(config, patch, buffer=buffer, level=level, version=version, meta=meta)
    return write_model_files(directory, params, spec)


def load_dsen2(directory: str | Path) -> tuple[ModelSpec, Any, DSen2Config]:
    """``(spec, params, config)`` of a DSen2 model folder, checksums and shapes verified."""

    def fits(spec: ModelSpec) -> Any:
        if not is_dsen2(spec):
            raise CorruptProductError(
                describe(f"{directory} is not a DSen2 model", expected="meta 'dsen2_config'", found=spec.name)
            )
        config = DSen2Config.from_dict(json.loads(dict(spec.meta)["dsen2_config"]))
        abstract = jax.eval_shape(lambda: init_params(config))
        return jax.tree_util.tree_map(lambda a: tuple(a.shape), flax.serialization.to_state_dict(abstract))

    spec, params = read_model_files(directory, fits=fits)
    return spec, params, DSen2Config.from_dict(json.loads(dict(spec.meta)["dsen2_config"]))


class DSen2Predictor:
    """The network as a :class:`~xharm.spec.PredictFn` (normalized groups in and out), jitted.

    Examples
    --------
    >>> cfg = DSen2Config.preset("tiny")
    >>> pred = DSen2Predictor(dsen2_spec(cfg, 32), init_params(cfg), cfg)
    >>> z = lambda *s: np.zeros(s, np.float32)
    >>> batch = {"s2_10m": z(2, 32, 32, 4), "s2_20m": z(2, 16, 16, 6)}
    >>> pred(batch).shape
    (2, 32, 32, 6)
    """

    def __init__(self, spec: ModelSpec, params: Any, config: DSen2Config) -> None:
        self.spec, self.params, self.config = spec, params, config
        net = DSen2(config)
        self._fn = jax.jit(lambda p, *xs: net.apply({"params": p}, *xs))

    def __call__(self, batch: Mapping[str, np.ndarray], /) -> np.ndarray:
        xs = [jnp.asarray(a) for a in batch_inputs(self.spec, batch, shapes=False)]
        return np.asarray(self._fn(self.params, *xs), dtype=np.float32)
