"""The canonical cube and what it stands on: sensors and bands, QA masks, the one grid authority.

Data flow: read (:mod:`xharm.io`) -> canonical cube (:mod:`.cube`, band names from
:mod:`.sensors`) -> QA masks (:mod:`.qa`) -> output grid (:mod:`.grid`).
"""
