"""Model files: generator weights (msgpack) + ``spec.json`` (:class:`~xharm.spec.ModelSpec`).

A model directory holds

* ``weights.msgpack`` - the generator parameters, Flax msgpack (no pickle);
* ``spec.json`` - the ``ModelSpec`` (bands, resolutions, patch sizes, buffer,
  normalization stats), whose ``checksum`` is ``"sha256:<hex>"`` of the weights file,
  whose ``spec_checksum`` is the digest of the spec itself (:func:`~xharm.zoo.registry.spec_digest`)
  and whose ``meta`` holds the ``MGANConfig`` (``"mgan_config"``), the training
  config, a description of the training data and validation metrics.

:func:`load_model` verifies both checksums before decoding anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from ..exceptions import CorruptProductError, DimensionError, ProductNotFoundError, describe
from ..models.mgan import Generator, MGANConfig, apply_groups, init_generator
from ..spec import ModelSpec, NormStats, mgan_spec
from .registry import SPEC_CHECKSUM, read_spec, spec_digest

__all__ = ["SPEC_FILE", "WEIGHTS_FILE", "Predictor", "load_model", "save_model", "sha256_file"]

SPEC_FILE = "spec.json"
WEIGHTS_FILE = "weights.msgpack"


def sha256_file(path: str | Path) -> str:
    """``"sha256:<hex>"`` of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def save_model(
    directory: str | Path,
    g_params: Any,
    config: MGANConfig,
    *,
    norm: Mapping[str, NormStats] | None = None,
    version: str = "1",
    meta: Mapping[str, str] | None = None,
    dtype: str = "float32",
) -> ModelSpec:
    """Write generator weights and their spec to ``directory``; returns the spec.

    ``dtype="float16"`` stores the weights at half precision (half the file size, for
    bundled models); they are loaded back as float32, and ``meta["weights_dtype"]``
    records the choice.

    Examples
    --------
    >>> import tempfile
    >>> cfg = MGANConfig.tiny()
    >>> p = init_generator(cfg)
    >>> spec = save_model(tempfile.mkdtemp(), p, cfg)
    >>> spec.checksum.startswith("sha256:")
    True
    """
    if dtype not in ("float32", "float16"):
        raise DimensionError(
            describe("unsupported weights dtype", expected="float32 or float16", found=dtype)
        )
    # the config and dtype of *these* weights win over entries passed through from an older spec
    m = {
        **dict(meta or {}),
        "mgan_config": json.dumps(config.to_dict(), sort_keys=True),
        "weights_dtype": dtype,
    }
    if config.anchor:
        m["correction_bound"] = json.dumps(config.bound)
    if norm:  # the training range of each input band, physics included (the stats' clip percentiles)
        spec0 = config.spec()
        m["reflectance_range"] = json.dumps(
            {
                b: [round(lo, 4), round(hi, 4)]
                for g in spec0.inputs
                if g.name in norm
                for b, lo, hi in zip(norm[g.name].bands, norm[g.name].low, norm[g.name].high, strict=True)
            },
            sort_keys=True,
        )
    spec = mgan_spec(
        config.patch30,
        version=version,
        norm=dict(norm) if norm else None,
        bands_20m=config.s2_20m_bands,
        anchored=config.anchor,
    )
    return write_model_files(directory, g_params, ModelSpec(**{**_fields(spec), "meta": m}), dtype=dtype)


def write_model_files(
    directory: str | Path, params: Any, spec: ModelSpec, *, dtype: str = "float32"
) -> ModelSpec:
    """Write ``weights.msgpack`` and ``spec.json`` of any model: the one writer of model folders.

    The spec gets the weights' checksum, and ``spec.json`` its own digest
    (``spec_checksum``), so neither file can be edited without :func:`read_model_files`
    noticing. Returns the spec as written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tree = jax.tree_util.tree_map(
        lambda a: np.asarray(a, dtype=dtype), flax.serialization.to_state_dict(params)
    )
    weights = directory / WEIGHTS_FILE
    weights.write_bytes(flax.serialization.msgpack_serialize(tree))
    spec = ModelSpec(**{**_fields(spec), "checksum": sha256_file(weights)})
    d = spec.to_dict()
    d[SPEC_CHECKSUM] = spec_digest(d)
    (directory / SPEC_FILE).write_text(json.dumps(d, indent=1, sort_keys=True))
    return spec


def read_model_files(directory: str | Path, *, fits: Callable[[ModelSpec], Any]) -> tuple[ModelSpec, Any]:
    """``(spec, float32 params)`` of a model folder: the one reader of model folders.

    Both files must be there, ``spec.json`` must match its digest
    (:func:`~xharm.zoo.registry.read_spec`), the weights their checksum, and the parameter
    tree the shapes ``fits(spec)`` returns (a tree of shape tuples).

    Raises
    ------
    ProductNotFoundError, CorruptProductError
        A file is missing, edited, corrupt, or does not fit the model of its spec.
    """
    directory = Path(directory)
    spec_path, weights = directory / SPEC_FILE, directory / WEIGHTS_FILE
    for p in (spec_path, weights):
        if not p.is_file():
            raise ProductNotFoundError(
                describe(
                    f"model file {p} is missing", expected=f"{SPEC_FILE} and {WEIGHTS_FILE} in {directory}"
                )
            )
    spec = read_spec(directory)
    found = sha256_file(weights)
    if spec.checksum != found:
        raise CorruptProductError(
            describe(
                f"weights {weights} do not match the checksum in {spec_path}",
                expected=spec.checksum,
                found=found,
                fix="re-download or re-export the model; the file is corrupt or was replaced",
            )
        )
    try:
        raw = flax.serialization.msgpack_restore(weights.read_bytes())
    except Exception as err:  # msgpack raises several types
        raise CorruptProductError(describe(f"cannot decode {weights}: {err}")) from err
    shapes = fits(spec)
    got = jax.tree_util.tree_map(np.shape, raw)
    if str(jax.tree_util.tree_structure(shapes)) != str(
        jax.tree_util.tree_structure(got)
    ) or jax.tree_util.tree_leaves(shapes) != jax.tree_util.tree_leaves(got):
        raise CorruptProductError(
            describe(f"weights in {weights} do not fit the model of its spec ({spec.name})")
        )
    return spec, jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), raw)


def _fields(spec: ModelSpec) -> dict[str, Any]:
    return {k: getattr(spec, k) for k in spec.__dataclass_fields__}


def load_model(directory: str | Path) -> tuple[ModelSpec, Any, MGANConfig]:
    """Read ``(spec, generator params, config)`` from a model directory, checksums verified."""

    def fits(spec: ModelSpec) -> Any:
        meta = dict(spec.meta)
        if "mgan_config" not in meta:
            raise CorruptProductError(describe(f"{directory} spec.json lacks meta 'mgan_config'"))
        return _param_shapes(MGANConfig.from_dict(json.loads(meta["mgan_config"])))

    spec, params = read_model_files(directory, fits=fits)
    return spec, params, MGANConfig.from_dict(json.loads(dict(spec.meta)["mgan_config"]))


def batch_inputs(
    spec: ModelSpec, batch: Mapping[str, np.ndarray], *, shapes: bool = True
) -> list[np.ndarray]:
    """The input groups of ``spec`` from a ``PredictFn`` batch, float32, in the spec's order.

    Raises :class:`~xharm.exceptions.DimensionError` for a missing group and, with
    ``shapes``, for arrays that are not ``(N, patch, patch, bands)`` with one ``N``.
    """
    arrays: list[np.ndarray] = []
    for g in spec.inputs:
        if g.name not in batch:
            raise DimensionError(
                describe(
                    f"input group {g.name!r} missing",
                    expected=[i.name for i in spec.inputs],
                    found=sorted(batch),
                )
            )
        a = np.asarray(batch[g.name], dtype=np.float32)
        want = (g.patch, g.patch, g.n_bands)
        if shapes and (a.ndim != 4 or a.shape[1:] != want or (arrays and a.shape[0] != arrays[0].shape[0])):
            raise DimensionError(
                describe(
                    f"input group {g.name!r} has the wrong shape",
                    expected=f"(N, {want[0]}, {want[1]}, {want[2]})",
                    found=a.shape,
                )
            )
        arrays.append(a)
    return arrays


def _param_shapes(config: MGANConfig) -> Any:
    abstract = jax.eval_shape(lambda: init_generator(config))
    return jax.tree_util.tree_map(lambda a: tuple(a.shape), flax.serialization.to_state_dict(abstract))


class Predictor:
    """The generator as a :class:`~xharm.spec.PredictFn` (normalized groups in, normalized ``l8`` out).

    Inputs and output are in the model's normalized units; ``xharm.engine.apply`` normalizes
    and denormalizes with ``spec.norm``. With ``mc_dropout=True`` each call samples
    new dropout masks (keys from ``seed``, a call counter and the patch index), or
    from an explicit ``key``.

    Examples
    --------
    >>> import tempfile
    >>> cfg = MGANConfig.tiny()
    >>> p = init_generator(cfg)
    >>> pred = Predictor(mgan_spec(32), p, cfg)
    >>> pred({"s2_10m": np.zeros((2, 96, 96, 4), np.float32),
    ...       "s2_20m": np.zeros((2, 48, 48, 2), np.float32)}).shape
    (2, 32, 32, 6)
    """

    def __init__(
        self, spec: ModelSpec, params: Any, config: MGANConfig, *, mc_dropout: bool = False, seed: int = 0
    ) -> None:
        self.spec, self.params, self.config = spec, params, config
        self.mc_dropout = mc_dropout
        self._key = jax.random.key(seed)
        self._calls = 0
        gen = Generator(config)
        self._det = jax.jit(lambda p, xs: apply_groups(gen, p, xs))
        self._mc = jax.jit(lambda p, xs, k: apply_groups(gen, p, xs, k))

    def __call__(self, batch: Mapping[str, np.ndarray], /, key: jax.Array | None = None) -> np.ndarray:
        xs = batch_inputs(self.spec, batch)
        if not self.mc_dropout and key is None:
            return np.asarray(self._det(self.params, xs), dtype=np.float32)
        if key is None:
            key = jax.random.fold_in(self._key, self._calls)
            self._calls += 1
        keys = jax.random.split(key, xs[0].shape[0])
        return np.asarray(self._mc(self.params, xs, keys), dtype=np.float32)
