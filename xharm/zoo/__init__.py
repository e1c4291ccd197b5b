"""Model zoo: save, find and load trained generators as ``PredictFn`` s.

Examples
--------
>>> from xharm import zoo
>>> spec, predict = zoo.load("runs/tiny/model")  # doctest: +SKIP
>>> predict({"s2_10m": x10, "s2_20m": x20}).shape  # doctest: +SKIP
(16, 128, 128, 6)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import ArgumentError, CorruptProductError, describe
from ..spec import ModelSpec
from .io import Predictor, load_model, save_model, sha256_file
from .registry import DEFAULT_MODEL, WEIGHTS_DIR, available, read_spec, resolve

__all__ = [
    "DEFAULT_MODEL",
    "WEIGHTS_DIR",
    "Predictor",
    "ZooHandle",
    "available",
    "load",
    "load_model",
    "open_model",
    "read_spec",
    "resolve",
    "save_model",
    "sha256_file",
]


def load(name_or_path: str | Path, *, mc_dropout: bool = False, seed: int = 0) -> tuple[ModelSpec, Predictor]:
    """``(spec, predict_fn)`` of a bundled model name or a model folder; the checksum is verified.

    ``predict_fn`` maps ``{"s2_10m": (N, 3P, 3P, 4), "s2_20m": (N, 1.5P, 1.5P, 2)}``
    (normalized float32) to normalized ``(N, P, P, 6)`` L8 bands, jitted. With
    ``mc_dropout=True`` every call samples dropout masks (Monte-Carlo dropout).
    """
    spec, params, config = load_model(resolve(name_or_path))
    return spec, Predictor(spec, params, config, mc_dropout=mc_dropout, seed=seed)


@dataclass(frozen=True)
class ZooHandle:
    """A :class:`~xharm.spec.ModelHandle` for Dask graphs: a model name/path and its checksum.

    ``load()`` returns the ``PredictFn``; the checksum pins the exact weights, so the
    handle's hash and Dask token change when the file does.
    """

    name_or_path: str
    checksum: str | None = None
    mc_dropout: bool = False
    seed: int = 0

    @classmethod
    def of(cls, name_or_path: str | Path, **kwargs: object) -> ZooHandle:
        """A handle with the checksum read from the model's spec."""
        return open_model(name_or_path, **kwargs)[0]

    def load(self) -> Predictor:
        spec, predict = load(self.name_or_path, mc_dropout=self.mc_dropout, seed=self.seed)
        if self.checksum is not None and spec.checksum != self.checksum:
            raise CorruptProductError(
                describe(f"model {self.name_or_path} changed", expected=self.checksum, found=spec.checksum)
            )
        return predict

    def __dask_tokenize__(self) -> tuple[object, ...]:
        return ("xharm.ZooHandle", self.name_or_path, self.checksum, self.mc_dropout, self.seed)


def open_model(model: Any = None, **kwargs: object) -> tuple[ZooHandle, ModelSpec]:
    """The one place a ``model=`` argument is resolved: ``(handle, spec)``, the spec read once.

    Parameters
    ----------
    model
        A bundled model name, a model folder, a :class:`ZooHandle`, or None for
        :data:`DEFAULT_MODEL`.
    **kwargs
        Further :class:`ZooHandle` fields (``mc_dropout``, ``seed``) for a name or folder.

    Raises
    ------
    ArgumentError
        ``model`` is of another type.
    ProductNotFoundError, CorruptProductError
        No such model, or its files do not match their checksums.

    Examples
    --------
    >>> handle, spec = open_model()
    >>> spec.name, handle.checksum == spec.checksum
    ('mgan', True)
    """
    if isinstance(model, ZooHandle):
        return model, read_spec(resolve(model.name_or_path))
    if model is not None and not isinstance(model, str | os.PathLike):
        raise ArgumentError(
            describe(
                "model must name a model",
                expected="a bundled model name, a model folder or a xharm.zoo.ZooHandle",
                found=f"{type(model).__name__} {model!r}",
                fix=f"model='{DEFAULT_MODEL}' or model='runs/x/model'",
            )
        )
    folder = resolve(os.fspath(model if model is not None else DEFAULT_MODEL))
    spec = read_spec(folder)
    return ZooHandle(str(folder), spec.checksum, **kwargs), spec  # type: ignore[arg-type]
