"""Per-pixel uncertainty of a harmonization model from Monte-Carlo dropout.

The pix2pix generator of the MGAN keeps dropout as its noise source; running it with
dropout on ``samples`` times and taking the per-pixel standard deviation gives an
uncertainty layer (Gal & Ghahramani 2016). :func:`mc_dropout_std` builds that layer
lazily with :func:`xharm.engine.apply.apply_model`, one graph branch per sample, each sample a
:class:`~xharm.zoo.mc.MCDropoutHandle` with its own seed (own Dask token). Dropout masks
are keyed on each patch's input values and the seed, so the layer is reproducible and
the same chunked or not. :func:`xharm.to_landsat` with ``uncertainty=True`` attaches it
as the ``uncertainty`` coordinate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import xarray as xr

from .engine.apply import apply_model
from .exceptions import DimensionError, describe
from .spec import ModelSpec
from .validate import positive_int

__all__ = ["mc_dropout_std"]


def mc_dropout_std(
    cubes: Mapping[str, xr.DataArray],
    spec: ModelSpec,
    model: Any,
    *,
    samples: int = 10,
    chunks: Mapping[str, int] | None = None,
    batch_size: int = 16,
) -> xr.DataArray:
    """Lazy per-pixel standard deviation (ddof=1) over ``samples`` Monte-Carlo dropout runs.

    Parameters
    ----------
    cubes, spec, chunks, batch_size
        As for :func:`xharm.engine.apply.apply_model`.
    model
        A :class:`~xharm.zoo.ZooHandle` (its ``name_or_path`` and ``checksum`` are used).
    samples
        Number of dropout samples (at least 2); the cost is ``samples`` model runs.

    Returns
    -------
    xarray.DataArray
        ``(time, band, y, x)`` float32 on the output grid, in reflectance units.

    Examples
    --------
    >>> h = ZooHandle.of("mgan-starter")  # doctest: +SKIP
    >>> std = mc_dropout_std({"s2_10m": c10, "s2_20m": c20}, spec, h, samples=10)  # doctest: +SKIP
    """
    samples = positive_int(samples, "samples", fix="Monte-Carlo samples, e.g. 10")
    if samples < 2:
        raise DimensionError(
            describe(
                "Monte-Carlo dropout needs at least 2 samples for a standard deviation",
                expected="samples >= 2",
                found=samples,
                fix="pass samples=10 (the default) or more",
            )
        )
    from .zoo.mc import MCDropoutHandle

    runs = [
        apply_model(
            cubes,
            spec,
            MCDropoutHandle(model.name_or_path, model.checksum, seed=k),
            chunks=chunks,
            batch_size=batch_size,
        )
        for k in range(int(samples))
    ]
    std = xr.concat(runs, dim="sample", coords="minimal", compat="override").std("sample", ddof=1)
    return std.astype("float32").transpose("time", "band", "y", "x")
