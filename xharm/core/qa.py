"""Quality layers -> boolean reason layers and one ``valid`` mask.

Three quality layers are understood (bit and class tables: ``shared/reference/SENSORS.md``):

``"qa_pixel"``
    Landsat 8/9 Collection 2 ``QA_PIXEL`` (uint16 bit field).
``"scl"``
    Sentinel-2 L2A scene classification (uint8 classes 0..11, 20 m).
``"fmask"``
    HLS v2.0 ``Fmask`` (uint8 bit field, fill 255).

:func:`decode_qa_pixel`, :func:`decode_scl` and :func:`decode_fmask` turn a layer into an
:class:`xarray.Dataset` of boolean *reason* layers under shared names (``fill``, ``cloud``,
``shadow``, ``snow``, ``water``, ``cirrus``, ...) plus a few integer information layers
(confidences, aerosol level). :func:`valid_mask` folds the reasons a user chooses to
exclude into one boolean layer named ``valid`` (True = usable pixel).

Everything is elementwise xarray arithmetic: NumPy in gives NumPy out, Dask in gives Dask
out, and nothing is computed. Integer input of another width is first cast to the layer's
storage type (uint16 for QA_PIXEL, uint8 for SCL and Fmask), so values are read modulo
that width. SCL lives on the 20 m grid; bring a mask to the 10 m or 30 m grid with
:func:`xharm.core.grid.mask_to_grid`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import xarray as xr

from ..exceptions import DimensionError, ProductError, SensorError, UnitsError, describe

__all__ = [
    "DEFAULT_EXCLUDE",
    "KINDS",
    "decode",
    "decode_fmask",
    "decode_qa_pixel",
    "decode_scl",
    "infer_kind",
    "reasons",
    "valid_mask",
]

Layer = Callable[[xr.DataArray], xr.DataArray]


def _bit(n: int) -> Layer:
    return lambda q: ((q >> n) & 1).astype(bool)


def _field(start: int, width: int = 2) -> Layer:
    return lambda q: ((q >> start) & ((1 << width) - 1)).astype(np.uint8)


def _classes(*codes: int) -> Layer:
    return lambda q: q.isin(list(codes))


# name -> (function of the integer layer, description). Boolean layers are reasons.
_QA_PIXEL: dict[str, tuple[Layer, str]] = {
    "fill": (_bit(0), "bit 0: fill"),
    "dilated_cloud": (_bit(1), "bit 1: dilated cloud"),
    "cirrus": (_bit(2), "bit 2: cirrus (high confidence)"),
    "cloud": (_bit(3), "bit 3: cloud (high confidence)"),
    "shadow": (_bit(4), "bit 4: cloud shadow (high confidence)"),
    "snow": (_bit(5), "bit 5: snow"),
    "clear": (_bit(6), "bit 6: clear (cloud and dilated-cloud bits not set)"),
    "water": (_bit(7), "bit 7: water"),
    "cloud_confidence": (_field(8), "bits 8-9: cloud confidence 0 none, 1 low, 2 medium, 3 high"),
    "shadow_confidence": (_field(10), "bits 10-11: cloud-shadow confidence 0 none, 1 low, 3 high"),
    "snow_confidence": (_field(12), "bits 12-13: snow/ice confidence 0 none, 1 low, 3 high"),
    "cirrus_confidence": (_field(14), "bits 14-15: cirrus confidence 0 none, 1 low, 3 high"),
}

_SCL: dict[str, tuple[Layer, str]] = {
    "fill": (_classes(0), "class 0: no data"),
    "saturated": (_classes(1), "class 1: saturated or defective"),
    "dark": (_classes(2), "class 2: dark area pixels (topographic/cast shadow in newer Sen2Cor)"),
    "shadow": (_classes(3), "class 3: cloud shadow"),
    "vegetation": (_classes(4), "class 4: vegetation"),
    "bare": (_classes(5), "class 5: not vegetated"),
    "water": (_classes(6), "class 6: water"),
    "unclassified": (_classes(7), "class 7: unclassified"),
    "cloud_medium": (_classes(8), "class 8: cloud, medium probability"),
    "cloud_high": (_classes(9), "class 9: cloud, high probability"),
    "cloud": (_classes(8, 9), "classes 8 or 9: cloud (medium or high probability)"),
    "cirrus": (_classes(10), "class 10: thin cirrus"),
    "snow": (_classes(11), "class 11: snow/ice"),
    "unknown": (lambda q: q > 11, "code above 11: not an SCL class"),
}

_FMASK_FILL = 255
_FMASK: dict[str, tuple[Layer, str]] = {
    "fill": (lambda q: q == _FMASK_FILL, "value 255: fill (no data)"),
    "cirrus": (_bit(0), "bit 0: cirrus (reserved, not used by HLS v2.0)"),
    "cloud": (_bit(1), "bit 1: cloud"),
    "adjacent": (_bit(2), "bit 2: adjacent to cloud or shadow"),
    "shadow": (_bit(3), "bit 3: cloud shadow"),
    "snow": (_bit(4), "bit 4: snow/ice"),
    "water": (_bit(5), "bit 5: water"),
    "high_aerosol": (lambda q: ((q >> 6) & 3) == 3, "bits 6-7 == 11: high aerosol"),
    "aerosol": (_field(6), "bits 6-7: aerosol level 0 climatology, 1 low, 2 moderate, 3 high"),
}

KINDS: dict[str, dict[str, tuple[Layer, str]]] = {"qa_pixel": _QA_PIXEL, "scl": _SCL, "fmask": _FMASK}
"""Layer tables of each quality-layer kind."""

_STORAGE = {"qa_pixel": np.uint16, "scl": np.uint8, "fmask": np.uint8}
_TITLES = {"qa_pixel": "Landsat C2 QA_PIXEL", "scl": "Sentinel-2 L2A SCL", "fmask": "HLS v2.0 Fmask"}
_INFO = {"clear", "cloud_confidence", "shadow_confidence", "snow_confidence", "cirrus_confidence", "aerosol"}

DEFAULT_EXCLUDE: dict[str, tuple[str, ...]] = {
    "qa_pixel": ("fill", "dilated_cloud", "cirrus", "cloud", "shadow", "snow"),
    "scl": ("fill", "saturated", "shadow", "cloud", "cirrus", "snow", "unknown"),
    "fmask": ("fill", "cloud", "adjacent", "shadow", "snow"),
}
"""Reasons :func:`valid_mask` excludes unless told otherwise. Water is valid by default;
so are SCL ``dark`` pixels, Fmask ``cirrus`` (unused by HLS v2.0) and ``high_aerosol``.
Snow is excluded (MGAN paper: no cloud or snow in training patches)."""

_ALIASES = {
    "qa_pixel": "qa_pixel",
    "qapixel": "qa_pixel",
    "pixel_qa": "qa_pixel",
    "scl": "scl",
    "scene_classification": "scl",
    "fmask": "fmask",
}


def reasons(kind: str) -> tuple[str, ...]:
    """Names of the boolean reason layers of one kind, in table order.

    Examples
    --------
    >>> reasons("fmask")
    ('fill', 'cirrus', 'cloud', 'adjacent', 'shadow', 'snow', 'water', 'high_aerosol')
    """
    k = _normalize_kind(kind)
    return tuple(name for name in KINDS[k] if name not in _INFO)


def infer_kind(qa: xr.DataArray) -> str:
    """Tell the kind of a quality layer from ``attrs["qa_kind"]`` or its name.

    Names such as ``QA_PIXEL``, ``qa_pixel``, ``SCL``, ``Fmask`` (any case) are
    recognized; HLS file names ending in ``.Fmask`` too.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> infer_kind(xr.DataArray(np.zeros(2, "uint8"), name="SCL"))
    'scl'
    """
    candidates = [qa.attrs.get("qa_kind"), qa.name, qa.attrs.get("long_name")]
    for cand in candidates:
        if cand is None:
            continue
        key = str(cand).strip().lower().rsplit(".", 1)[-1]
        if key in _ALIASES:
            return _ALIASES[key]
    raise SensorError(
        describe(
            "cannot tell which kind of quality layer this is",
            expected=f"kind= one of {', '.join(KINDS)}, or a layer named QA_PIXEL / SCL / Fmask",
            found=f"name {qa.name!r}, attrs qa_kind={qa.attrs.get('qa_kind')!r}",
            fix="pass kind='qa_pixel' (Landsat C2), 'scl' (Sentinel-2 L2A) or 'fmask' (HLS)",
        )
    )


def decode_qa_pixel(qa: xr.DataArray) -> xr.Dataset:
    """Decode a Landsat Collection 2 ``QA_PIXEL`` layer.

    Parameters
    ----------
    qa
        Integer DataArray (any dims, NumPy or Dask).

    Returns
    -------
    xarray.Dataset
        Boolean ``fill``, ``dilated_cloud``, ``cirrus``, ``cloud``, ``shadow``, ``snow``,
        ``clear``, ``water`` (bits 0-7) and uint8 ``cloud_confidence``,
        ``shadow_confidence``, ``snow_confidence``, ``cirrus_confidence`` (bits 8-15).

    Raises
    ------
    UnitsError
        ``qa`` is not integer (e.g. float after a NaN fill).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = decode_qa_pixel(xr.DataArray(np.array([21824, 22280], "uint16"), dims="x"))
    >>> ds.cloud.values.tolist(), ds.cloud_confidence.values.tolist()
    ([False, True], [1, 3])
    """
    return decode(qa, "qa_pixel")


def decode_scl(scl: xr.DataArray) -> xr.Dataset:
    """Decode a Sentinel-2 L2A scene classification (SCL) layer.

    Returns
    -------
    xarray.Dataset
        One boolean layer per class (``fill`` 0, ``saturated`` 1, ``dark`` 2, ``shadow`` 3,
        ``vegetation`` 4, ``bare`` 5, ``water`` 6, ``unclassified`` 7, ``cloud_medium`` 8,
        ``cloud_high`` 9, ``cirrus`` 10, ``snow`` 11), ``cloud`` (8 or 9) and ``unknown``
        (codes above 11).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> decode_scl(xr.DataArray(np.array([4, 9], "uint8"), dims="x")).cloud.values.tolist()
    [False, True]
    """
    return decode(scl, "scl")


def decode_fmask(fmask: xr.DataArray) -> xr.Dataset:
    """Decode an HLS v2.0 ``Fmask`` layer.

    Fill pixels (255) are reported as ``fill`` only: every other reason is False there.

    Returns
    -------
    xarray.Dataset
        Boolean ``fill``, ``cirrus`` (bit 0), ``cloud`` (1), ``adjacent`` (2), ``shadow`` (3),
        ``snow`` (4), ``water`` (5), ``high_aerosol`` (bits 6-7 == 3) and uint8 ``aerosol``
        (bits 6-7).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = decode_fmask(xr.DataArray(np.array([0b01000010, 255], "uint8"), dims="x"))
    >>> ds.cloud.values.tolist(), ds.fill.values.tolist(), ds.aerosol.values.tolist()
    ([True, False], [False, True], [1, 0])
    """
    return decode(fmask, "fmask")


def decode(qa: xr.DataArray, kind: str | None = None, *, names: Iterable[str] | None = None) -> xr.Dataset:
    """Decode any supported quality layer (``kind`` inferred when None).

    Parameters
    ----------
    qa
        Integer DataArray.
    kind
        ``"qa_pixel"``, ``"scl"`` or ``"fmask"``; inferred with :func:`infer_kind` when None.
    names
        Only these layers (default: all).
    """
    k = _normalize_kind(kind) if kind is not None else infer_kind(_check_array(qa))
    q = _as_storage(qa, k)
    table = KINDS[k]
    wanted = list(table) if names is None else _check_names(k, names, table)
    layers: dict[str, xr.DataArray] = {}
    not_fill = None
    if k == "fmask":
        not_fill = q != _FMASK_FILL
    for name in wanted:
        func, text = table[name]
        layer = func(q)
        if not_fill is not None and name not in ("fill",):
            layer = layer.where(not_fill, False).astype(layer.dtype)
        layer.attrs = {"long_name": f"{_TITLES[k]} {text}"}
        layers[name] = layer.rename(name)
    ds = xr.Dataset(layers)
    ds.attrs = {"qa_kind": k, "source": str(qa.name) if qa.name is not None else ""}
    return ds


def valid_mask(
    qa: xr.DataArray,
    kind: str | None = None,
    *,
    exclude: Iterable[str] | None = None,
) -> xr.DataArray:
    """One boolean layer ``valid``: True where none of the excluded reasons is set.

    Parameters
    ----------
    qa
        Integer quality layer (NumPy or Dask); never computed.
    kind
        ``"qa_pixel"``, ``"scl"`` or ``"fmask"``; inferred from the name/attrs when None.
    exclude
        Reason names (see :func:`reasons`); default :data:`DEFAULT_EXCLUDE` of the kind.
        Water is a reason but valid by default: add ``"water"`` to exclude it.

    Returns
    -------
    xarray.DataArray
        Boolean, named ``valid``, same dims/coords as ``qa``; ``attrs`` record the kind,
        the excluded reasons and the rule.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> scl = xr.DataArray(np.array([0, 4, 6, 9, 11], "uint8"), dims="x", name="SCL")
    >>> valid_mask(scl).values.tolist()
    [False, True, True, False, False]
    >>> valid_mask(scl, exclude=["fill", "water"]).values.tolist()
    [False, True, False, True, True]
    """
    _check_array(qa)
    k = _normalize_kind(kind) if kind is not None else infer_kind(qa)
    names = list(DEFAULT_EXCLUDE[k] if exclude is None else exclude)
    if isinstance(exclude, str):
        names = [exclude]
    info = [n for n in names if n in _INFO]
    if info:
        raise ProductError(
            describe(
                f"{', '.join(info)} is an information layer of {k}, not a reason to exclude",
                expected=f"reasons of {k}: {', '.join(reasons(k))}",
                found=", ".join(names),
                fix="build a custom mask from decode(qa, kind) instead",
            )
        )
    ds = decode(qa, k, names=names)
    bad = None
    for name in names:
        bad = ds[name] if bad is None else bad | ds[name]
    valid = ~bad if bad is not None else xr.ones_like(qa, dtype=bool)
    valid = valid.rename("valid")
    rule = "valid = not (" + " | ".join(names) + ")" if names else "valid everywhere"
    valid.attrs = {
        "long_name": f"valid pixels from {_TITLES[k]}",
        "qa_kind": k,
        "exclude": " ".join(names),
        "rule": rule,
    }
    return valid


# --------------------------------------------------------------------------- helpers


def _normalize_kind(kind: str) -> str:
    key = str(kind).strip().lower()
    if key not in _ALIASES:
        raise SensorError(
            describe(
                f"unknown quality layer kind {kind!r}",
                expected=f"one of {', '.join(KINDS)}",
                found=repr(kind),
                fix="'qa_pixel' for Landsat C2 QA_PIXEL, 'scl' for Sentinel-2 L2A SCL, 'fmask' for HLS Fmask",
            )
        )
    return _ALIASES[key]


def _check_array(qa: Any) -> xr.DataArray:
    if not isinstance(qa, xr.DataArray):
        raise DimensionError(
            describe(
                "the quality layer is not a DataArray",
                expected="xarray.DataArray of integers",
                found=type(qa).__name__,
                fix="wrap it: xr.DataArray(array, dims=('y', 'x'))",
            )
        )
    return qa


def _as_storage(qa: xr.DataArray, kind: str) -> xr.DataArray:
    _check_array(qa)
    if not np.issubdtype(qa.dtype, np.integer):
        label = "" if qa.name is None else f" {qa.name!r}"
        raise UnitsError(
            describe(
                f"the {_TITLES[kind]} layer{label} holds {qa.dtype} values, not integer flags",
                expected=f"an integer dtype ({np.dtype(_STORAGE[kind]).name})",
                found=str(qa.dtype),
                fix=(
                    "read it without scaling/masking (rioxarray: mask_and_scale=False), or cast: "
                    f"qa.fillna(<fill>).astype('{np.dtype(_STORAGE[kind]).name}')"
                ),
            )
        )
    storage = _STORAGE[kind]
    return qa if qa.dtype == storage else qa.astype(storage)


def _check_names(kind: str, names: Iterable[str], table: dict[str, Any]) -> list[str]:
    out = list(names)
    unknown = [n for n in out if n not in table]
    if unknown:
        raise ProductError(
            describe(
                f"unknown {kind} layer(s) {', '.join(map(repr, unknown))}",
                expected=f"names among {', '.join(table)}",
                found=", ".join(map(str, out)),
                fix="see xharm.core.qa.reasons(kind) for the reasons of each kind",
            )
        )
    return out
