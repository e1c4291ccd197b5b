"""Downstream checks of harmonized series: crop-type mapping (Table V of Sedona et al. 2021).

- :func:`crop_mapping`: per-pixel time-series features, spatial block split, RBF SVM with
  C / gamma by 5-fold CV, producer's / user's accuracy, F1, overall accuracy, confusion
  matrix and map (:class:`CropMapResult`).
- :func:`labels_to_grid`: 10 m labels -> 30 m by block majority.
- :func:`block_split`: spatially disjoint train/test mask.
- :func:`fill_gaps`: per-pixel linear interpolation of cloudy dates.

scikit-learn is imported only when :func:`crop_mapping` runs.
"""

from .crop import DEFAULT_GRID, CropMapResult, crop_mapping, scores_from_confusion
from .features import fill_gaps
from .labels import block_mode, labels_to_grid
from .split import TEST, TRAIN, UNUSED, block_ids, block_split

__all__ = [
    "DEFAULT_GRID",
    "TEST",
    "TRAIN",
    "UNUSED",
    "CropMapResult",
    "block_ids",
    "block_mode",
    "block_split",
    "crop_mapping",
    "fill_gaps",
    "labels_to_grid",
    "scores_from_confusion",
]
