"""Small NumPy ``PredictFn``s for engine tests (imported by tests and, via FunctionHandle, by workers).

All are exact per pixel or local (receptive field of 2 output px), so tiling must not
change their result. ``make(kind, **kw)`` is the factory a ``FunctionHandle`` names.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

LOADS = 0  # how many times this process built a model through make()


def identity(group: str):
    """Copy one group."""
    return lambda b: np.array(b[group], dtype=np.float32)


def linear(group: str, seed: int = 0, n_out: int = 6):
    """A fixed per-pixel linear map, summed in a fixed order (bitwise reproducible)."""
    rng = np.random.default_rng(seed)

    def fn(b: Mapping[str, np.ndarray]) -> np.ndarray:
        x = b[group]
        m = rng_m[: x.shape[-1]]
        out = np.zeros((*x.shape[:-1], n_out), np.float32) + c
        for k in range(x.shape[-1]):
            out += x[..., k : k + 1] * m[k]
        return out

    rng_m = rng.normal(size=(16, n_out)).astype(np.float32)
    c = rng.normal(size=n_out).astype(np.float32)
    return fn


def _nearest20(x20: np.ndarray, h: int, w: int) -> np.ndarray:
    """20 m -> 30 m nearest neighbour: 30 m pixel i has its centre in 20 m pixel floor(1.5 i + 0.75)."""
    iy = (np.arange(h) * 3 + 1) // 2
    ix = (np.arange(w) * 3 + 1) // 2
    return x20[:, iy][:, :, ix]


def _mean3(x: np.ndarray) -> np.ndarray:
    """3x3 block mean, summed in a fixed order (NumPy's pairwise mean depends on the layout)."""
    acc = np.zeros_like(x[:, ::3, ::3])
    for dy in range(3):
        for dx in range(3):
            acc += x[:, dy::3, dx::3]
    return acc / np.float32(9)


def pool(g10: str = "s2_10m", g20: str = "s2_20m"):
    """3x3 average of the 10 m bands to 30 m, plus the 20 m bands by nearest neighbour."""

    def fn(b: Mapping[str, np.ndarray]) -> np.ndarray:
        x = b[g10]
        return np.concatenate([_mean3(x), _nearest20(b[g20], *_mean3(x).shape[1:3])], axis=-1)

    return fn


def _conv3(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """3x3 'same' convolution with zero padding, (N, H, W, C) x (3, 3, C, K)."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    h, w = x.shape[1:3]
    out = np.zeros((*x.shape[:3], k.shape[-1]), np.float32)
    for dy in range(3):
        for dx in range(3):
            out += xp[:, dy : dy + h, dx : dx + w] @ k[dy, dx]
    return out


def conv(seed: int = 0, width: int = 8, g10: str = "s2_10m", g20: str = "s2_20m", n_out: int = 6):
    """A random bias-free conv net: 10 m conv+tanh -> 3x3 mean -> concat 20 m -> conv+tanh.

    Receptive field: < 2 output px. Zero input gives zero activations everywhere, so zero
    padding at the image edge is the same inside and outside a patch.
    """
    rng = np.random.default_rng(seed)
    k1 = (rng.normal(size=(3, 3, 4, width)) / 6).astype(np.float32)
    k2 = (rng.normal(size=(3, 3, width + 2, n_out)) / 6).astype(np.float32)

    def fn(b: Mapping[str, np.ndarray]) -> np.ndarray:
        x = np.tanh(_conv3(b[g10], k1))
        p = _mean3(x)
        z = np.concatenate([p, _nearest20(b[g20], *p.shape[1:3])], axis=-1)
        return np.tanh(_conv3(z, k2)).astype(np.float32)

    return fn


def slow(inner: str = "pool", delay: float = 0.05, **kw):
    """Any of the above, sleeping ``delay`` s per call (for kill/resume tests)."""
    fn = _KINDS[inner](**kw)

    def wrapped(b: Mapping[str, np.ndarray]) -> np.ndarray:
        time.sleep(delay)
        return fn(b)

    return wrapped


def make(kind: str, **kw):
    """Factory for ``FunctionHandle("patch_models:make", (("kind", ...), ...))``."""
    global LOADS
    LOADS += 1
    return _KINDS[kind](**kw)


_KINDS = {"identity": identity, "linear": linear, "pool": pool, "conv": conv, "slow": slow}
