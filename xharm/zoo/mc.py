"""Monte-Carlo dropout whose masks depend on each patch, not on how patches are batched.

:class:`~xharm.zoo.io.Predictor` with ``mc_dropout=True`` draws new masks per call (keys
from a call counter), so the same pixel gets other samples when the cube is chunked
differently or computed twice. For an uncertainty layer that is reproducible and equal
chunked or not, :class:`MCDropoutHandle` keys each patch's dropout masks on the
sample ``seed`` and a hash of the patch's own input values: patches are cut on a global
grid (see :mod:`xharm.engine.tiling`), so a patch has the same values, hence the same masks,
whatever the chunking, the batch it lands in or the worker that runs it.

Pure JAX/NumPy: no xarray or Dask here (:mod:`xharm.uncertainty` is the xarray side).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..models.mgan import Generator, apply_groups
from . import ZooHandle
from .io import Predictor

__all__ = ["MCDropout", "MCDropoutHandle", "patch_hashes"]

_LOADED: dict[tuple[str, str | None], tuple[Predictor, Any]] = {}
_LOCK = threading.Lock()


def patch_hashes(*arrays: np.ndarray) -> np.ndarray:
    """``(N, 2)`` uint32: a 64-bit BLAKE2b digest of each patch's bytes across ``arrays``.

    Examples
    --------
    >>> a = np.zeros((3, 4, 4, 1), np.float32)
    >>> a[1] = 1.0
    >>> h = patch_hashes(a)
    >>> h.shape, bool((h[0] == h[2]).all()), bool((h[0] != h[1]).any())
    ((3, 2), True, True)
    """
    n = arrays[0].shape[0]
    out = np.empty((n, 2), dtype=np.uint32)
    for i in range(n):
        h = hashlib.blake2b(digest_size=8)
        for a in arrays:
            h.update(np.ascontiguousarray(a[i]).tobytes())
        out[i] = np.frombuffer(h.digest(), dtype=np.uint32)
    return out


def _loaded(name_or_path: str, checksum: str | None) -> tuple[Predictor, Any]:
    """The deterministic predictor and a jitted dropout-on generator, once per process."""
    key = (name_or_path, checksum)
    got = _LOADED.get(key)
    if got is None:
        with _LOCK:
            got = _LOADED.get(key)
            if got is None:
                predictor = ZooHandle(name_or_path, checksum).load()
                gen = Generator(predictor.config)
                fn = jax.jit(lambda p, xs, k: apply_groups(gen, p, xs, k))
                got = _LOADED[key] = (predictor, fn)
    return got


class MCDropout:
    """A ``PredictFn`` drawing one Monte-Carlo dropout sample per patch, keyed on its content.

    The key of patch ``n`` is ``fold_in(fold_in(key(seed), h0), h1)`` with ``(h0, h1)``
    the patch's :func:`patch_hashes`: same seed and same patch values, same sample.
    """

    def __init__(self, predictor: Predictor, jitted: Any, seed: int) -> None:
        self.predictor, self._fn, self.seed = predictor, jitted, int(seed)
        self._key = jax.random.key(self.seed)
        self._keys = jax.jit(
            jax.vmap(lambda k, h: jax.random.fold_in(jax.random.fold_in(k, h[0]), h[1]), in_axes=(None, 0))
        )

    def __call__(self, batch: Mapping[str, np.ndarray], /) -> np.ndarray:
        names = [g.name for g in self.predictor.spec.inputs]
        arrays = [np.ascontiguousarray(batch[n], dtype=np.float32) for n in names]
        keys = self._keys(self._key, jnp.asarray(patch_hashes(*arrays)))
        return np.asarray(self._fn(self.predictor.params, arrays, keys), dtype=np.float32)


@dataclass(frozen=True)
class MCDropoutHandle:
    """A :class:`~xharm.spec.ModelHandle` for one Monte-Carlo dropout sample of a zoo model.

    Distinct ``seed`` s give distinct samples and distinct Dask tokens; weights are
    loaded (checksum verified) and compiled once per process for all seeds.

    Examples
    --------
    >>> h = MCDropoutHandle("runs/tiny/model", None, seed=3)
    >>> h == MCDropoutHandle("runs/tiny/model", None, seed=3) != MCDropoutHandle("runs/tiny/model", None, 4)
    True
    """

    name_or_path: str
    checksum: str | None = None
    seed: int = 0

    def load(self) -> MCDropout:
        predictor, fn = _loaded(self.name_or_path, self.checksum)
        return MCDropout(predictor, fn, self.seed)

    def __dask_tokenize__(self) -> tuple[object, ...]:
        return ("xharm.MCDropoutHandle", self.name_or_path, self.checksum, self.seed)
