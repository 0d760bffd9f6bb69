"""Datasets: readers for real scans and the embedded synthetic generator, all yielding `io.Scene`.

`DATASETS` maps config.yaml's `dataset: type:` to a reader class: `Reader(settings)` with the
`dataset:` section as a dict, `reader.label_set`, `reader.scenes()` (cheap: runs at DAG parse
time) and `reader.load(scene_id) -> io.Scene`.
"""

from ..registry import Registry

DATASETS = Registry("dataset type")

from . import pointcept, ply_folder, s3dis, scannet  # noqa: E402,F401  (each registers its reader)
