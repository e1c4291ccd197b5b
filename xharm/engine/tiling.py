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

Training pairs (:func:`xharm.engine.pairs.extract_pairs`) use patches that lie fully inside the
image at a stride of half a patch. This module is pure patch arithmetic on NumPy arrays:
where the output grid lies is decided by :func:`xharm.core.grid.output_grid` (the one grid
authority), and windowing Dask arrays is :mod:`xharm.engine.apply`'s business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..exceptions import DimensionError, GridError, describe
from ..spec import ModelSpec

__all__ = ["TileSpec", "cut_patches", "patch_windows", "stitch"]


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
    win = patch_windows(image, patch, stride)  # (T, ny, nx, C, P, P)
    t, ny, nx, c = win.shape[:4]
    return np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3)).reshape(t * ny * nx, patch, patch, c)


def patch_windows(image: np.ndarray, patch: int, stride: int) -> np.ndarray:
    """The patches of :func:`cut_patches` as a read-only view ``(T, ny, nx, C, patch, patch)`` (no copy).

    Examples
    --------
    >>> img = np.arange(6 * 6, dtype="float32").reshape(1, 6, 6, 1)
    >>> w = patch_windows(img, 4, 2)
    >>> w.shape, bool((w[0, 0, 1, 0] == cut_patches(img, 4, 2)[1, ..., 0]).all())
    ((1, 2, 2, 1, 4, 4), True)
    """
    if image.ndim != 4:
        raise DimensionError(describe("cut_patches wants (T, Y, X, C)", found=image.shape))
    y, x = image.shape[1:3]
    if y < patch or x < patch:
        raise DimensionError(
            describe("image smaller than one patch", expected=f">= {patch} px", found=(y, x))
        )
    win = np.lib.stride_tricks.sliding_window_view(image, (patch, patch), axis=(1, 2))
    return win[:, ::stride, ::stride]


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
