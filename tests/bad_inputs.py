"""The bad-input corpus: each case must give one WeaksegError naming the file and the problem.

`BAD_INPUTS` is a list of (case, build, phrase): `build(tmp_path)` returns the config's `dataset:`
settings (with `type`) and the path the message must name; `phrase` must appear in the message.
Cases whose natural form is a file are committed under tests/data/bad/<case>/; the others (awkward
names, damaged copies of the tiny sources) are built in tmp_path. `exercise(settings)` drives a
reader the way the DAG does: construct it, list the scenes, load each one, read the tags.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from plyfile import PlyData, PlyElement

from tiny_sources import pointcept_scene, s3dis_root, scannet_root, write_ply
from weakseg.datasets import DATASETS

BAD = Path(__file__).resolve().parent / "data" / "bad"


def exercise(settings):
    reader = DATASETS.get(settings["type"])(settings)
    for scene_id in reader.scenes():
        reader.load(scene_id)
    if hasattr(reader, "scene_tags"):
        reader.scene_tags()


def committed_ply(case, file="room.ply"):
    return lambda tmp: ({"type": "ply_folder", "root": str(BAD / case)}, BAD / case / file)


def committed_s3dis(case, file):
    return lambda tmp: ({"type": "s3dis", "root": str(BAD / case)}, BAD / case / "Area_1" / "office_1" / "Annotations" / file)


def committed_tags(case):
    return lambda tmp: ({"type": "ply_folder", "root": str(BAD / case / "scans"), "tags_csv": str(BAD / case / "tags.csv")},
                        BAD / case / "tags.csv")


def _points(tmp, name):
    f = np.array([0, 1, 2], np.float32)
    return write_ply(tmp / "scans" / name, text=True, x=f, y=f, z=f)


def ply_empty_file(tmp):
    (tmp / "scans").mkdir()
    (tmp / "scans" / "room.ply").write_bytes(b"")
    return {"type": "ply_folder", "root": str(tmp / "scans")}, tmp / "scans" / "room.ply"


def ply_unsafe_name(tmp):
    path = _points(tmp, "scene 1;rm -rf.ply")
    return {"type": "ply_folder", "root": str(tmp / "scans")}, path


def ply_duplicate_ids(tmp):
    _points(tmp, "a/room.ply")
    return {"type": "ply_folder", "root": str(tmp / "scans")}, _points(tmp, "b/room.ply")


def ply_quad_faces(tmp):
    path = tmp / "scans" / "room.ply"
    path.parent.mkdir()
    vertex = np.zeros(4, [("x", "f4"), ("y", "f4"), ("z", "f4")])
    face = np.array([([0, 1, 2, 3],)], [("vertex_indices", "i4", (4,))])
    PlyData([PlyElement.describe(vertex, "vertex"), PlyElement.describe(face, "face")]).write(str(path))
    return {"type": "ply_folder", "root": str(tmp / "scans")}, path


def missing_root(tmp):
    return {"type": "scannet_pointcept", "root": str(tmp / "nowhere")}, tmp / "nowhere"


def unknown_label_set(tmp):
    _points(tmp, "room.ply")
    return {"type": "ply_folder", "root": str(tmp / "scans"), "label_set": "coco"}, "config.yaml"


def s3dis_missing_annotations(tmp):
    s3dis_root(tmp)
    (tmp / "Area_2" / "lobby_1").mkdir(parents=True)
    return {"type": "s3dis", "root": str(tmp)}, tmp / "Area_2" / "lobby_1" / "Annotations"


def s3dis_unknown_class(tmp):
    s3dis_root(tmp)
    path = tmp / "Area_1" / "office_1" / "Annotations" / "sofabed_1.txt"
    path.write_text("0 0 0 1 2 3\n")
    return {"type": "s3dis", "root": str(tmp)}, path


def s3dis_empty_file(tmp):
    s3dis_root(tmp)
    path = tmp / "Area_5" / "hall_1" / "Annotations" / "door_1.txt"
    path.write_text("")
    return {"type": "s3dis", "root": str(tmp)}, path


def _scannet(tmp, damage):
    root = scannet_root(tmp)
    return {"type": "scannet", "root": str(root)}, damage(root, root / "scans" / "scene0000_00")


def scannet_missing_labels(tmp):
    return _scannet(tmp, lambda root, d: _unlink(d / "scene0000_00_vh_clean_2.labels.ply"))


def scannet_missing_split(tmp):
    return _scannet(tmp, lambda root, d: _unlink(root / "scannetv2_val.txt"))


def scannet_missing_tsv(tmp):
    return _scannet(tmp, lambda root, d: _unlink(root / "scannetv2-labels.combined.tsv"))


def scannet_malformed_tsv(tmp):
    def damage(root, d):
        (root / "scannetv2-labels.combined.tsv").write_text("id,raw_category,nyu40id\n1,wall,1\n")
        return f"{root / 'scannetv2-labels.combined.tsv'}:1"
    return _scannet(tmp, damage)


def scannet_duplicate_split(tmp):
    def damage(root, d):
        (root / "scannetv2_val.txt").write_text("scene0001_00\nscene0000_00\n")
        return f"{root / 'scannetv2_val.txt'}:2"
    return _scannet(tmp, damage)


def scannet_unsafe_split_id(tmp):
    def damage(root, d):
        (root / "scannetv2_train.txt").write_text("scene0000_00\n../../etc\n")
        return f"{root / 'scannetv2_train.txt'}:2"
    return _scannet(tmp, damage)


def scannet_nyu40_out_of_range(tmp):
    def damage(root, d):
        labels = d / "scene0000_00_vh_clean_2.labels.ply"
        f = np.zeros(12, np.float32)
        write_ply(labels, x=f, y=f, z=f, label=np.full(12, 41, np.uint16))
        return labels
    return _scannet(tmp, damage)


def scannet_truncated_segs(tmp):
    def damage(root, d):
        segs = d / "scene0000_00_vh_clean_2.0.010000.segs.json"
        segs.write_text(segs.read_text()[:20])
        return segs
    return _scannet(tmp, damage)


def scannet_unknown_category(tmp):
    def damage(root, d):
        agg = d / "scene0000_00.aggregation.json"
        agg.write_text(json.dumps({"segGroups": [{"id": 0, "label": "spaceship", "segments": [10]}]}))
        return agg
    return _scannet(tmp, damage)


def _unlink(path):
    path.unlink()
    return path


def pointcept_label_out_of_range(tmp):
    pointcept_scene(tmp / "scene_a")
    np.save(tmp / "scene_a" / "segment20.npy", np.array([0, 1, 2, 3, 4, 20]))
    return {"type": "scannet_pointcept", "root": str(tmp)}, tmp / "scene_a" / "segment20.npy"


def pointcept_corrupt_npy(tmp):
    pointcept_scene(tmp / "scene_a")
    path = tmp / "scene_a" / "coord.npy"
    path.write_bytes(path.read_bytes()[:-10])
    return {"type": "scannet_pointcept", "root": str(tmp)}, path


def pointcept_nan(tmp):
    arrays = pointcept_scene(tmp / "scene_a")
    arrays["coord"][2, 1] = np.nan
    np.save(tmp / "scene_a" / "coord.npy", arrays["coord"])
    return {"type": "scannet_pointcept", "root": str(tmp)}, tmp / "scene_a" / "coord.npy"


def pointcept_duplicate_ids(tmp):
    pointcept_scene(tmp / "train" / "scene_a")
    pointcept_scene(tmp / "val" / "scene_a")
    return {"type": "scannet_pointcept", "root": str(tmp)}, tmp / "val" / "scene_a"


BAD_INPUTS = [
    ("ply_truncated", committed_ply("ply_truncated"), "truncated or malformed PLY data"),
    ("ply_malformed_header", committed_ply("ply_malformed_header"), "malformed PLY header"),
    ("ply_nan_coordinates", committed_ply("ply_nan_coordinates"), "2 point(s) have NaN or inf coordinates"),
    ("ply_no_points", committed_ply("ply_no_points"), "scene has 0 point(s)"),
    ("ply_one_point", committed_ply("ply_one_point"), "scene has 1 point(s)"),
    ("ply_label_out_of_range", committed_ply("ply_label_out_of_range"), "label(s) outside -1..19"),
    ("ply_colour_out_of_range", committed_ply("ply_colour_out_of_range"), "colour(s) outside 0..255"),
    ("ply_missing_z", committed_ply("ply_missing_z"), "missing vertex property 'z'"),
    ("ply_empty_file", ply_empty_file, "empty file"),
    ("ply_quad_faces", ply_quad_faces, "faces must all be triangles"),
    ("ply_unsafe_name", ply_unsafe_name, "not safe in a path or a shell command"),
    ("ply_duplicate_ids", ply_duplicate_ids, "duplicate scene id 'room'"),
    ("missing_root", missing_root, "directory not found"),
    ("unknown_label_set", unknown_label_set, "unknown label set 'coco'"),
    ("tags_unknown_class", committed_tags("tags_unknown_class"), "tags.csv:2: unknown class 'sofabed'"),
    ("tags_unknown_scene", committed_tags("tags_unknown_scene"), "tags.csv:3: unknown scene id 'kitchen'"),
    ("tags_duplicate_row", committed_tags("tags_duplicate_row"), "tags.csv:3: duplicate row"),
    ("s3dis_colour_300", committed_s3dis("s3dis_colour_300", "chair_1.txt"), "colour(s) outside 0..255"),
    ("s3dis_short_line", committed_s3dis("s3dis_short_line", "wall_1.txt"), "wall_1.txt:3: expected 6 numbers"),
    ("s3dis_missing_annotations", s3dis_missing_annotations, "annotation folder not found"),
    ("s3dis_unknown_class", s3dis_unknown_class, "not an annotation file name"),
    ("s3dis_empty_file", s3dis_empty_file, "empty file"),
    ("scannet_missing_labels", scannet_missing_labels, "labels file not found"),
    ("scannet_missing_split", scannet_missing_split, "split file not found"),
    ("scannet_missing_tsv", scannet_missing_tsv, "label map (scannetv2-labels.combined.tsv) not found"),
    ("scannet_malformed_tsv", scannet_malformed_tsv, "malformed label map"),
    ("scannet_duplicate_split", scannet_duplicate_split, "duplicate scene id 'scene0000_00'"),
    ("scannet_unsafe_split_id", scannet_unsafe_split_id, "not safe in a path or a shell command"),
    ("scannet_nyu40_out_of_range", scannet_nyu40_out_of_range, "outside the NYU40 ids 0..40"),
    ("scannet_truncated_segs", scannet_truncated_segs, "not valid JSON"),
    ("scannet_unknown_category", scannet_unknown_category, "category 'spaceship', which is not in"),
    ("pointcept_label_out_of_range", pointcept_label_out_of_range, "label(s) outside -1..19"),
    ("pointcept_corrupt_npy", pointcept_corrupt_npy, "not a readable .npy file"),
    ("pointcept_nan", pointcept_nan, "NaN or inf coordinates"),
    ("pointcept_duplicate_ids", pointcept_duplicate_ids, "duplicate scene id 'scene_a'"),
]
