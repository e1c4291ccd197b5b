"""Landsat-to-Sentinel-2 misregistration: a documented, zero-mean distribution drawn per date.

Source: Rengarajan et al. (2024), *Co-registration accuracy between Landsat-8 and
Sentinel-2 orthorectified products* (USGS publication 70254589, Remote Sensing of
Environment): with the Sentinel-2 Global Reference Image (GRI) used for both Landsat
Collection-2 ground control and the S2 L1C geometric refinement (since August 2021), the
image-to-image misregistration of L8 C2 L1TP and S2 L1C is **< 6 m CE90**; without the GRI
it is > 12 m CE90. For a circular, zero-mean bivariate normal error with standard deviation
``s`` per axis, ``CE90 = s sqrt(-2 ln 0.1) = 2.146 s``, so ``s = 6 / 2.146 = 2.8 m``
(:data:`GRI_SIGMA_M`, the default) and ``s = 12 / 2.146 = 5.6 m`` for pre-GRI products
(:data:`PRE_GRI_SIGMA_M`). The error is drawn independently per (scene, date): a
systematic offset per scene would be learnable and is not what the paper reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import XharmError, describe

__all__ = [
    "GRI_SIGMA_M",
    "PRE_GRI_SIGMA_M",
    "Misregistration",
    "MisregistrationError",
    "draw_shift",
    "resolve_misregistration",
]

#: ``sqrt(-2 ln(1 - 0.9))``: CE90 of a circular normal in units of its per-axis sigma.
_CE90_PER_SIGMA = float(np.sqrt(-2.0 * np.log(0.1)))
#: Per-axis sigma (m) of L8 C2 vs S2 L1C with the GRI: 6 m CE90 (Rengarajan et al. 2024).
GRI_SIGMA_M = round(6.0 / _CE90_PER_SIGMA, 2)
#: Per-axis sigma (m) without the GRI in the S2 processing: 12 m CE90 (same source).
PRE_GRI_SIGMA_M = round(12.0 / _CE90_PER_SIGMA, 2)


class MisregistrationError(XharmError, ValueError):
    """A ``misregistration=`` value that is neither a shift, a distribution nor 0."""


@dataclass(frozen=True)
class Misregistration:
    """Zero-mean (by default) bivariate normal misregistration of Landsat against Sentinel-2.

    Attributes
    ----------
    sigma_m
        Standard deviation per axis (east, north), metres. Default: :data:`GRI_SIGMA_M`.
    mean_m
        Mean shift ``(dx, dy)``, metres (east, north); ``(0, 0)`` for the published case.

    Examples
    --------
    >>> m = Misregistration()
    >>> m.sigma_m, round(m.ce90_m, 1)
    (2.8, 6.0)
    """

    sigma_m: float = GRI_SIGMA_M
    mean_m: tuple[float, float] = (0.0, 0.0)

    @property
    def ce90_m(self) -> float:
        """Circular error at 90 % probability of the zero-mean part."""
        return self.sigma_m * _CE90_PER_SIGMA

    def draw(self, rng: np.random.Generator) -> tuple[float, float]:
        """One ``(dx, dy)`` shift in metres (content moves ``dx`` east, ``dy`` north)."""
        d = rng.normal(0.0, self.sigma_m, 2)
        return (round(float(self.mean_m[0] + d[0]), 4), round(float(self.mean_m[1] + d[1]), 4))


def resolve_misregistration(value: Any) -> tuple[float, float] | Misregistration:
    """Normalise a ``misregistration=`` argument: a fixed ``(dx, dy)``, a distribution, or 0.

    ``None`` gives the default :class:`Misregistration`; ``0`` gives ``(0.0, 0.0)``.

    Examples
    --------
    >>> resolve_misregistration(0), resolve_misregistration((6, -4))
    ((0.0, 0.0), (6.0, -4.0))
    """
    if value is None:
        return Misregistration()
    if isinstance(value, Misregistration):
        if not (np.isfinite(value.sigma_m) and value.sigma_m >= 0):
            raise MisregistrationError(
                describe(
                    "misregistration sigma must be finite and >= 0",
                    expected=">= 0 m",
                    found=value.sigma_m,
                    fix="e.g. Misregistration(sigma_m=2.8)",
                )
            )
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return (0.0, 0.0)
    if isinstance(value, tuple | list) and len(value) == 2:
        try:
            dx, dy = float(value[0]), float(value[1])
        except (TypeError, ValueError):
            dx = dy = float("nan")
        if np.isfinite(dx) and np.isfinite(dy):
            return (dx, dy)
    raise MisregistrationError(
        describe(
            "misregistration must be a fixed shift, a distribution or 0",
            expected="(dx, dy) in metres, a xharm.simulate.geometry.Misregistration, 0 or None",
            found=repr(value),
            fix="pass misregistration=(6.0, -4.0), misregistration=Misregistration(sigma_m=2.8) or 0",
        )
    )


def draw_shift(
    spec: tuple[float, float] | Misregistration, seed: int, date_index: int
) -> tuple[float, float]:
    """The Landsat shift of one date: the fixed value, or a draw seeded by ``(seed, date)``.

    Examples
    --------
    >>> draw_shift((6.0, -4.0), 0, 3)
    (6.0, -4.0)
    >>> draw_shift(Misregistration(), 0, 1) == draw_shift(Misregistration(), 0, 1)
    True
    """
    if isinstance(spec, Misregistration):
        return spec.draw(np.random.default_rng([seed, date_index, 5]))
    return (float(spec[0]), float(spec[1]))
