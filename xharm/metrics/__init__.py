"""Image quality metrics as lazy, vectorized xarray reductions.

The metrics of Sedona et al. (2021, eqs. 5-10) -- SAM, ERGAS, RMSE, UIQI, PSNR -- plus
SSIM and the NDVI correlation. :func:`metrics` computes any set of them in one pass
(one Dask graph); the single-metric functions are thin wrappers around it.

Reduction rule (see ``docs/metrics.md``): every metric is first computed *per image*,
pooling the valid pixels of the spatial dims (``y``, ``x``). Any other dim listed in
``dim`` (``time``, ``band``, ...) is then reduced by the mean of the per-image values,
skipping NaN (images with no valid pixel), which is how the paper averages over its
images and, for per-band metrics, over bands (eq. 9). SAM, ERGAS and the NDVI
correlation use the spectral axis ``band`` by definition and never keep it.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..exceptions import DimensionError, GridError, MissingBandError, describe
from . import _kernels as k

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "ergas",
    "metrics",
    "ndvi_correlation",
    "psnr",
    "rmse",
    "sam",
    "ssim",
    "uiqi",
]

METRICS = ("sam", "ergas", "rmse", "uiqi", "psnr", "ssim", "ndvi_correlation")
"""Every metric :func:`metrics` knows."""
DEFAULT_METRICS = ("sam", "ergas", "rmse", "uiqi", "psnr", "ssim")
"""The metrics computed when ``which`` is not given (the paper's five plus SSIM)."""
_SPECTRAL = {"sam", "ergas", "ndvi_correlation"}

_CONVENTIONS = {
    "sam": "mean per-pixel spectral angle in {unit}; pixels valid in every band, zero-norm spectra skipped",
    "ergas": "100 * ratio * sqrt(mean_b(MSE_b / mean(ref_b)^2)); ratio (h/l pixel sizes) = {ratio}",
    "rmse": "sqrt(mean((pred - ref)^2)) over valid pixels, per band",
    "uiqi": "Wang-Bovik Q on {window}x{window} box windows fully inside the image and free of "
    "invalid pixels, averaged over windows, per band",
    "psnr": "10 * log10(data_range^2 / MSE), data_range = {data_range}; inf when MSE = 0; per band",
    "ssim": "Gaussian-weighted SSIM, sigma={sigma}, truncate=3.5 ({ssim_w}x{ssim_w} support), population "
    "covariance, K1={k1}, K2={k2}, data_range={data_range}; windows free of invalid pixels; per band",
    "ndvi_correlation": "Pearson r of NDVI(pred) and NDVI(ref), bands red={red}, nir={nir}",
}


def metrics(
    pred: xr.DataArray,
    ref: xr.DataArray,
    which: Iterable[str] | None = None,
    *,
    dim: str | Sequence[Hashable] | Any = None,
    valid: xr.DataArray | None = None,
    band_dim: str = "band",
    spatial_dims: tuple[str, str] = ("y", "x"),
    ratio: float = 1.0,
    data_range: float = 1.0,
    window: int = 32,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    degrees: bool = False,
    red: Hashable | None = None,
    nir: Hashable | None = None,
) -> xr.Dataset:
    """Compute several quality metrics of ``pred`` against ``ref`` in one pass.

    Parameters
    ----------
    pred, ref
        DataArrays with the same named dims and coordinates (canonical cubes or any
        arrays with ``spatial_dims`` and, for SAM/ERGAS/NDVI, ``band_dim``). NumPy input is
        computed now; Dask input gives a lazy Dataset whose variables share one graph.
    which
        Metric names from :data:`METRICS`; default :data:`DEFAULT_METRICS`.
    dim
        Dims to reduce. Default: the spatial dims (one value per ``time`` and ``band``).
        Must contain both spatial dims; extra dims (``time``, ``band``) are averaged over
        per-image values. ``...`` reduces every dim.
    valid
        Boolean mask broadcastable to ``pred`` (e.g. ``(time, y, x)``); False pixels, and
        NaN in ``pred`` or ``ref``, count nowhere.
    band_dim, spatial_dims
        Names of the spectral and the two image dims.
    ratio
        ERGAS ratio h/l of the pixel sizes; the paper uses 1 (both images at 30 m).
    data_range
        Data range for PSNR and SSIM (1.0 for reflectance; the paper's lambda).
    window
        UIQI box window in pixels (the paper's 32).
    sigma, k1, k2
        SSIM Gaussian sigma and constants (C1 = (k1 * data_range)^2, C2 = (k2 * data_range)^2).
    degrees
        Report SAM in degrees instead of radians.
    red, nir
        Band labels for the NDVI correlation; default: the bands whose ``common_name``
        coord is ``red`` and ``nir`` (or ``nir08``).

    Returns
    -------
    xarray.Dataset
        One float64 variable per metric; dims are the kept dims (``band_dim`` dropped for
        SAM, ERGAS and the NDVI correlation); ``attrs["conventions"]`` on each.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ref = xr.DataArray(np.random.default_rng(0).random((2, 3, 40, 40)), dims=("time", "band", "y", "x"))
    >>> ds = metrics(ref + 0.01, ref, ["rmse", "sam"])
    >>> ds.rmse.dims, round(float(ds.rmse[0, 0]), 6)
    (('time', 'band'), 0.01)
    """
    names = _check_names(which)
    pred, ref = _check_pair(pred, ref, spatial_dims)
    reduce_dims = _check_dim(dim, pred.dims, spatial_dims)
    has_band = band_dim in pred.dims
    if not has_band:
        if _SPECTRAL & set(names):
            raise DimensionError(
                describe(
                    f"metrics {sorted(_SPECTRAL & set(names))} need a spectral dim {band_dim!r}",
                    expected=f"a dim named {band_dim!r}",
                    found=pred.dims,
                    fix="pass band_dim=<name> or drop these metrics from `which`",
                )
            )
        pred, ref = pred.expand_dims(band_dim, -3), ref.expand_dims(band_dim, -3)
    if valid is not None and not set(valid.dims) <= set(pred.dims):
        raise DimensionError(
            describe(
                "`valid` has dims that the images lack",
                expected=f"a subset of {pred.dims}",
                found=valid.dims,
                fix="drop or rename the extra dims of the mask",
            )
        )
    if "ndvi_correlation" in names:
        red_i, nir_i = (
            _band_index(pred, band_dim, red, ("red",)),
            _band_index(pred, band_dim, nir, ("nir", "nir08")),
        )
    if ("uiqi" in names or "ssim" in names) and min(pred.sizes[d] for d in spatial_dims) < window:
        if "uiqi" in names:
            raise DimensionError(
                describe(
                    "the image is smaller than the UIQI window",
                    expected=f"{spatial_dims} sizes >= {window}",
                    found={d: pred.sizes[d] for d in spatial_dims},
                    fix="pass a smaller `window`",
                )
            )

    lead = [d for d in pred.dims if d not in (band_dim, *spatial_dims)]
    order = (*lead, band_dim, *spatial_dims)
    pred, ref = pred.transpose(*order), ref.transpose(*order)
    if valid is not None:
        # spatial dims broadcast; other dims the mask lacks stay of size 1 (the kernels broadcast them)
        others = [d for d in order if d not in valid.dims and d not in spatial_dims]
        valid = valid.astype(bool).broadcast_like(pred, exclude=others).expand_dims(others).transpose(*order)
    if any(k.is_dask(a.data) for a in (pred, ref, valid) if a is not None):
        lead_arr = next(a for a in (pred, ref, valid) if a is not None and k.is_dask(a.data))
        # the data's own chunks: .chunksizes also reads coordinates, which may be chunked otherwise
        own = dict(zip(lead_arr.dims, lead_arr.data.chunks, strict=True))
        chunks = {d: own[d] if lead_arr.sizes[d] == pred.sizes[d] else -1 for d in order}
        if {"sam", "ndvi_correlation"} & set(names):
            chunks[band_dim] = -1  # these need every band of a pixel in one chunk
        pred, ref = pred.chunk(chunks), ref.chunk(chunks)
        if valid is not None:
            valid = valid.chunk({d: chunks[d] if valid.sizes[d] == pred.sizes[d] else -1 for d in order})

    radius = int(3.5 * sigma + 0.5)
    sums = k.metric_sums(
        pred.data, ref.data, None if valid is None else valid.data,
        depth=max(window // 2 if "uiqi" in names else 0, radius if "ssim" in names else 0),
        pixel=bool({"ergas", "rmse", "psnr"} & set(names)),
        sam="sam" in names,
        window=window if "uiqi" in names else 0,
        weights=k.gaussian_weights(sigma, 3.5) if "ssim" in names else None,
        c1=(k1 * data_range) ** 2,
        c2=(k2 * data_range) ** 2,
        ndvi=(red_i, nir_i) if "ndvi_correlation" in names else None,
    )  # fmt: skip
    kw: dict[str, Any] = dict(names=names, ratio=ratio, data_range=data_range, degrees=degrees)
    if k.is_dask(sums):
        sums = sums.rechunk({sums.ndim - 2: -1})  # ERGAS averages over bands: all bands in one (tiny) chunk
        scores = sums.map_blocks(
            _scores, **kw, chunks=(*sums.chunks[:-1], (len(names),)), dtype=np.float64,
            meta=np.empty((0,) * sums.ndim, dtype=np.float64),
        )  # fmt: skip
    else:
        scores = _scores(sums, **kw)
    raw = {
        name: scores[..., i] if name not in _SPECTRAL else scores[..., 0, i] for i, name in enumerate(names)
    }

    conv = dict(
        unit="degrees" if degrees else "radians", ratio=ratio, window=window, data_range=data_range,
        sigma=sigma, ssim_w=2 * int(3.5 * sigma + 0.5) + 1, k1=k1, k2=k2,
        red=red if "ndvi_correlation" not in names else pred[band_dim].values[red_i],
        nir=nir if "ndvi_correlation" not in names else pred[band_dim].values[nir_i],
    )  # fmt: skip
    out = {}
    for name in names:
        dims = (*lead, band_dim) if name not in _SPECTRAL else tuple(lead)
        out[name] = _finish(raw[name], dims, reduce_dims, pred, has_band).assign_attrs(
            conventions=_CONVENTIONS[name].format(**conv)
        )
    return xr.Dataset(out, attrs={"reduced_dims": list(map(str, reduce_dims))})


def _scores(
    sums: np.ndarray, *, names: tuple[str, ...], ratio: float, data_range: float, degrees: bool
) -> np.ndarray:
    """Metrics from the per-image sums (last axis: ``k.SLOTS``), stacked on a new last axis in
    the order of ``names``; the across-band metrics are repeated along the band axis."""
    s = {name: sums[..., i] for i, name in enumerate(k.SLOTS)}
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):  # images without valid pixels or windows: NaN
        mse = s["sse"] / s["n"]
        for name in names:
            if name == "rmse":
                value = np.sqrt(mse)
            elif name == "psnr":
                value = 10.0 * np.log10(data_range**2 / mse)
            elif name == "ergas":
                value = (
                    100.0 * ratio * np.sqrt(np.mean(mse / (s["sum_r"] / s["n"]) ** 2, axis=-1, keepdims=True))
                )
            elif name == "sam":
                value = s["sam"][..., :1] / s["sam_n"][..., :1] * (180.0 / np.pi if degrees else 1.0)
            elif name in ("uiqi", "ssim"):
                value = s[name] / s[name + "_n"]
            else:  # ndvi_correlation
                n, a, b = (s[key][..., :1] for key in ("corr_n", "corr_a", "corr_b"))
                aa, bb, ab = (s[key][..., :1] for key in ("corr_aa", "corr_bb", "corr_ab"))
                value = (n * ab - a * b) / np.sqrt((n * aa - a**2) * (n * bb - b**2))
            out.append(np.broadcast_to(value, mse.shape))
    return np.stack(out, axis=-1)


def _finish(
    arr: Any, dims: tuple[Hashable, ...], reduce_dims: set[Hashable], like: xr.DataArray, has_band: bool
) -> xr.DataArray:
    """Wrap per-image values in a DataArray, then average the non-spatial reduced dims."""
    coords = {n: c.variable for n, c in like.coords.items() if set(c.dims) <= set(dims)}
    out = xr.DataArray(arr, dims=dims, coords=coords)
    if not has_band and "band" in out.dims:
        out = out.isel(band=0, drop=True)
    extra = [d for d in out.dims if d in reduce_dims]
    if extra:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices stay NaN
            out = out.mean(extra, skipna=True)
    return out.astype(np.float64)


def _check_names(which: Iterable[str] | None) -> tuple[str, ...]:
    names = DEFAULT_METRICS if which is None else ((which,) if isinstance(which, str) else tuple(which))
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ValueError(
            describe(
                f"unknown metric(s) {unknown}" if unknown else "no metric requested",
                expected=f"names from {METRICS}",
                found=list(names),
                fix="check the spelling in `which`",
            )
        )
    return tuple(dict.fromkeys(names))


def _check_pair(pred: Any, ref: Any, spatial_dims: tuple[str, str]) -> tuple[xr.DataArray, xr.DataArray]:
    for label, a in (("pred", pred), ("ref", ref)):
        if not isinstance(a, xr.DataArray):
            raise TypeError(f"{label} must be an xarray.DataArray, found {type(a).__name__}")
        missing = [d for d in spatial_dims if d not in a.dims]
        if missing:
            raise DimensionError(
                describe(
                    f"{label} lacks the spatial dim(s) {missing}",
                    expected=f"dims including {spatial_dims}",
                    found=a.dims,
                    fix="rename the image dims or pass spatial_dims=(<y>, <x>)",
                )
            )
    if set(pred.dims) != set(ref.dims):
        raise DimensionError(
            describe(
                "pred and ref have different dims",
                expected=pred.dims,
                found=ref.dims,
                fix="rename or add dims",
            )
        )
    ref = ref.transpose(*pred.dims)
    if pred.shape != ref.shape:
        raise GridError(
            describe(
                "pred and ref differ in shape",
                expected=dict(pred.sizes),
                found=dict(ref.sizes),
                fix="align both on the same grid, bands and times first",
            )
        )
    try:
        pred, ref = xr.align(pred, ref, join="exact", copy=False)
    except ValueError as err:
        raise GridError(
            describe(
                "pred and ref have different coordinates",
                found=str(err).splitlines()[0],
                fix="align both on the same grid, bands and times (e.g. ref.reindex_like(pred))",
            )
        ) from err
    return pred, ref


def _check_dim(dim: Any, dims: tuple[Hashable, ...], spatial_dims: tuple[str, str]) -> set[Hashable]:
    if dim is None:
        return set(spatial_dims)
    if dim is ...:
        return set(dims)
    chosen = {dim} if isinstance(dim, str) else set(dim)
    if not set(spatial_dims) <= chosen or not chosen <= set(dims):
        raise DimensionError(
            describe(
                "`dim` must list both spatial dims and only dims of the images",
                expected=f"{spatial_dims} plus any of {dims}",
                found=sorted(map(str, chosen)),
                fix="e.g. dim=('time', 'y', 'x') to average over time too",
            )
        )
    return chosen


def _band_index(da: xr.DataArray, band_dim: str, label: Hashable | None, common: tuple[str, ...]) -> int:
    labels = [str(v) for v in da[band_dim].values]
    if label is not None:
        if str(label) in labels:
            return labels.index(str(label))
    elif "common_name" in da.coords and da["common_name"].dims == (band_dim,):
        names = [str(v) for v in da["common_name"].values]
        for c in common:
            if c in names:
                return names.index(c)
    raise MissingBandError(
        describe(
            f"band {label if label is not None else '/'.join(common)!r} for the NDVI correlation not found",
            expected=f"a {band_dim} label or common_name {common}",
            found=labels,
            fix="pass red=<band> and nir=<band>",
        )
    )


def _one(name: str, doc: str) -> Any:
    def fn(pred: xr.DataArray, ref: xr.DataArray, **kwargs: Any) -> xr.DataArray:
        return metrics(pred, ref, (name,), **kwargs)[name]

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc + "\n\n    Keyword arguments are those of :func:`metrics`; returns a DataArray.\n"
    return fn


sam = _one(
    "sam",
    """Spectral angle mapper (paper eq. 5): the mean over valid pixels of the angle between the
    pred and ref spectra along ``band``, in radians (``degrees=True`` for degrees). Pixels
    invalid in any band or with a zero-norm spectrum are skipped. Across bands by definition.

    >>> import xarray as xr
    >>> a = xr.DataArray([[[[1.0]], [[0.0]]]], dims=("time", "band", "y", "x"))
    >>> b = xr.DataArray([[[[1.0]], [[1.0]]]], dims=("time", "band", "y", "x"))
    >>> round(float(sam(a, b, degrees=True)[0]), 6)
    45.0""",
)
ergas = _one(
    "ergas",
    """ERGAS (paper eq. 6, Wald 2002): ``100 * ratio * sqrt(mean_b(MSE_b / mean(ref_b)^2))``
    with ``ratio`` = h/l, the ratio of the pixel sizes (default 1, as in the paper where pred
    and ref share the 30 m grid; 10/30 for 10 m pred against a 30 m reference). The band
    means are of the reference. Across bands by definition.""",
)
rmse = _one(
    "rmse",
    """Root-mean-square error per band, ``sqrt(mean((pred - ref)^2))`` over valid pixels
    (paper eq. 7, with the usual mean rather than its ``/ d^2`` normalisation).""",
)
uiqi = _one(
    "uiqi",
    """Universal image quality index (Wang & Bovik 2002; paper eqs. 8-9) per band, on
    ``window x window`` box windows (default 32 as in the paper) that lie fully inside the
    image and contain no invalid pixel, averaged over those windows. Degenerate windows:
    zero variances give the luminance term, zero means and variances give 1.""",
)
psnr = _one(
    "psnr",
    """Peak signal-to-noise ratio per band, ``10 * log10(data_range^2 / MSE)`` in dB, with
    ``data_range`` = 1.0 by default (reflectance; the paper's lambda). ``inf`` when MSE is 0.
    (The paper's eq. 10 writes ``20 log10`` of a squared ratio; we use the standard form.)""",
)
ssim = _one(
    "ssim",
    """Structural similarity (Wang et al. 2004) per band, as ``skimage.metrics.structural_similarity``
    with ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0``:
    Gaussian window truncated at 3.5 sigma (11x11), ``K1=0.01, K2=0.03``, mean over window
    centres whose window lies inside the image and contains no invalid pixel.""",
)
ndvi_correlation = _one(
    "ndvi_correlation",
    """Pearson correlation between NDVI of pred and NDVI of ref, per image, over pixels valid in
    the red and nir bands of both (and with non-zero ``nir + red``). Bands from ``red=``/``nir=``
    or the ``common_name`` coord (``red``; ``nir`` or ``nir08``).""",
)
