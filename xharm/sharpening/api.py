"""``xharm.sharpen``: Sentinel-2 20 m / 60 m bands to 10 m, lazily through the patch engine."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, cast

import dask.array as da
import numpy as np
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox

from ..core.cube import make_cube, processing_level, validate
from ..core.grid import mask_to_grid, nest_offset
from ..engine.apply import apply_model, window
from ..engine.quality import quality_flag
from ..exceptions import (
    CorruptProductError,
    DimensionError,
    GridError,
    MissingBandError,
    SensorError,
    describe,
)
from ..spec import ANCHOR_GROUP, ModelSpec
from ..validate import require_level, require_same_crs
from . import streamed
from .classic import FIT_TERMS
from .data import BANDS
from .mtf import DEFAULT_MTF, inverse_halo

__all__ = [
    "DEFAULT_MODELS",
    "METHODS",
    "QUALITY_NOTE",
    "DSen2Handle",
    "fit_hpf",
    "sharpen",
    "uses_fit",
]

METHODS = ("dsen2", "bicubic", "hpf")
#: The bundled model per scale when ``model`` is not given (no 60 m starter is bundled:
#: the one trained on the two available L1C scenes was worse than bicubic, see the model card).
DEFAULT_MODELS: dict[int, str | None] = {2: "dsen2-starter", 6: None}
_SCALE_OF = {**{b: 2 for b in BANDS[20]}, **{b: 6 for b in BANDS[60]}}
_RES_OF = {2: 20, 6: 60}
_GROUP = {10: "s2_10m", 20: "s2_20m", 60: "s2_60m"}
_TOL = 1e-6


@dataclass(frozen=True)
class DSen2Handle:
    """A :class:`~xharm.spec.ModelHandle` for a DSen2 zoo folder: path + checksum (tokenizable)."""

    path: str
    checksum: str | None = None

    @classmethod
    def of(cls, name_or_path: str) -> DSen2Handle:
        """The handle of a bundled name or a model folder (checksum read from its spec)."""
        from ..zoo import resolve

        folder = resolve(name_or_path)
        return cls(str(folder), ModelSpec.from_json((folder / "spec.json").read_text()).checksum)

    def spec(self) -> ModelSpec:
        """The model's :class:`~xharm.spec.ModelSpec` (reads only the JSON)."""
        from pathlib import Path

        return ModelSpec.from_json((Path(self.path) / "spec.json").read_text())

    def load(self) -> Any:
        from ..zoo.dsen2 import DSen2Predictor, load_dsen2

        spec, params, config = load_dsen2(self.path)
        if self.checksum is not None and spec.checksum != self.checksum:
            raise CorruptProductError(
                describe(f"model {self.path} changed", expected=self.checksum, found=spec.checksum)
            )
        return DSen2Predictor(spec, params, config)

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        return ("xharm.DSen2Handle", self.path, self.checksum)


def sharpen(
    s2: xr.DataArray | Mapping[Any, xr.DataArray],
    s2_20m: xr.DataArray | None = None,
    s2_60m: xr.DataArray | None = None,
    *,
    bands: Sequence[str] | None = None,
    method: str = "dsen2",
    model: str | Mapping[int, str] | None = None,
    consistent: bool = False,
    valid: xr.DataArray | None = None,
    level: str | None = None,
    chunks: Mapping[str, int] | None = None,
    batch_size: int = 16,
    mtf: float = DEFAULT_MTF,
    fit: Mapping[int, xr.DataArray] | None = None,
) -> xr.DataArray:
    """Sharpen Sentinel-2 20 m (and 60 m) bands to 10 m (DSen2, Lanaras et al. 2018).

    Lazy: Dask input gives a Dask-backed cube; patches overlap and only their centres are
    kept, on a patch grid anchored to the image, so the result has no seams and does not
    depend on the chunking.

    Parameters
    ----------
    s2
        The 10 m canonical cube (guide bands B02, B03, B04, B08), or a mapping
        ``{10: cube10, 20: cube20, 60: cube60}`` as :func:`xharm.io.read_sentinel2` returns.
    s2_20m, s2_60m
        The 20 m / 60 m cubes when ``s2`` is a single cube.
    bands
        Bands to sharpen, in output order: any of B05 B06 B07 B8A B11 B12 (20 m) and
        B01 B09 (60 m). Default: the six 20 m bands.
    method
        ``"dsen2"`` (the network), ``"bicubic"`` or ``"hpf"`` (high-pass detail injection of
        the 10 m bands with per-band regression, :mod:`xharm.sharpening.classic`).
    model
        ``"dsen2"``: a bundled name or model folder (or ``{2: ..., 6: ...}`` per scale);
        default ``DEFAULT_MODELS`` (``dsen2-starter`` for 20 m; none is bundled for 60 m).
    consistent
        Apply the exact radiometric-consistency projection: the smallest change to the
        output after which degrading it with the band's MTF and averaging each coarse
        pixel's block reproduces the observed band (float error).
    valid
        Boolean clear mask ``(time, y, x)`` on any of the grids; not-clear pixels are NaN
        in the inputs and the output.
    level
        Processing level of the input (``"L1C"`` / ``"L2A"``) when the cube's ``attrs``
        do not say; the model's level must match.
    chunks
        Output chunks in 10 m px, e.g. ``{"time": 1, "y": 1024, "x": 1024}``.
    batch_size
        Patches per network call.
    mtf
        MTF at the coarse Nyquist frequency for ``consistent`` and ``"hpf"``.
    fit
        The dates' regression fits from :func:`fit_hpf` (computed), used by ``"hpf"``,
        ``"bicubic"`` (its fill values) and an HPF-anchored network. Default: fitted in
        the same lazy graph. A precomputed fit makes every output chunk independent of
        the others (a whole tile streams chunk by chunk; ``xharm sharpen`` does this).

    Returns
    -------
    xarray.DataArray
        Canonical ``(time, band, y, x)`` float32 cube on the 10 m grid (CRS and coordinates
        of the 10 m input, cropped to whole coarse pixels), ``attrs`` recording the method,
        model and checksum, and ``radiometric_consistency``.

    Examples
    --------
    >>> import numpy as np
    >>> from odc.geo.geobox import GeoBox
    >>> from xharm.core.cube import make_cube
    >>> g10 = GeoBox.from_bbox((0, 0, 240, 240), "EPSG:32633", resolution=10)
    >>> g20 = GeoBox.from_bbox((0, 0, 240, 240), "EPSG:32633", resolution=20)
    >>> b10, b20 = ["B02", "B03", "B04", "B08"], ["B05", "B06", "B07", "B8A", "B11", "B12"]
    >>> c10 = make_cube(np.random.rand(1, 4, 24, 24), geobox=g10, bands=b10, sensor="sentinel-2a")
    >>> c20 = make_cube(np.random.rand(1, 6, 12, 12), geobox=g20, bands=b20, sensor="sentinel-2a")
    >>> out = sharpen({10: c10, 20: c20}, method="bicubic")
    >>> out.shape, out.band.values.tolist()[:2]
    ((1, 6, 24, 24), ['B05', 'B06'])
    """
    if method not in METHODS:
        raise SensorError(
            describe(f"unknown sharpening method {method!r}", expected=", ".join(METHODS), found=method)
        )
    cubes, want, scales, out_gbox = _prepare(s2, s2_20m, s2_60m, bands, valid)
    fits = _check_fits(fit, cubes, scales, mtf)
    parts, flags = [], []
    attrs: dict[str, Any] = {"sharpening_method": method}
    for s in scales:
        sel = [b for b in want if _SCALE_OF[b] == s]
        if method == "dsen2":
            out, physics, spec, meta = _run_dsen2(
                cubes, s, model, out_gbox, level, chunks, batch_size, mtf, fits
            )
            attrs.update(meta)
            if physics is not None:  # fail safe: an anchored model's output is guarded and flagged
                out, flag = quality_flag(out.sel(band=sel), physics.sel(band=sel), spec)
                flags.append(flag)
        else:
            out = _run_classic(cubes, s, method, out_gbox, mtf, fits.get(_RES_OF[s]), chunks)
        if consistent:
            out = _project(out, cubes[_RES_OF[s]], s, out_gbox, mtf)
        parts.append(out.sel(band=sel))
    result = parts[0] if len(parts) == 1 else xr.concat(parts, dim="band")
    result = result.sel(band=list(want))
    if flags:
        quality = flags[0]
        for f in flags[1:]:
            quality = quality | f
        quality.attrs = dict(flags[0].attrs)
        result = result.assign_coords(quality=quality)
        attrs["quality"] = QUALITY_NOTE
    if valid is not None:
        result = result.where(mask_to_grid(valid, out_gbox))
    first = cubes[10]
    result.attrs = {k: v for k, v in first.attrs.items() if k not in ("xharm_model",)}
    result.attrs.update(attrs, radiometric_consistency="projected" if consistent else "none")
    return result


#: ``attrs["quality"]`` of a sharpened cube from an anchored network: what the bits mean.
QUALITY_NOTE = (
    "quality (uint8, per 10 m pixel): 0 = the learned correction is inside its bound in every "
    "sharpened band; bit 1 = the correction is limited in some band: at its bound (the output "
    "is method='hpf' +- bound there) or stopped at zero reflectance. With consistent=True the "
    "bits describe the network's output before the consistency projection"
)


def fit_hpf(
    s2: xr.DataArray | Mapping[Any, xr.DataArray],
    s2_20m: xr.DataArray | None = None,
    s2_60m: xr.DataArray | None = None,
    *,
    bands: Sequence[str] | None = None,
    valid: xr.DataArray | None = None,
    guided: bool = True,
    mtf: float = DEFAULT_MTF,
) -> dict[int, xr.DataArray]:
    """Each date's ``"hpf"`` regression (and fill values), per coarse resolution, lazily.

    The one whole-date step of the classical methods: least squares of each coarse band
    on the 10 m bands degraded with the MTF, from sums over chunks (one pass; memory of a
    few chunks). Pass the computed result to :func:`sharpen` as ``fit=`` and every output
    chunk is computed from its own input chunks (with a halo) only.

    Parameters
    ----------
    s2, s2_20m, s2_60m, bands, valid, mtf
        As :func:`sharpen`.
    guided
        False: only the fill values (all ``"bicubic"`` needs).

    Returns
    -------
    dict of xarray.DataArray
        ``{20: fit20, 60: fit60}`` for the resolutions of ``bands``: ``(time, band, term)``
        float64, ``term`` in :data:`xharm.sharpening.classic.FIT_TERMS`.

    Examples
    --------
    >>> import numpy as np
    >>> from xharm.sharpening.data import scene_to_cubes
    >>> rng = np.random.default_rng(0)
    >>> cubes = scene_to_cubes({10: rng.random((4, 24, 24)), 20: rng.random((6, 12, 12))})
    >>> fit = fit_hpf(cubes)[20].compute()
    >>> fit.dims, fit.shape
    (('time', 'band', 'term'), (1, 6, 10))
    >>> out = sharpen(cubes, method="hpf", fit={20: fit})
    """
    cubes, _, scales, out_gbox = _prepare(s2, s2_20m, s2_60m, bands, valid)
    out = {}
    for scale in scales:
        res = _RES_OF[scale]
        coarse, guide = _classic_inputs(cubes, scale, out_gbox, guided)
        out[res] = xr.DataArray(
            streamed.fit(coarse, guide, scale, mtf=mtf),
            dims=("time", "band", "term"),
            coords={"time": cubes[10]["time"].values, "band": list(BANDS[res]), "term": list(FIT_TERMS)},
            name=f"hpf_fit_{res}m",
            attrs={"mtf": mtf, "scale": scale, "guided": int(guided)},
        )
    return out


def _check_fits(
    fit: Mapping[int, xr.DataArray] | None,
    cubes: Mapping[int, xr.DataArray],
    scales: Sequence[int],
    mtf: float,
) -> dict[int, xr.DataArray]:
    """``fit`` checked against the inputs (dates, bands, MTF), keyed by coarse resolution."""
    out: dict[int, xr.DataArray] = {}
    for res, f in (fit or {}).items():
        r = round(float(res))
        n_time = cubes[10].sizes["time"]
        want = (n_time, len(BANDS.get(r, ())), len(FIT_TERMS))
        same_dates = "time" not in f.coords or (  # as text: unlabelled dates (NaT) compare equal
            np.asarray(f["time"].values).astype(str).tolist()
            == np.asarray(cubes[10]["time"].values).astype(str).tolist()
        )
        if (
            r not in _RES_OF.values()
            or tuple(f.shape) != want
            or float(f.attrs.get("mtf", mtf)) != mtf
            or not same_dates
        ):
            raise DimensionError(
                describe(
                    f"the {r} m fit does not belong to these inputs",
                    expected=f"fit_hpf(...) of the same cubes: shape {want}, mtf {mtf}, the same dates",
                    found=f"shape {tuple(f.shape)}, mtf {f.attrs.get('mtf')}",
                    fix="compute it with xharm.sharpening.fit_hpf on the same inputs and mask",
                )
            )
        out[r] = f
    return out


def _prepare(
    s2: xr.DataArray | Mapping[Any, xr.DataArray],
    s2_20m: xr.DataArray | None,
    s2_60m: xr.DataArray | None,
    bands: Sequence[str] | None,
    valid: xr.DataArray | None,
) -> tuple[dict[int, xr.DataArray], tuple[str, ...], list[int], GeoBox]:
    """Checked inputs (masked), the bands asked for, their scales and the 10 m output grid."""
    cubes = _by_resolution(s2, s2_20m, s2_60m)
    want = tuple(bands) if bands is not None else BANDS[20]
    unknown = [b for b in want if b not in _SCALE_OF]
    if unknown or not want:
        raise MissingBandError(
            describe(
                "cannot sharpen these bands",
                expected="some of " + ", ".join((*BANDS[20], *BANDS[60])),
                found=", ".join(unknown) or "none",
                fix="10 m bands are already at 10 m; B10 (cirrus) is not sharpened",
            )
        )
    scales = sorted({_SCALE_OF[b] for b in want})
    needed = {10, 20} | ({60} if 6 in scales else set())
    for res in sorted(needed):
        if res not in cubes:
            raise DimensionError(
                describe(
                    f"sharpening {', '.join(want)} needs the {res} m cube",
                    expected=f"cubes at {sorted(needed)} m",
                    found=f"cubes at {sorted(cubes)} m",
                    fix="pass sharpen({10: cube10, 20: cube20, 60: cube60}) as read_sentinel2 returns",
                )
            )
        validate(cubes[res], bands=BANDS[res], what=f"Sentinel-2 {res} m cube")
    gboxes = {res: cubes[res].odc.geobox for res in needed}
    for res, g in gboxes.items():
        found = abs(g.resolution.x)
        if abs(found - res) > _TOL * res:
            extra = " (already sharpened or resampled?)" if res != 10 and abs(found - 10) < _TOL else ""
            raise GridError(
                describe(
                    f"the {res} m input is not at {res} m{extra}",
                    expected=f"the native {res} m grid",
                    found=f"{found:g} m pixels",
                    fix="pass the bands on their native grids; a band already at 10 m needs no sharpening",
                )
            )
    out_gbox = output_geobox(gboxes)
    if valid is not None:
        cubes = {r: c.where(mask_to_grid(valid, c.odc.geobox)) for r, c in cubes.items()}
    return cubes, want, scales, out_gbox


def uses_fit(
    method: str = "dsen2", model: str | Mapping[int, str] | None = None, bands: Sequence[str] | None = None
) -> bool:
    """Whether :func:`sharpen` with these arguments needs :func:`fit_hpf`'s per-date fit.

    ``"hpf"`` and ``"bicubic"`` do, and so does an HPF-anchored network (``"hpf"`` is its
    physics input, e.g. the bundled starter); a plain DSen2 network works patch by patch.

    Examples
    --------
    >>> uses_fit("hpf"), uses_fit("bicubic")
    (True, True)
    """
    if method != "dsen2":
        return True
    want = tuple(bands) if bands is not None else BANDS[20]
    for scale in sorted({_SCALE_OF[b] for b in want if b in _SCALE_OF}):
        name = _model_name(model, scale)
        if name is not None and DSen2Handle.of(name).spec().anchored:
            return True
    return False


def _model_name(model: str | Mapping[int, str] | None, scale: int) -> str | None:
    """The model asked for at ``scale`` (one for all scales, or per scale), else the bundled one."""
    return (model.get(scale) if isinstance(model, Mapping) else model) or DEFAULT_MODELS[scale]


def _by_resolution(
    s2: xr.DataArray | Mapping[Any, xr.DataArray], s2_20m: xr.DataArray | None, s2_60m: xr.DataArray | None
) -> dict[int, xr.DataArray]:
    if isinstance(s2, Mapping):
        out = {round(float(k)): v for k, v in s2.items()}
    else:
        out = {10: s2}
    for res, c in ((20, s2_20m), (60, s2_60m)):
        if c is not None:
            out[res] = c
    if 10 not in out:
        raise MissingBandError(
            describe(
                "sharpening needs the 10 m guide bands",
                expected="a 10 m cube with B02, B03, B04, B08",
                found=f"cubes at {sorted(out)} m",
                fix="pass {10: cube10, 20: cube20}",
            )
        )
    return out


def output_geobox(gboxes: Mapping[int, GeoBox]) -> GeoBox:
    """The 10 m output grid: the 10 m input's pixels inside every coarse grid, whole coarse pixels.

    Raises :class:`~xharm.exceptions.GridError` when a coarse grid does not nest in the
    10 m grid (its pixel edges are not 10 m pixel edges) and
    :class:`~xharm.exceptions.CRSError` when the CRSs differ.
    """
    g10 = gboxes[10]
    a10 = g10.affine
    coarsest = max(gboxes)
    for res, g in gboxes.items():
        require_same_crs(g10.crs, g.crs, problem=f"the {res} m cube is in another CRS")
        a = g.affine
        if abs(a.b) > _TOL or abs(a.d) > _TOL or a.e >= 0 or a10.e >= 0:
            raise GridError(describe(f"the {res} m grid is not north-up", expected="north-up grids"))
        cx, cy = (a.c - a10.c) / 10.0, (a10.f - a.f) / 10.0
        if abs(cx - round(cx)) > 1e-6 or abs(cy - round(cy)) > 1e-6:
            raise GridError(
                describe(
                    f"the {res} m grid is not nested in the 10 m grid",
                    expected=f"{res} m pixel edges on 10 m pixel edges (offsets in whole 10 m px)",
                    found=f"offset of {cx:g} x {cy:g} px of 10 m",
                    fix="use the product's native grids (they nest), or align them with xharm.grid",
                )
            )
    ac = gboxes[coarsest].affine
    pix = float(coarsest)
    kx = math.ceil((a10.c - ac.c) / pix - 1e-9)
    ky = math.ceil((ac.f - a10.f) / pix - 1e-9)
    x0, y0 = ac.c + kx * pix, ac.f - ky * pix
    for res, g in gboxes.items():
        if res != 10:
            a = g.affine
            if (
                abs(((x0 - a.c) / res) - round((x0 - a.c) / res)) > 1e-6
                or abs(((a.f - y0) / res) - round((a.f - y0) / res)) > 1e-6
            ):
                raise GridError(
                    describe(f"the {res} m grid is not nested in the {coarsest} m grid", found=(a.c, a.f))
                )
    nx = ny = None
    for g in gboxes.values():
        a = g.affine
        ex = math.floor((a.c + a.a * g.shape.x - x0) / pix + 1e-9)
        ey = math.floor((y0 - (a.f + a.e * g.shape.y)) / pix + 1e-9)
        nx = ex if nx is None else min(nx, ex)
        ny = ey if ny is None else min(ny, ey)
    if not nx or not ny or nx <= 0 or ny <= 0:
        raise GridError(describe("the 10 m and coarse inputs do not overlap", expected="a common footprint"))
    f = int(coarsest // 10)
    return GeoBox((ny * f, nx * f), Affine(10.0, 0.0, x0, 0.0, -10.0, y0), g10.crs)


def _run_dsen2(
    cubes: Mapping[int, xr.DataArray],
    scale: int,
    model: str | Mapping[int, str] | None,
    out_gbox: GeoBox,
    level: str | None,
    chunks: Mapping[str, int] | None,
    batch_size: int,
    mtf: float,
    fits: Mapping[int, xr.DataArray],
) -> tuple[xr.DataArray, xr.DataArray | None, ModelSpec, dict[str, Any]]:
    """The network's output, its physics input (anchored models; else None), spec and attrs."""
    name = _model_name(model, scale)
    if name is None:
        raise MissingBandError(
            describe(
                "no bundled DSen2 model sharpens the 60 m bands",
                expected="model={6: MODEL_DIR} (a 60 m network)",
                found="none given",
                fix="train one (python -m xharm.sharpening.starter --scale 6 --out DIR), or method='hpf'",
            )
        )
    handle = DSen2Handle.of(name)
    spec = handle.spec()
    meta = dict(spec.meta)
    if "dsen2_config" not in meta:
        raise SensorError(describe(f"model {handle.path} is not a DSen2 model", found=spec.name))
    cfg_scale = 6 if spec.name.endswith("60m") else 2
    if cfg_scale != scale:
        raise SensorError(
            describe(
                f"model {handle.path} sharpens by {cfg_scale}x",
                expected=f"a {scale}x ({_RES_OF[scale]} m) model",
            )
        )
    trained = meta.get("processing_level")
    require_level(
        trained,
        level or processing_level(cubes[10]),
        model=str(handle.path),
        fix=f"pass {trained} data, or a model trained on this level (model=...)",
    )
    spec = dataclasses.replace(spec, sensor_in=_sensor(cubes[10]), sensor_out=_sensor(cubes[10]))
    groups = {
        g.name: _run_classic(cubes, scale, "hpf", out_gbox, mtf, fits.get(_RES_OF[scale]), chunks)
        if g.name == ANCHOR_GROUP  # an HPF-anchored network: its physical estimate, per date
        else cubes[int(g.resolution)]
        for g in spec.inputs
    }
    out = apply_model(groups, spec, handle, geobox=out_gbox, chunks=chunks, batch_size=batch_size)
    meta = {"model": handle.path, "model_checksum": str(spec.checksum), "model_level": str(trained)}
    return out, groups.get(ANCHOR_GROUP), spec, meta


def _coarse_window(cube: xr.DataArray, out_gbox: GeoBox, scale: int) -> da.Array:
    oy, ox = nest_offset(out_gbox, cube.odc.geobox, Fraction(1, scale), name=f"{10 * scale} m grid")
    h, w = out_gbox.shape.y // scale, out_gbox.shape.x // scale
    arr = da.asarray(cube.data)
    return window(window(arr, 2, oy, oy + h), 3, ox, ox + w)


def _guide_window(cube: xr.DataArray, out_gbox: GeoBox) -> da.Array:
    oy, ox = nest_offset(out_gbox, cube.odc.geobox, 1, name="10 m grid")
    arr = da.asarray(cube.sel(band=list(BANDS[10])).data)
    return window(window(arr, 2, oy, oy + out_gbox.shape.y), 3, ox, ox + out_gbox.shape.x)


def _classic_inputs(
    cubes: Mapping[int, xr.DataArray],
    scale: int,
    out_gbox: GeoBox,
    guided: bool,
    chunks: Mapping[str, int] | None = None,
) -> tuple[da.Array, da.Array | None]:
    """The coarse bands and 10 m guide on the output grid, in aligned blocks near the output chunks."""
    res = _RES_OF[scale]
    coarse = _coarse_window(cubes[res].sel(band=list(BANDS[res])), out_gbox, scale)
    guide = _guide_window(cubes[10], out_gbox) if guided else None
    side = min([int(v) for k, v in (chunks or {}).items() if k in ("y", "x")] or [streamed.DEFAULT_CHUNK])
    return streamed.align(coarse, guide, scale, side)


def _run_classic(
    cubes: Mapping[int, xr.DataArray],
    scale: int,
    method: str,
    out_gbox: GeoBox,
    mtf: float,
    fit: xr.DataArray | None = None,
    chunks: Mapping[str, int] | None = None,
) -> xr.DataArray:
    """``"hpf"`` / ``"bicubic"`` chunk by chunk (:mod:`xharm.sharpening.streamed`), lazily.

    ``fit``: the dates' fits from :func:`fit_hpf` (computed once, e.g. by a job that
    writes region by region); None: fitted lazily in the same graph.
    """
    res = _RES_OF[scale]
    guided = method == "hpf"
    if fit is None:  # the fit's blocks do not follow the output chunks: results do not either
        fits = streamed.fit(*_classic_inputs(cubes, scale, out_gbox, guided), scale, mtf=mtf)
    elif guided and not int(fit.attrs.get("guided", 1)):
        raise DimensionError(
            describe(
                f"the {res} m fit has no regression weights",
                expected="fit_hpf(..., guided=True) for method 'hpf' or an HPF-anchored network",
                found="fit_hpf(..., guided=False)",
            )
        )
    else:
        fits = fit.data
    coarse, guide = _classic_inputs(cubes, scale, out_gbox, guided, chunks)
    out = streamed.apply(coarse, guide, fits, scale, mtf=mtf)
    return make_cube(
        out, geobox=out_gbox, bands=BANDS[res], sensor=_sensor(cubes[10]), time=list(cubes[10]["time"].values)
    )


def _sensor(cube: xr.DataArray) -> str:
    return str(cube.attrs.get("sensor") or "sentinel-2a")


def _project(
    out: xr.DataArray, coarse_cube: xr.DataArray, scale: int, out_gbox: GeoBox, mtf: float
) -> xr.DataArray:
    """The exact consistency projection, block by block with a halo (lazy, :func:`streamed.project`)."""
    coarse = _coarse_window(coarse_cube.sel(band=list(out.band.values)), out_gbox, scale)
    fine = da.asarray(out.data)
    chunks = fine.chunks
    side = max(chunks[2][0], chunks[3][0])
    coarse, aligned = streamed.align(coarse, fine, scale, side, least=inverse_halo(scale, mtf))
    projected = streamed.project(cast(da.Array, aligned), coarse, scale, mtf=mtf)
    return out.copy(data=projected.rechunk(chunks))
