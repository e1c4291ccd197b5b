"""A closed-form start for the MGAN's spatial residual skip: ridge regression on training patches.

With ``MGANConfig(residual=True, skip_kernel=K)`` the generator is ``U-Net + skip``, the
skip a ``K x K`` stride-3 linear filter of the Sentinel-2 bands on the 10 m grid
(:func:`xharm.models.mgan.stack_10m`). That filter has a least-squares optimum which
:func:`fit_skip` computes directly from normalized training patches (normal equations,
accumulated a few patches at a time); :func:`with_skip` puts it into a training state
and, by default, zeroes the U-Net's output layer so the generator starts as exactly that
linear model and the U-Net learns only what it leaves.

Nothing here imports xarray or Dask.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..exceptions import ConfigError, describe
from ..models.mgan import MGANConfig, skip_margin, stack_10m
from .data import PatchSet
from .state import GANState

__all__ = ["fit_skip", "skip_windows", "with_skip"]


def skip_windows(x10: np.ndarray, x20: np.ndarray, k: int) -> np.ndarray:
    """The ``K x K`` 10 m window of every 30 m pixel that lies inside the patch.

    Parameters
    ----------
    x10, x20
        ``(N, 3P, 3P, C10)`` and ``(N, 1.5P, 1.5P, C20)`` inputs (normalized).
    k
        Kernel side (odd, >= 3).

    Returns
    -------
    ``(N, P - 2m, P - 2m, k * k * (C10 + C20))`` windows in the (row, column, band) order
    of a flax ``(k, k, in, out)`` kernel; ``m`` pixels at each side are left out because
    their window reaches into the convolution's zero padding.

    Examples
    --------
    >>> w = skip_windows(np.zeros((1, 24, 24, 4)), np.zeros((1, 12, 12, 2)), 9)
    >>> w.shape
    (1, 6, 6, 486)
    """
    pad = (k - 3) // 2
    x = np.asarray(stack_10m(jnp.asarray(x10), jnp.asarray(x20)))
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    win = sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::3, ::3]  # (N, P, P, C, k, k)
    m = skip_margin(k)
    p = x.shape[1] // 3
    win = win[:, m : p - m, m : p - m]
    return np.moveaxis(win, 3, -1).reshape(*win.shape[:3], -1)


def fit_skip(
    patches: PatchSet,
    model: MGANConfig,
    *,
    n_patches: int = 480,
    ridge: float = 1e-3,
    seed: int = 0,
    chunk: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``(kernel, bias)`` of the ``K x K`` skip from Sentinel-2 to Landsat patches.

    Parameters
    ----------
    patches
        Normalized patches (:meth:`PatchSet.normalize`), the groups of ``model``.
    model
        Config with ``residual=True`` and ``skip_kernel >= 3``.
    n_patches
        Patches drawn (seeded, without replacement) for the fit; all when fewer.
    ridge
        Ridge penalty relative to the mean diagonal of the normal matrix (not on the bias).
    seed, chunk
        Draw seed; patches per accumulation step (bounds memory).

    Returns
    -------
    kernel, bias
        ``(K, K, C10 + C20, out_bands)`` and ``(out_bands,)``, float32.

    Examples
    --------
    >>> cfg = MGANConfig(**{**MGANConfig.tiny().to_dict(), "residual": True,
    ...                     "output_activation": "linear", "skip_kernel": 5})
    >>> s = cfg.input_shapes()
    >>> r = np.random.default_rng(0)
    >>> ps = PatchSet({g: r.normal(size=(2, *s[g])).astype(np.float32) for g in s}, normalized=True)
    >>> [a.shape for a in fit_skip(ps, cfg)]
    [(5, 5, 6, 6), (6,)]
    """
    k = model.skip_kernel
    if not model.residual or k < 3:
        raise ConfigError(
            describe(
                "fit_skip needs a spatial residual skip",
                expected="MGANConfig(residual=True, skip_kernel=K) with odd K >= 3",
                found=(model.residual, k),
            )
        )
    if not patches.normalized:
        raise ConfigError(
            describe("fit_skip needs normalized patches", fix="call PatchSet.normalize() first")
        )
    n = len(patches)
    pick = np.sort(np.random.default_rng(seed).choice(n, min(n_patches, n), replace=False))
    c_in = model.bands_10m + model.bands_20m
    f = k * k * c_in + 1
    ata = np.zeros((f, f))
    aty = np.zeros((f, model.out_bands))
    m = model.skip_margin()
    spec = model.spec()
    in10, in20, out = spec.inputs[0].name, spec.inputs[1].name, spec.output.name
    for i in range(0, len(pick), chunk):
        idx = pick[i : i + chunk]
        a = skip_windows(
            np.asarray(patches.arrays[in10][idx], np.float32),
            np.asarray(patches.arrays[in20][idx], np.float32),
            k,
        ).reshape(-1, f - 1)
        y = np.asarray(patches.arrays[out][idx], np.float64)
        p = y.shape[1]
        y = y[:, m : p - m, m : p - m].reshape(-1, model.out_bands)
        a = np.concatenate([a, np.ones((len(a), 1), a.dtype)], axis=1).astype(np.float64)
        ata += a.T @ a
        aty += a.T @ y
    reg = ridge * np.trace(ata[:-1, :-1]) / (f - 1) * np.eye(f)
    reg[-1, -1] = 0.0
    w = np.linalg.solve(ata + reg, aty)
    kernel = w[:-1].reshape(k, k, c_in, model.out_bands).astype(np.float32)
    return kernel, w[-1].astype(np.float32)


def with_skip(state: GANState, kernel: np.ndarray, bias: np.ndarray, reset_output: bool = True) -> GANState:
    """``state`` with the generator's skip set to ``(kernel, bias)``.

    ``reset_output`` zeroes the U-Net's last layer (and its Adam moments' meaning goes
    with it: they are left as they are), so the generator computes exactly the linear
    filter until training moves that layer; the U-Net body keeps what it learned.

    Examples
    --------
    >>> from xharm.train.config import TrainConfig
    >>> from xharm.train.state import create_state
    >>> cfg = TrainConfig.preset("tiny").with_overrides(
    ...     ["model.residual=true", 'model.output_activation="linear"', "model.skip_kernel=5"])
    >>> st = create_state(cfg)
    >>> k = np.zeros((5, 5, 6, 6), np.float32)
    >>> float(with_skip(st, k, np.ones(6, np.float32)).g_params["skip"]["bias"][0])
    1.0
    """
    params: dict[str, Any] = dict(state.g_params)
    if "skip" not in params or np.shape(params["skip"]["kernel"]) != np.shape(kernel):
        found = np.shape(params["skip"]["kernel"]) if "skip" in params else "no skip"
        raise ConfigError(
            describe("the skip kernel does not fit the generator", expected=found, found=np.shape(kernel))
        )
    params["skip"] = {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias)}
    if reset_output:
        params["out"] = {name: jnp.zeros_like(v) for name, v in params["out"].items()}
    return state.replace(g_params=params)  # type: ignore[attr-defined]
