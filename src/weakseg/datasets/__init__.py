"""Dataset types: list a source's scenes cheaply (at DAG parse time) and convert one to `io.Scene`.

A dataset type is a class registered with `@DATASETS.register(name)` in its own module and
declared below, built from config.yaml's `dataset:` section (a dict), with:
- `label_set`, the class table its labels use;
- `scenes() -> {scene_id: {"split": "train"|"val", "labelled": bool, "frames": bool,
  "sources": [paths]}}`; `frames` says whether `load` gives the scene RGB-D frames (the DAG
  computes point-pixel projections for those scenes only): synthetic scenes have them, raw
  ScanNet when its `frames` setting is on and the scene's exported frames are there, the other
  types never; no point is read here, and a bad source (missing folder, duplicate or unsafe
  scene ids) is a WeaksegError;
- `load(scene_id) -> io.Scene`, validated, any problem a WeaksegError naming the file;
- optionally `listing_keys`: settings that only decide which scenes exist (not passed to a
  scene's own job, so changing them reruns no existing scene), and `scene_tags()`: tags the
  user supplied, {scene_id: [class ids]}, or None.
"""

from ..registry import Registry

DATASETS = Registry("dataset type")
DATASETS.declare("synthetic", "weakseg.datasets.synthetic_plan")
DATASETS.declare("scannet", "weakseg.datasets.scannet")
DATASETS.declare("scannet_pointcept", "weakseg.datasets.pointcept")
DATASETS.declare("s3dis", "weakseg.datasets.s3dis")
DATASETS.declare("ply_folder", "weakseg.datasets.ply_folder")
