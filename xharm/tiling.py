"""Patch geometry on nested grids: cut patches, stitch them back, and window Dask arrays.

All geometry is counted in pixels of the *output* grid (30 m for the MGAN) and converted
exactly to each input grid with a rational factor (10 m: 3, 20 m: 3/2). A length in
output pixels is valid when it converts to whole pixels on every grid, i.e. it is a
multiple of :attr:`TileSpec.quantum` (2 for the MGAN: strides, buffers and chunk sizes
in 30 m pixels are even, so 20 m offsets are integral).

Inference tiles the output grid with the *kept* centre of each patch: patch ``k`` starts
at ``k * stride - buffer`` with ``stride = patch - 2 * buffer``, and only its centre
``[buffer, buffer + stride)`` is written (the MGAN paper's 1/4 buffer). Patches are
anchored on the global grid, so any chunking of the output computes every pixel from
the very same patch: chunked and unchunked results are identical.

Training pairs (:func:`xharm.pairs.extract_pairs`, re-exported here) use patches that
lie fully inside the image at a stride of half a patch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import dask.array as da
import numpy as np
from affine import Affine
from odc.geo.geobox import GeoBox

from .exceptions import CRSError, DimensionError, GridError, describe
from .spec import ModelSpec
from .validate import crs_name

__all__ = [
    "TileSpec",
    "cut_patches",
    "default_output_geobox",
    "nest_offset",
    "stitch",
    "window",
]

_TOL = 1e-6


@dataclass(frozen=True)
class TileSpec:
    """Patch size, stride and buffer on the output grid, and how they map to each input grid.

    Parameters
    ----------
    factors
        ``(group name, numerator, denominator)``: input pixels per output pixel
        (10 m input under a 30 m output: ``("s2_10m", 3, 1)``; 20 m: ``(…, 3, 2)``).
    patch
        Patch side in output pixels.
    stride
        Distance between patch starts in output pixels.
    buffer
        Pixels skipped on each side of a patch when stitching (0 for training pairs).

    Examples
    --------
    >>> from xharm.spec import mgan_spec
    >>> t = TileSpec.from_spec(mgan_spec())
    >>> t.patch, t.stride, t.buffer, t.quantum
    (128, 64, 32, 2)
    >>> t.patch_px("s2_20m"), t.buffer_px("s2_20m"), t.to_input("s2_10m", 10)
    (192, 48, 30)
    """

    factors: tuple[tuple[str, int, int], ...]
    patch: int
    stride: int
    buffer: int = 0

    def __post_init__(self) -> None:
        if self.patch <= 0 or self.stride <= 0 or self.buffer < 0 or 2 * self.buffer >= self.patch:
            raise GridError(
                describe(
                    "inconsistent tile geometry",
                    expected="patch > 0, stride > 0, 0 <= buffer < patch / 2",
                    found=f"patch={self.patch}, stride={self.stride}, buffer={self.buffer}",
                )
            )
        for name, value in (("patch", self.patch), ("stride", self.stride), ("buffer", self.buffer)):
            if value % self.quantum:
                raise GridError(
                    describe(
                        f"tile {name} of {value} output px is not whole pixels on every input grid",
                        expected=f"a multiple of {self.quantum}",
                        found=value,
                        fix="pick patch/stride/buffer sizes that are multiples of the grid quantum",
                    )
                )

    @classmethod
    def from_spec(cls, spec: ModelSpec, *, stride: int | None = None, buffer: int | None = None) -> TileSpec:
        """Geometry of a :class:`~xharm.spec.ModelSpec`.

        Defaults are for seamless inference: ``buffer = spec.buffer * patch`` and
        ``stride = patch - 2 * buffer``. For training pairs pass ``stride=patch // 2, buffer=0``.
        """
        p = spec.output.patch
        factors = []
        for g in spec.inputs:
            f = Fraction(g.patch, p)
            factors.append((g.name, f.numerator, f.denominator))
        b = spec.buffer_px if buffer is None else int(buffer)
        s = p - 2 * b if stride is None else int(stride)
        return cls(tuple(factors), p, s, b)

    # ---------------------------------------------------------------- conversions
    @property
    def names(self) -> tuple[str, ...]:
        """Input group names."""
        return tuple(n for n, _, _ in self.factors)

    @property
    def quantum(self) -> int:
        """Smallest output length that is whole pixels on every input grid."""
        return math.lcm(1, *(d for _, _, d in self.factors))

    @property
    def keep(self) -> int:
        """Side of the kept centre of a patch (``patch - 2 * buffer``)."""
        return self.patch - 2 * self.buffer

    def factor(self, name: str) -> Fraction:
        """Input pixels per output pixel of group ``name``."""
        for n, num, den in self.factors:
            if n == name:
                return Fraction(num, den)
        raise KeyError(describe(f"no input group {name!r}", expected=", ".join(self.names), found=name))

    def to_input(self, name: str, n_out: int) -> int:
        """Convert a length/offset in output pixels to pixels of group ``name`` (exactly)."""
        v = self.factor(name) * n_out
        if v.denominator != 1:
            raise GridError(
                describe(
                    f"{n_out} output px is not a whole number of {name} pixels",
                    expected=f"a multiple of {self.quantum} output px",
                    found=f"{float(v):g} {name} px",
                )
            )
        return int(v)

    def patch_px(self, name: str) -> int:
        """Patch side in pixels of group ``name``."""
        return self.to_input(name, self.patch)

    def stride_px(self, name: str) -> int:
        """Stride in pixels of group ``name``."""
        return self.to_input(name, self.stride)

    def buffer_px(self, name: str) -> int:
        """Buffer in pixels of group ``name``."""
        return self.to_input(name, self.buffer)

    # ---------------------------------------------------------------- layouts
    def padded(self, n_out: int) -> int:
        """Output length rounded up to whole kept centres (``ceil(n / keep) * keep``)."""
        return -(-n_out // self.keep) * self.keep

    def cover_starts(self, n_out: int) -> np.ndarray:
        """Patch starts (output px, may be negative) whose kept centres tile ``[0, n_out)``."""
        return np.arange(self.padded(n_out) // self.keep) * self.keep - self.buffer

    def inside_starts(self, n_out: int) -> np.ndarray:
        """Patch starts on the stride grid for patches that lie fully inside ``[0, n_out)``."""
        if n_out < self.patch:
            return np.zeros(0, dtype=int)
        return np.arange((n_out - self.patch) // self.stride + 1) * self.stride

    def chunk(self, target: int) -> int:
        """A chunk length near ``target`` output px that is a whole number of kept centres."""
        return max(1, round(target / self.keep)) * self.keep

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        return ("xharm.TileSpec", self.factors, self.patch, self.stride, self.buffer)


# -------------------------------------------------------------------- NumPy cut / stitch


def cut_patches(image: np.ndarray, patch: int, stride: int) -> np.ndarray:
    """Cut square patches at multiples of ``stride`` from a ``(T, Y, X, C)`` image.

    Returns ``(T * ny * nx, patch, patch, C)`` with ``ny = (Y - patch) // stride + 1``,
    patches in ``(t, row, col)`` order (C order).

    Examples
    --------
    >>> img = np.arange(6 * 6, dtype="float32").reshape(1, 6, 6, 1)
    >>> p = cut_patches(img, 4, 2)
    >>> p.shape, p[1, 0, :, 0].tolist()
    ((4, 4, 4, 1), [2.0, 3.0, 4.0, 5.0])
    """
    if image.ndim != 4:
        raise DimensionError(describe("cut_patches wants (T, Y, X, C)", found=image.shape))
    t, y, x, c = image.shape
    if y < patch or x < patch:
        raise DimensionError(
            describe("image smaller than one patch", expected=f">= {patch} px", found=(y, x))
        )
    win = np.lib.stride_tricks.sliding_window_view(image, (patch, patch), axis=(1, 2))
    win = win[:, ::stride, ::stride]  # (T, ny, nx, C, P, P)
    ny, nx = win.shape[1:3]
    return np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3)).reshape(t * ny * nx, patch, patch, c)


def stitch(patches: np.ndarray, grid: tuple[int, int, int], buffer: int) -> np.ndarray:
    """Assemble patches laid out on a ``(T, ny, nx)`` grid, keeping each patch's centre.

    Patch ``(t, i, j)`` must have been cut at ``(i * keep - buffer, j * keep - buffer)``
    with ``keep = patch - 2 * buffer``; the result is ``(T, ny * keep, nx * keep, C)``.
    Patches may also be passed already cropped to their centre (side ``keep``) with
    ``buffer=0``.

    Examples
    --------
    >>> img = np.arange(8 * 8, dtype="float32").reshape(1, 8, 8, 1)
    >>> padded = np.pad(img, ((0, 0), (1, 1), (1, 1), (0, 0)))
    >>> out = stitch(cut_patches(padded, 6, 4), (1, 2, 2), buffer=1)
    >>> bool((out == img).all())
    True
    """
    t, ny, nx = grid
    n, p, p2, c = patches.shape
    if n != t * ny * nx or p != p2 or p <= 2 * buffer:
        raise DimensionError(
            describe(
                "patches do not match the stitch grid",
                expected=f"{t * ny * nx} square patches",
                found=patches.shape,
            )
        )
    k = p - 2 * buffer
    centre = patches[:, buffer : buffer + k, buffer : buffer + k, :].reshape(t, ny, nx, k, k, c)
    return centre.transpose(0, 1, 3, 2, 4, 5).reshape(t, ny * k, nx * k, c)


# -------------------------------------------------------------------- grids


def nest_offset(
    outer: GeoBox, inner: GeoBox, factor: Fraction | float, *, name: str = "input"
) -> tuple[int, int]:
    """Offset ``(row, col)``, in pixels of ``inner``, of the top-left corner of ``outer``.

    Checks that both grids share a CRS and axis orientation, that ``inner`` pixels are
    ``factor`` times smaller, and that ``outer``'s corner falls on an ``inner`` pixel edge.

    Examples
    --------
    >>> g10 = GeoBox.from_bbox((600000, 4999400, 600600, 5000000), "EPSG:32632", resolution=10)
    >>> g30 = GeoBox.from_bbox((600060, 4999410, 600600, 4999950), "EPSG:32632", resolution=30)
    >>> nest_offset(g30, g10, 3)
    (5, 6)
    """
    if outer.crs != inner.crs:
        raise CRSError(
            describe(
                f"{name} is in another CRS than the output grid",
                expected=crs_name(outer.crs),
                found=crs_name(inner.crs),
            )
        )
    ao, ai = outer.affine, inner.affine
    if abs(ao.b) > _TOL or abs(ao.d) > _TOL or abs(ai.b) > _TOL or abs(ai.d) > _TOL:
        raise GridError(describe(f"{name} or the output grid is rotated", expected="north-up grids"))
    f = float(factor)
    for axis, (o, i) in {"x": (ao.a, ai.a), "y": (ao.e, ai.e)}.items():
        if abs(o - i * f) > _TOL * abs(o):
            raise GridError(
                describe(
                    f"{name} pixel size along {axis} does not nest in the output grid",
                    expected=f"{o / f:g} m ({f:g} px per output px)",
                    found=f"{i:g} m",
                    fix="check the model spec's resolutions, or align the grids with xharm.grid",
                )
            )
    col = (ao.c - ai.c) / ai.a
    row = (ao.f - ai.f) / ai.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        raise GridError(
            describe(
                f"the output grid corner is not on a {name} pixel edge",
                expected="an integer pixel offset",
                found=f"row {row:g}, col {col:g}",
                fix="align the grids so that they nest exactly (xharm.grid), e.g. snap to a common corner",
            )
        )
    return round(row), round(col)


def default_output_geobox(geoboxes: Mapping[str, GeoBox], resolution: float) -> GeoBox:
    """The output grid at ``resolution`` anchored at the first grid's corner, inside every grid.

    Examples
    --------
    >>> g10 = GeoBox.from_bbox((600000, 4999000, 600370, 5000000), "EPSG:32632", resolution=10)
    >>> default_output_geobox({"a": g10}, 30).shape
    Shape2d(x=12, y=33)
    """
    first = next(iter(geoboxes.values()))
    a = first.affine
    ry = math.copysign(resolution, a.e)
    x0, y0 = a.c, a.f
    ny = nx = None
    for g in geoboxes.values():
        b = g.affine
        ext_x = (b.c + b.a * g.shape.x - x0) / resolution
        ext_y = (b.f + b.e * g.shape.y - y0) / ry
        cy, cx = math.floor(ext_y + 1e-9), math.floor(ext_x + 1e-9)
        ny = cy if ny is None else min(ny, cy)
        nx = cx if nx is None else min(nx, cx)
    if not ny or not nx or ny <= 0 or nx <= 0:
        raise GridError(describe("the inputs do not overlap", expected="a common footprint"))
    return GeoBox((ny, nx), Affine(resolution, 0.0, x0, 0.0, ry, y0), first.crs)


def window(arr: Any, axis: int, start: int, stop: int, fill: float = np.nan) -> Any:
    """Rows ``[start, stop)`` of ``arr`` along ``axis``, padded with ``fill`` outside the array (lazy).

    Examples
    --------
    >>> window(np.arange(4.0), 0, -2, 3, fill=0).tolist()
    [0.0, 0.0, 0.0, 1.0, 2.0]
    """
    n = arr.shape[axis]
    if start >= n or stop <= 0:
        lo = hi = 0
        before, after = stop - start, 0
    else:
        lo, hi = max(start, 0), min(stop, n)
        before, after = lo - start, stop - hi
    if hi <= lo:  # entirely outside: a constant array
        shape = tuple(stop - start if i == axis else n_i for i, n_i in enumerate(arr.shape))
        dtype = np.result_type(arr.dtype, np.min_scalar_type(fill) if np.isfinite(fill) else np.float32)
        if isinstance(arr, da.Array):
            chunks = tuple((stop - start,) if i == axis else c for i, c in enumerate(arr.chunks))
            return da.full(shape, fill, dtype=dtype, chunks=chunks)
        return np.full(shape, fill, dtype=dtype)
    sl = [slice(None)] * arr.ndim
    sl[axis] = slice(lo, hi)
    part = arr[tuple(sl)]
    if before or after:
        pad = [(0, 0)] * arr.ndim
        pad[axis] = (before, after)
        mod = da if isinstance(part, da.Array) else np
        part = mod.pad(part, pad, mode="constant", constant_values=fill)
    return part


def __getattr__(name: str) -> Any:
    """``tiling.extract_pairs`` re-exports :func:`xharm.pairs.extract_pairs` (which builds on
    :class:`TileSpec`), imported on first access so either module can be imported first."""
    if name == "extract_pairs":
        from .pairs import extract_pairs

        return extract_pairs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
