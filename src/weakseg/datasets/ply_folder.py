"""A folder of the user's own scans: one PLY file per scene, ground truth optional.

    <root>/**/<scene_id>.ply       found recursively; the file name (without .ply) is the scene id

Vertex properties (binary or ASCII PLY; faces, if any, must be triangles and only give normals):
- `x y z`        required, metres, z up;
- `red green blue` optional, integers 0..255 (missing: a neutral grey, 128 128 128);
- `nx ny nz`     optional (missing: estimated with Open3D, or from the faces of a mesh);
- `label`        optional, class ids of the chosen label set, -1 = unannotated; a scene is
                 "labelled" when its PLY has this property;
- `instance`     optional, -1 = none.

Settings (`dataset:` in config.yaml): `root`; `label_set` (a key of classes.LABEL_SETS, default
scannet20); `val` (a list of scene ids that are "val"; every other scene is "train");
`tags_csv` (optional path, relative to the current directory) with the user's scene tags:

    scene_id,tags
    office_1,chair;desk;wall
    office_2,"floor; table"

a header line `scene_id,tags`, then one row per tagged scene: the classes present, by name of the
label set, separated by ";" (blanks around names are ignored; an empty field = no class). Scenes
without a row have no tags. An unknown class, an unknown scene id or a second row for a scene is
an error naming the CSV file and line. The CSV is not a source of any scene: it only feeds weak
labels (`scene_tags()`).
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import numpy as np

from ..classes import LABEL_SETS
from ..errors import WeaksegError
from . import DATASETS
from ._common import (add_scene, check_labels, check_unknown_ids, colors_uint8, columns, id_list, integer_values,
                      label_set_setting, make_scene, ply_vertex_properties, read_ply, require_properties, root_dir,
                      unknown_scene)

GREY = 128  # the colour of scans without colour: mid-grey, so colour features carry no signal


@DATASETS.register("ply_folder")
class PlyFolder:
    def __init__(self, settings):
        self.root = root_dir(settings, "ply_folder")
        self.label_set = label_set_setting(settings)
        self.class_names = LABEL_SETS[self.label_set]
        self.val = id_list(settings, "val")
        self.tags_csv = Path(settings["tags_csv"]) if settings.get("tags_csv") else None
        if self.tags_csv is not None and not self.tags_csv.is_file():
            raise WeaksegError(self.tags_csv, "tags CSV not found")

    @functools.cache  # listed once per reader: load() looks scenes up again
    def scenes(self):
        scenes = {}
        files = sorted(p for p in self.root.rglob("*") if p.suffix.lower() == ".ply" and p.is_file())
        if not files:
            raise WeaksegError(self.root, "no .ply files here")
        for path in files:
            labelled = "label" in ply_vertex_properties(path)
            add_scene(scenes, path.stem, path, "val" if path.stem in self.val else "train", labelled, [path])
        check_unknown_ids("val", self.val, scenes)
        return scenes

    def scene_tags(self):
        """scene_id -> sorted class ids from the tags CSV, or None when there is no CSV."""
        if self.tags_csv is None:
            return None
        try:
            return self._read_tags()
        except (csv.Error, UnicodeDecodeError) as err:
            raise WeaksegError(self.tags_csv, f"not a readable CSV file ({err})") from None

    def _read_tags(self):
        scenes, index = self.scenes(), {name: i for i, name in enumerate(self.class_names)}
        tags = {}
        with open(self.tags_csv, newline="", encoding="utf-8") as f:
            rows = csv.reader(f)
            header = [h.strip() for h in next(rows, [])]
            if header != ["scene_id", "tags"]:
                raise WeaksegError(f"{self.tags_csv}:1", f"expected the header 'scene_id,tags', found {','.join(header)!r}")
            for row in rows:
                where = f"{self.tags_csv}:{rows.line_num}"
                if not row or not "".join(row).strip():
                    continue
                if len(row) != 2:
                    raise WeaksegError(where, f"expected 2 fields (scene_id,tags), found {len(row)}")
                scene_id, names = row[0].strip(), [t.strip() for t in row[1].split(";") if t.strip()]
                if scene_id not in scenes:
                    raise WeaksegError(where, f"unknown scene id {scene_id!r} (no {scene_id}.ply under {self.root})")
                if scene_id in tags:
                    raise WeaksegError(where, f"duplicate row for scene {scene_id!r}")
                unknown = [t for t in names if t not in index]
                if unknown:
                    raise WeaksegError(where, f"unknown class {unknown[0]!r}; the classes of {self.label_set} are "
                                              f"{', '.join(self.class_names)}")
                tags[scene_id] = sorted({index[t] for t in names})
        return tags

    def load(self, scene_id):
        if scene_id not in self.scenes():
            raise unknown_scene(scene_id, self.root)
        path = Path(self.scenes()[scene_id]["sources"][0])
        vertex, faces = read_ply(path)
        names = vertex.dtype.names
        require_properties(vertex, ("x", "y", "z"), path)
        n = len(vertex)
        color = np.full((n, 3), GREY, np.uint8)
        if any(c in names for c in ("red", "green", "blue")):
            require_properties(vertex, ("red", "green", "blue"), path)
            color = colors_uint8(columns(vertex, ("red", "green", "blue"), np.float64), path)
        normal = None
        if any(c in names for c in ("nx", "ny", "nz")):
            require_properties(vertex, ("nx", "ny", "nz"), path)
            normal = columns(vertex, ("nx", "ny", "nz"), np.float32)
        label = instance = None
        if "label" in names:
            label = check_labels(integer_values(vertex["label"], path, "label"), len(self.class_names), path)
        if "instance" in names:
            instance = np.maximum(integer_values(vertex["instance"], path, "instance"), -1)
        return make_scene(path, scene_id=scene_id, dataset="ply_folder", split=self.scenes()[scene_id]["split"],
                          class_names=self.class_names, coord=columns(vertex, ("x", "y", "z"), np.float64),
                          color=color, normal=normal, label=label, instance=instance, faces=faces)
