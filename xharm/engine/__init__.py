"""The patch engine: patch arithmetic (:mod:`.tiling`), the Dask bridge that runs any model over
chunked cubes and stitches its patches (:mod:`.apply`), and paired training patches (:mod:`.pairs`).

Data flow: output grid -> tile -> model (a ``PredictFn``) -> stitch.
"""
