"""Continuous parcel geometry: blocks, fields, linear features and point features in metres.

The landscape is defined in continuous coordinates (metres, ``x`` east, ``y`` down from
the upper-left corner), not on the pixel lattice, so parcel edges have arbitrary
orientation and sub-pixel position:

- **Blocks** are the Voronoi cells of one seed per cell of a jittered square lattice
  (spacing ``block_m``): polygons with straight edges at any angle. Block edges carry the
  road / hedgerow network.
- **Fields** tile each block: strips of width ``w_b`` across the block's own orientation
  ``theta_b`` (any angle), cut into segments of length ``l_b`` with a random phase per strip.
- **Coverage** of a 10 m pixel by its neighbour across the nearest edge is the linear ramp
  ``clip(1/2 - d / h, 0, 1/2)`` with ``d`` the distance from the pixel centre to the edge and
  ``h = 10 m (|n_x| + |n_y|)`` the pixel's width along the edge normal ``n``: the exact area
  fraction of a square cut by a straight line, up to the corner rounding.

Everything is a pure function of ``(x, y)`` and per-block values drawn from the seed, so
any grid (a shifted one too) sees the same parcels; :meth:`Parcels.key_at` is that function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Parcels", "hash01", "line_cover", "make_parcels", "mixed_fraction"]

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def hash01(*parts: np.ndarray | int) -> np.ndarray:
    """Deterministic uniform [0, 1) values from integer arrays (splitmix64 of their mix).

    Examples
    --------
    >>> a = hash01(np.arange(5), 7)
    >>> a.shape, bool((a >= 0).all() and (a < 1).all()), bool((hash01(np.arange(5), 7) == a).all())
    ((5,), True, True)
    """
    with np.errstate(over="ignore"):
        z: np.ndarray = np.asarray(np.uint64(0x9E3779B97F4A7C15))
        for p in parts:
            z = (z ^ np.asarray(p).astype("int64").astype("uint64")) * _M1
            z = (z ^ (z >> np.uint64(31))) * _M2
        z = z ^ (z >> np.uint64(29))
    return (np.asarray(z) >> np.uint64(11)).astype("float64") / float(1 << 53)


def line_cover(d: np.ndarray, width: float | np.ndarray, h: np.ndarray) -> np.ndarray:
    """Share of a pixel ``h`` wide (along the normal) covered by a band ``width`` wide at distance ``d``.

    Examples
    --------
    >>> line_cover(np.array([0.0, 5.0, 20.0]), 5.0, np.full(3, 10.0)).tolist()
    [0.5, 0.25, 0.0]
    """
    lo = np.maximum(d - h / 2, -np.asarray(width) / 2)
    hi = np.minimum(d + h / 2, np.asarray(width) / 2)
    return (np.clip(hi - lo, 0.0, None) / h).astype("float32")


@dataclass(frozen=True, eq=False)
class Parcels:
    """Blocks on a jittered lattice and the field layout inside each block.

    Attributes
    ----------
    block_m
        Lattice spacing of the block seeds (m); blocks are their Voronoi cells.
    seeds
        ``(gy, gx, 2)`` seed positions ``(x, y)`` in metres; the lattice covers the scene
        plus one cell of margin (cell ``(iy, ix)`` spans ``[(ix - 1) block_m, ix block_m)``).
    theta, width, length
        ``(gy, gx)`` field orientation (rad), strip width and segment length (m) per block.
    salt
        Seed mixed into the per-strip phases.
    """

    block_m: float
    seeds: np.ndarray
    theta: np.ndarray
    width: np.ndarray
    length: np.ndarray
    salt: int

    @property
    def n_blocks(self) -> int:
        return int(self.theta.size)

    def blocks_at(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
        """Nearest and second-nearest block, distance to their shared edge and its unit normal.

        Returns ``(b1, b2, d, nx, ny)``: flat block indices, distance (m) from the point to
        the bisector of the two seeds and the normal pointing from ``b1`` towards ``b2``.
        """
        x, y = np.asarray(x, "float64"), np.asarray(y, "float64")
        gy, gx = self.theta.shape
        cx = np.floor(x / self.block_m).astype("int64") + 1
        cy = np.floor(y / self.block_m).astype("int64") + 1
        best = np.full((2, *x.shape), np.inf)
        idx = np.full((2, *x.shape), -1, dtype="int64")
        for oy in (-1, 0, 1):
            for ox in (-1, 0, 1):
                iy, ix = np.clip(cy + oy, 0, gy - 1), np.clip(cx + ox, 0, gx - 1)
                b = iy * gx + ix
                s = self.seeds.reshape(-1, 2)[b]
                d2 = (x - s[..., 0]) ** 2 + (y - s[..., 1]) ** 2
                d2 = np.where((b == idx[0]) | (b == idx[1]), np.inf, d2)  # clipped duplicates
                first = d2 < best[0]
                second = ~first & (d2 < best[1])
                best[1] = np.where(first, best[0], np.where(second, d2, best[1]))
                idx[1] = np.where(first, idx[0], np.where(second, b, idx[1]))
                best[0] = np.where(first, d2, best[0])
                idx[0] = np.where(first, b, idx[0])
        s1, s2 = self.seeds.reshape(-1, 2)[idx[0]], self.seeds.reshape(-1, 2)[idx[1]]
        dx, dy = s2[..., 0] - s1[..., 0], s2[..., 1] - s1[..., 1]
        norm = np.maximum(np.hypot(dx, dy), 1e-9)
        d = (best[1] - best[0]) / (2 * norm)
        return idx[0], idx[1], d, dx / norm, dy / norm

    def frame(self, x: np.ndarray, y: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
        """Field coordinates ``(u, v)`` of points in block ``b``'s frame, and ``cos``/``sin`` of it."""
        s = self.seeds.reshape(-1, 2)[b]
        th = self.theta.ravel()[b]
        c, sn = np.cos(th), np.sin(th)
        rx, ry = x - s[..., 0], y - s[..., 1]
        return rx * c + ry * sn, -rx * sn + ry * c, c, sn

    def key_at(self, x: np.ndarray, y: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        """Field key (int64, unique per field) of points ``(x, y)``; ``b`` forces the block.

        Examples
        --------
        >>> p = make_parcels(1000.0, 1000.0, 400.0, (60, 120), (100, 300), seed=0)
        >>> k = p.key_at(np.array([10.0, 10.5]), np.array([10.0, 10.0]))
        >>> bool(k[0] == k[1])
        True
        """
        if b is None:
            b = self.blocks_at(x, y)[0]
        u, v, _, _ = self.frame(x, y, b)
        w, ln = self.width.ravel()[b], self.length.ravel()[b]
        i = np.floor(u / w).astype("int64")
        j = np.floor((v + hash01(self.salt, b, i) * ln) / ln).astype("int64")
        return (b << 40) + ((i + (1 << 19)) << 20) + (j + (1 << 19))

    def edges_at(
        self, x: np.ndarray, y: np.ndarray, blocks: tuple[np.ndarray, ...] | None = None, near: float = np.inf
    ) -> dict[str, np.ndarray]:
        """Everything a pixel centre needs: its field, the nearest edge and the field beyond it.

        Returns a dict with ``key`` (own field), ``key2`` (field across the nearest edge),
        ``d`` (distance to that edge, m), ``nx``/``ny`` (its unit normal), ``kind`` (0 block
        edge, 1 strip edge, 2 segment edge), ``block_d`` / ``block_nx`` / ``block_ny`` (the
        nearest block edge), ``strip_d`` (nearest strip edge), ``b1``/``b2`` (blocks), ``u``
        and ``strip`` (strip index) in the own block's frame.
        """
        b1, b2, db, bnx, bny = self.blocks_at(x, y) if blocks is None else blocks
        u, v, c, sn = self.frame(x, y, b1)
        w, ln = self.width.ravel()[b1], self.length.ravel()[b1]
        i = np.floor(u / w).astype("int64")
        ph = hash01(self.salt, b1, i) * ln
        j = np.floor((v + ph) / ln).astype("int64")
        key = (b1 << 40) + ((i + (1 << 19)) << 20) + (j + (1 << 19))
        fu = u - i * w
        du = np.minimum(fu, w - fu)
        su = np.where(fu < w / 2, -1.0, 1.0)  # towards the nearer strip edge
        fv = v + ph - j * ln
        dv = np.minimum(fv, ln - fv)
        sv = np.where(fv < ln / 2, -1.0, 1.0)
        kind = np.where(db <= np.minimum(du, dv), 0, np.where(du <= dv, 1, 2))
        d = np.choose(kind, [db, du, dv])
        nx = np.choose(kind, [bnx, su * c, -sv * sn])
        ny = np.choose(kind, [bny, su * sn, sv * c])
        key2 = key.copy()
        m = d < near  # the field across the edge matters only this close to it
        step = d[m] + 0.25
        key2[m] = self.key_at(x[m] + nx[m] * step, y[m] + ny[m] * step, np.where(kind == 0, b2, b1)[m])
        return {"key": key, "key2": key2, "d": d, "nx": nx, "ny": ny, "kind": kind, "block_d": db, "v": v,
                "block_nx": bnx, "block_ny": bny, "strip_d": du, "strip_nx": su * c, "strip_ny": su * sn,
                "b1": b1, "b2": b2, "u": u, "strip": i}  # fmt: skip


def make_parcels(
    width_m: float,
    height_m: float,
    block_m: float,
    strip_m: tuple[float, float],
    segment_m: tuple[float, float],
    *,
    seed: int,
    theta_spread_deg: float = 180.0,
    jitter: float = 0.8,
) -> Parcels:
    """Draw the block lattice and per-block field layouts for a ``width_m`` x ``height_m`` scene.

    Parameters
    ----------
    block_m
        Seed spacing (typical block diameter).
    strip_m, segment_m
        Ranges of field width and length (m), drawn log-uniformly per block.
    theta_spread_deg
        Orientations are ``theta0 + U(-spread/2, spread/2)`` (180: any angle; small: a
        surveyed grid like the US or Ukrainian plains).
    jitter
        Seed jitter as a fraction of the cell (0: regular square blocks).
    """
    rng = np.random.default_rng([seed, 211])
    gy, gx = int(np.ceil(height_m / block_m)) + 2, int(np.ceil(width_m / block_m)) + 2
    iy, ix = np.mgrid[0:gy, 0:gx].astype("float64")
    jit = (rng.random((2, gy, gx)) - 0.5) * jitter
    seeds = np.stack([(ix - 0.5 + jit[0]) * block_m, (iy - 0.5 + jit[1]) * block_m], axis=-1)
    theta0 = rng.uniform(0, np.pi)
    theta = theta0 + np.radians(rng.uniform(-theta_spread_deg / 2, theta_spread_deg / 2, (gy, gx)))

    def logu(lo: float, hi: float) -> np.ndarray:
        return np.exp(rng.uniform(np.log(lo), np.log(hi), (gy, gx)))

    return Parcels(block_m, seeds, theta, logu(*strip_m), logu(*segment_m), int(rng.integers(1 << 30)))


def mixed_fraction(
    parcels: Parcels,
    extent_m: tuple[float, float],
    cell_m: float = 30.0,
    offset_m: tuple[float, float] = (0.0, 0.0),
    samples: int = 6,
) -> float:
    """Share of ``cell_m`` grid cells that hold more than one field (``samples``² points per cell).

    ``offset_m = (dx, dy)`` shifts the grid east / north (a Landsat-like grid is ``(6, -4)``);
    cells stay inside ``extent_m = (width, height)`` with a one-cell margin.

    Examples
    --------
    >>> p = make_parcels(1200.0, 1200.0, 400.0, (60, 120), (100, 300), seed=0)
    >>> 0.2 < mixed_fraction(p, (1200.0, 1200.0)) < 0.8
    True
    """
    nx, ny = int(extent_m[0] // cell_m) - 2, int(extent_m[1] // cell_m) - 2
    o = (np.arange(samples) + 0.5) / samples * cell_m
    x0 = cell_m * (1 + np.arange(nx)) + offset_m[0]
    y0 = cell_m * (1 + np.arange(ny)) - offset_m[1]  # y runs south
    xs = (x0[:, None] + o[None, :]).ravel()
    ys = (y0[:, None] + o[None, :]).ravel()
    y, x = np.meshgrid(ys, xs, indexing="ij")
    k = parcels.key_at(x, y).reshape(ny, samples, nx, samples)
    first = k[:, :1, :, :1]
    return float((k != first).any(axis=(1, 3)).mean())
