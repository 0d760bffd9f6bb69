"""ScanNet v2 in the raw release layout.

    <root>/scans/<scene>/<scene>_vh_clean_2.ply                    mesh: vertices x y z red green blue, faces
                         <scene>_vh_clean_2.labels.ply             the same vertices with `label` = NYU40 id
                         <scene>_vh_clean_2.0.010000.segs.json     mesh segment per vertex (optional)
                         <scene>.aggregation.json                  instances: segment groups (optional)
    <root>/scannetv2-labels.combined.tsv                           raw category -> NYU40 id (required)
    <root>/scannetv2_train.txt, scannetv2_val.txt                  the official splits, one scene id a line

and, when RGB-D frames were exported from the .sens files (ScanNet's SensReader), in
`<frames_root>/<scene>/`: `color/<i>.jpg`, `depth/<i>.png` (uint16 millimetres, 0 = no return),
`pose/<i>.txt` (4x4 camera-to-world; invalid poses are all -inf and are skipped) and
`intrinsic/intrinsic_color.txt`, `intrinsic/intrinsic_depth.txt` (4x4; colour 1296x968 and
depth 640x480 have their own).

Semantic labels come from `labels.ply` (NYU40 ids mapped to the 20 benchmark classes through
classes.NYU40_TO_SCANNET20; other ids, and 0 = unannotated, become -1): it is the file the
official benchmark evaluates against, and it exists even where segs/aggregation are missing.
Instances come from the aggregation: every segment group whose raw category maps (through the
tsv) to one of the 20 classes is one instance, id = the group's `id`; other points are -1. A
scene without segs.json or aggregation.json still loads, with instance -1 (and, without segs.json,
no mesh segments). Normals are the mesh's area-weighted vertex normals (Open3D). Coordinates are
the mesh's own: the axis alignment in `<scene>.txt` is not applied.

Only scenes listed in a split file *and* present under `scans/` are listed, so a download of a
few scenes works with the official split files; a listed scene folder without its mesh or labels
PLY is an error.

Settings (`dataset:` in config.yaml), paths relative to the current directory:
- `root`;
- `train_split`, `val_split`: default `<root>/scannetv2_train.txt`, `<root>/scannetv2_val.txt`;
- `label_map`: default `<root>/scannetv2-labels.combined.tsv`;
- `frames`: load exported RGB-D frames when present (default false);
- `frames_root`: default `<root>/scans`;
- `frame_stride`: keep every k-th frame (default 20: ScanNet records at 30 Hz, so neighbouring
  frames are near duplicates); `max_frames`: at most this many, evenly spaced (default: no cap).
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import numpy as np

from ..classes import NYU40_TO_SCANNET20, SCANNET20
from ..errors import WeaksegError
from . import DATASETS
from ._common import (CONFIG, add_scene, check_scene_id, colors_uint8, columns, make_scene, read_ply, read_text,
                      require_file, require_properties, root_dir, setting_path, unknown_scene)

# NYU40 id (0..40, 0 = unannotated) -> ScanNet20 class id or -1.
_NYU40_LOOKUP = np.full(41, -1, np.int16)
_NYU40_LOOKUP[list(NYU40_TO_SCANNET20)] = list(NYU40_TO_SCANNET20.values())


def _files(scene_dir):
    s = scene_dir.name
    return {"mesh": scene_dir / f"{s}_vh_clean_2.ply", "labels": scene_dir / f"{s}_vh_clean_2.labels.ply",
            "segs": scene_dir / f"{s}_vh_clean_2.0.010000.segs.json", "aggregation": scene_dir / f"{s}.aggregation.json"}


@DATASETS.register("scannet")
class ScanNet:
    label_set = "scannet20"

    def __init__(self, settings):
        self.root = root_dir(settings, "scannet")
        self.split_files = {"train": setting_path(settings, "train_split", self.root / "scannetv2_train.txt"),
                            "val": setting_path(settings, "val_split", self.root / "scannetv2_val.txt")}
        self.label_map = setting_path(settings, "label_map", self.root / "scannetv2-labels.combined.tsv")
        self.frames = bool(settings.get("frames", False))
        self.frames_root = setting_path(settings, "frames_root", self.root / "scans")
        self.frame_stride = settings.get("frame_stride", 20)
        self.max_frames = settings.get("max_frames")
        for key, value, least in (("frame_stride", self.frame_stride, 1), ("max_frames", self.max_frames, 1)):
            if value is not None and (not isinstance(value, int) or value < least):
                raise WeaksegError(CONFIG, f"dataset.{key} must be a whole number >= {least}, got {value!r}")
        self._raw_to_class = None

    # ------------------------------------------------------------------ listing
    @functools.cache  # listed once per reader: load() looks scenes up again
    def scenes(self):
        require_file(self.label_map, "label map (scannetv2-labels.combined.tsv)")
        listed = {}  # scene id -> (split, "file:line")
        for split, path in self.split_files.items():
            if not path.is_file():  # an empty one is fine: that split has no scenes
                raise WeaksegError(path, "split file not found")
            for number, line in enumerate(read_text(path).splitlines(), 1):
                scene_id, where = line.strip(), f"{path}:{number}"
                if not scene_id:
                    continue
                check_scene_id(scene_id, where)
                if scene_id in listed:
                    raise WeaksegError(where, f"duplicate scene id {scene_id!r}: also at {listed[scene_id][1]}")
                listed[scene_id] = (split, where)
        scenes = {}
        for scene_id, (split, _) in listed.items():
            scene_dir = self.root / "scans" / scene_id
            if not scene_dir.is_dir():
                continue
            files = _files(scene_dir)
            sources = [require_file(files["mesh"], "mesh PLY"), require_file(files["labels"], "labels file"),
                       *(files[k] for k in ("segs", "aggregation") if files[k].is_file()), self.label_map]
            frames = self.frames and (self.frames_root / scene_id / "pose").is_dir()
            if frames:
                sources += [d for d in (self.frames_root / scene_id / n for n in ("color", "depth", "pose", "intrinsic"))
                            if d.is_dir()]
            add_scene(scenes, scene_id, scene_dir, split, True, sources, frames)
        if not scenes:
            raise WeaksegError(self.root / "scans", "no scene of the split files "
                               f"({', '.join(str(p) for p in self.split_files.values())}) is here")
        return scenes

    # ------------------------------------------------------------------ loading
    def load(self, scene_id):
        if scene_id not in self.scenes():
            raise unknown_scene(scene_id, self.root)
        files = _files(self.root / "scans" / scene_id)
        vertex, faces = read_ply(files["mesh"])
        require_properties(vertex, ("x", "y", "z", "red", "green", "blue"), files["mesh"])
        n = len(vertex)
        label = self._labels(files["labels"], n)
        segment = instance = None
        if files["segs"].is_file():
            segment = self._segments(files["segs"], n)
            if files["aggregation"].is_file():
                instance = self._instances(files["aggregation"], files["segs"], segment)
        frames = self._frames(self.frames_root / scene_id) if self.scenes()[scene_id]["frames"] else None
        return make_scene(files["mesh"], scene_id=scene_id, dataset="scannet", split=self.scenes()[scene_id]["split"],
                          class_names=SCANNET20, coord=columns(vertex, ("x", "y", "z"), np.float64),
                          color=colors_uint8(columns(vertex, ("red", "green", "blue"), np.float64), files["mesh"]),
                          label=label, instance=instance, segment=segment, frames=frames, faces=faces)

    @staticmethod
    def _labels(path, n):
        vertex, _ = read_ply(path)
        require_properties(vertex, ("label",), path)
        if len(vertex) != n:
            raise WeaksegError(path, f"has {len(vertex)} vertices, the mesh has {n}")
        nyu40 = vertex["label"].astype(np.int64)
        bad = (nyu40 < 0) | (nyu40 > 40)
        if bad.any():
            raise WeaksegError(path, f"{int(bad.sum())} label(s) outside the NYU40 ids 0..40, e.g. {int(nyu40[bad][0])}")
        return _NYU40_LOOKUP[nyu40]

    @staticmethod
    def _segments(path, n):
        from ..io import read_json

        seg = read_json(path)
        if not isinstance(seg, dict) or not isinstance(seg.get("segIndices"), list):
            raise WeaksegError(path, "no 'segIndices' list")
        segment = np.asarray(seg["segIndices"])
        if segment.shape != (n,) or segment.dtype.kind not in "iu":
            raise WeaksegError(path, f"'segIndices' must be {n} integers, one per mesh vertex; got shape {segment.shape}")
        return segment.astype(np.int32)

    def _instances(self, path, segs_path, segment):
        from ..io import read_json

        groups = read_json(path)
        groups = groups.get("segGroups") if isinstance(groups, dict) else None
        if not isinstance(groups, list):
            raise WeaksegError(path, "no 'segGroups' list")
        raw_to_class = self._raw_categories()
        seg_ids, inverse = np.unique(segment, return_inverse=True)
        seg_instance = np.full(len(seg_ids), -1, np.int32)
        for k, group in enumerate(groups):
            try:
                group_id, category, segments = int(group["id"]), group["label"], np.asarray(group["segments"], np.int64)
            except (KeyError, TypeError, ValueError):
                raise WeaksegError(path, f"segGroups[{k}] lacks an integer 'id', a 'label' or a 'segments' list") from None
            if category not in raw_to_class:
                raise WeaksegError(path, f"segGroups[{k}] has category {category!r}, which is not in {self.label_map}")
            if raw_to_class[category] < 0:
                continue
            at = np.minimum(np.searchsorted(seg_ids, segments), len(seg_ids) - 1)
            if segments.size and (seg_ids[at] != segments).any():
                missing = segments[seg_ids[at] != segments][0]
                raise WeaksegError(path, f"segGroups[{k}] refers to segment {missing}, which is not in {segs_path}")
            seg_instance[at] = group_id
        return seg_instance[inverse.ravel()]

    def _raw_categories(self):
        """raw_category -> ScanNet20 class id (or -1), from the tsv; read once per reader."""
        if self._raw_to_class is None:
            path = require_file(self.label_map, "label map")
            rows = csv.reader(read_text(path).splitlines(), delimiter="\t")
            header = next(rows, [])
            if "raw_category" not in header or "nyu40id" not in header:
                raise WeaksegError(f"{path}:1", "malformed label map: the header lacks 'raw_category' or 'nyu40id'")
            raw, nyu = header.index("raw_category"), header.index("nyu40id")
            mapping = {}
            for row in rows:
                if not row:
                    continue
                try:
                    nyu40 = int(row[nyu])
                    mapping[row[raw]] = int(_NYU40_LOOKUP[nyu40]) if 0 <= nyu40 <= 40 else -1
                except (IndexError, ValueError):
                    raise WeaksegError(f"{path}:{rows.line_num}", "malformed label map row: "
                                       "no raw_category or no integer nyu40id") from None
            self._raw_to_class = mapping
        return self._raw_to_class

    def _frames(self, folder):
        """The exported frames at `frame_stride`, invalid poses dropped, at most `max_frames` evenly spaced."""
        import open3d as o3d

        from ..io import Frames

        ids = sorted(int(p.stem) for p in (folder / "pose").glob("*.txt") if p.stem.isdigit())[::self.frame_stride]
        poses = {i: self._matrix(folder / "pose" / f"{i}.txt", (4, 4)) for i in ids}
        ids = [i for i in ids if np.isfinite(poses[i]).all()]
        if self.max_frames is not None and len(ids) > self.max_frames:
            ids = [ids[k] for k in np.linspace(0, len(ids) - 1, self.max_frames).round().astype(int)]
        if not ids:
            return None
        color_k = self._matrix(folder / "intrinsic" / "intrinsic_color.txt", (4, 4))[:3, :3]
        depth_k = self._matrix(folder / "intrinsic" / "intrinsic_depth.txt", (4, 4))[:3, :3]
        colors, depths = [], []
        with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
            for i in ids:
                colors.append(self._image(folder / "color" / f"{i}.jpg", np.uint8, 3, colors[:1]))
                depths.append(self._image(folder / "depth" / f"{i}.png", np.uint16, 2, depths[:1]))
        v = len(ids)
        return Frames(color=np.stack(colors), depth=np.stack(depths).astype(np.float32) / 1000.0,
                      color_intrinsic=np.repeat(color_k[None], v, 0).astype(np.float32),
                      depth_intrinsic=np.repeat(depth_k[None], v, 0).astype(np.float32),
                      pose=np.stack([poses[i] for i in ids]).astype(np.float32))

    @staticmethod
    def _matrix(path, shape):
        require_file(path)
        try:
            m = np.loadtxt(path, ndmin=2)
        except ValueError as err:
            raise WeaksegError(path, f"not a matrix of numbers ({err})") from None
        if m.shape != shape:
            raise WeaksegError(path, f"a {m.shape[0]}x{m.shape[1]} matrix, expected {shape[0]}x{shape[1]}")
        return m

    @staticmethod
    def _image(path, dtype, ndim, first):
        """One frame image as an array; `first` ([] or [the first frame's image]) fixes the size."""
        import open3d as o3d

        image = np.asarray(o3d.io.read_image(str(require_file(path, "frame image"))))
        if image.dtype != dtype or image.ndim != ndim:
            raise WeaksegError(path, f"not a readable {'colour JPEG' if ndim == 3 else '16-bit depth PNG'} image")
        if first and image.shape != first[0].shape:
            raise WeaksegError(path, f"image size {image.shape[:2]} differs from the scene's first frame {first[0].shape[:2]}")
        return image
