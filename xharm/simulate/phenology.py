"""Per-crop phenology: LAI and leaf-pigment state over a season.

LAI follows a double logistic in day of year (Zhang et al. 2003, RSE 84:471; Beck et
al. 2006, RSE 100:321)::

    LAI(t) = lai_min + (lai_max - lai_min) * (sig((t - t_up) / w_up) - sig((t - t_down) / w_down))

clipped to zero before sowing and after harvest (bare soil, the canopy's own background).
A greenness state ``s`` in [0, 1] falls from 1 to 0 around ``t_sen``; it sets chlorophyll
``Cab = 5 + (cab_max - 5) s`` and brown pigments ``Cbrown = 0.8 (1 - s)`` for PROSAIL.
Calendars are typical of central European agriculture (winter wheat and rapeseed
sown in autumn, maize/soybean/sugar beet in spring; grassland mown three times;
deciduous forest leaf-on/leaf-off; conifers evergreen). Every field gets its own shift
of the calendar (days) and LAI scale, so fields of one crop differ a little.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CALENDARS", "Calendar", "greenness", "lai", "pigments"]


@dataclass(frozen=True)
class Calendar:
    """Season parameters of one vegetation class (days of year).

    Attributes
    ----------
    lai_min, lai_max
        Background and peak LAI.
    t_up, w_up, t_down, w_down
        Green-up and decline inflection days and widths of the double logistic.
    t_sen, w_sen
        Senescence (greenness) inflection day and width.
    cab_max
        Peak leaf chlorophyll (ug/cm2).
    sow, harvest
        LAI is 0 before ``sow`` and after ``harvest`` (``None``: never).
    mow
        Mowing days: LAI drops to ``lai_min`` and regrows over ~25 days.
    """

    lai_min: float
    lai_max: float
    t_up: float
    w_up: float
    t_down: float
    w_down: float
    t_sen: float
    w_sen: float
    cab_max: float
    sow: float | None = None
    harvest: float | None = None
    mow: tuple[float, ...] = ()


CALENDARS: dict[str, Calendar] = {
    "wheat": Calendar(0.6, 5.5, 95, 10, 190, 8, 178, 7, 55, None, 205),
    "maize": Calendar(0.0, 5.0, 170, 9, 275, 8, 245, 8, 60, 120, 285),
    "rapeseed": Calendar(0.8, 4.0, 85, 9, 180, 8, 165, 7, 50, None, 195),
    "soybean": Calendar(0.0, 4.5, 180, 9, 270, 7, 250, 7, 50, 135, 280),
    "sugarbeet": Calendar(0.0, 5.0, 160, 10, 300, 8, 290, 10, 50, 100, 295),
    "grassland": Calendar(1.0, 3.8, 100, 10, 300, 10, 290, 10, 45, None, None, (150, 200, 245)),
    "deciduous": Calendar(0.5, 5.0, 120, 6, 290, 7, 280, 8, 45),
    "conifer": Calendar(3.5, 4.5, 120, 15, 300, 15, 400, 10, 45),
}


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def lai(
    name: str, doy: float | np.ndarray, shift: float | np.ndarray = 0.0, scale: float | np.ndarray = 1.0
) -> np.ndarray:
    """Leaf area index of class ``name`` at day of year ``doy``.

    Parameters
    ----------
    name
        A key of :data:`CALENDARS`.
    doy
        Day of year (scalar or array).
    shift
        Calendar shift in days (a field sown later has a positive shift).
    scale
        Multiplies the peak LAI.

    Examples
    --------
    >>> float(lai("maize", 100)), bool(lai("maize", 210) > 4)
    (0.0, True)
    """
    c = CALENDARS[name]
    t = np.asarray(doy, dtype="float64") - np.asarray(shift, dtype="float64")
    amp = (c.lai_max - c.lai_min) * np.asarray(scale, dtype="float64")
    out = c.lai_min + amp * (_sig((t - c.t_up) / c.w_up) - _sig((t - c.t_down) / c.w_down))
    for m in c.mow:
        # cut to lai_min on day m, linear regrowth over 25 days to the uncut curve
        frac = np.clip((t - m) / 25.0, 0.0, 1.0)
        cut = (t >= m) & (t < m + 25)
        out = np.where(cut, c.lai_min + frac * (out - c.lai_min), out)
    if c.sow is not None:
        out = np.where(t < c.sow, 0.0, out)
    if c.harvest is not None:
        out = np.where(t >= c.harvest, 0.0, out)
    return np.maximum(out, 0.0)


def greenness(name: str, doy: float | np.ndarray, shift: float | np.ndarray = 0.0) -> np.ndarray:
    """Greenness state in [0, 1]: 1 while green, falling to 0 at senescence.

    Examples
    --------
    >>> round(float(greenness("wheat", 120)), 2), round(float(greenness("wheat", 200)), 2)
    (1.0, 0.04)
    """
    c = CALENDARS[name]
    t = np.asarray(doy, dtype="float64") - np.asarray(shift, dtype="float64")
    return 1.0 - _sig((t - c.t_sen) / c.w_sen)


def pigments(name: str, s: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(Cab, Cbrown)`` for greenness ``s``.

    Examples
    --------
    >>> [float(v) for v in pigments("maize", 1.0)]
    [60.0, 0.0]
    """
    s = np.asarray(s, dtype="float64")
    cab = 5.0 + (CALENDARS[name].cab_max - 5.0) * s
    return cab, 0.8 * (1.0 - s)
