"""S3DIS in its original layout (Stanford3dDataset_v1.2_Aligned_Version).

    <root>/Area_<N>/<room>/Annotations/<class>_<k>.txt    one "x y z r g b" point per line

A room is the union of its annotation files (the room-level `<room>.txt` is not read: it holds
the same points); each file is one instance and its `<class>` prefix is the label (classes.S3DIS13;
`stairs` becomes clutter). Scene ids are `Area_<N>_<room>`, e.g. `Area_1_hallway_1`. Coordinates
are metres, z up; colours 0..255. S3DIS has no normals: they are estimated with Open3D.

Settings (`dataset:` in config.yaml): `root`; `val_areas` (default [5], the standard Area-5 split:
those areas are "val", the others "train").

Text quirks. Real files have trailing blanks, blank lines and stray bytes inside numbers (e.g.
Area_5/hallway_6/Annotations/ceiling_1.txt, line 180389). The rule: every byte that cannot be part
of a decimal number (anything but digits, `+ - . e E` and blanks) is deleted, blank lines are
skipped, and a line that then does not hold exactly 6 numbers is an error naming `file:line`.
So "nan" or "inf" are refused too (their letters go, leaving a line one number short).
"""

from __future__ import annotations

import functools
import io as _io
import re
import warnings
from pathlib import Path

import numpy as np

from ..classes import S3DIS13, S3DIS_FILE_CLASS
from ..errors import WeaksegError
from . import DATASETS
from ._common import CONFIG, add_scene, colors_uint8, make_scene, root_dir, unknown_scene

_AREA = re.compile(r"^Area_(\d+)$")
_ANNOTATION = re.compile(r"^(?P<cls>[A-Za-z]+)_\d+\.txt$")
_NUMBER_BYTES = b"0123456789+-.eE \t\r\n"
_STRAY_BYTES = bytes(b for b in range(256) if b not in _NUMBER_BYTES)


def read_points_txt(path):
    """An (n,6) float64 array from an "x y z r g b" file, under the quirk rule of the module docstring."""
    data = path.read_bytes().translate(None, _STRAY_BYTES)
    try:
        with warnings.catch_warnings():  # an empty file is reported below, not warned about
            warnings.simplefilter("ignore", UserWarning)
            points = np.loadtxt(_io.BytesIO(data), ndmin=2, encoding="ascii")
    except ValueError as err:
        raise WeaksegError(*_first_bad_line(path, data, err)) from None
    if points.size == 0:
        raise WeaksegError(path, "empty file: no points")
    if points.shape[1] != 6:
        raise WeaksegError(*_first_bad_line(path, data, f"{points.shape[1]} numbers per line"))
    return points


def _first_bad_line(path, data, err):
    """(`file:line`, problem) for the first line that is not 6 numbers (the slow path, errors only)."""
    for number, line in enumerate(data.decode("ascii").splitlines(), 1):
        words = line.split()
        if not words:
            continue
        if len(words) != 6:
            return f"{path}:{number}", f"expected 6 numbers (x y z r g b), found {len(words)} in {line.strip()!r}"
        try:
            [float(w) for w in words]
        except ValueError:
            return f"{path}:{number}", f"not a number in {line.strip()!r}"
    return path, f"cannot parse ({err})"


@DATASETS.register("s3dis")
class S3DIS:
    label_set = "s3dis13"

    def __init__(self, settings):
        self.root = root_dir(settings, "s3dis")
        self.val_areas = settings.get("val_areas", [5])
        if not isinstance(self.val_areas, (list, tuple)) or not all(isinstance(a, int) for a in self.val_areas):
            raise WeaksegError(CONFIG, f"dataset.val_areas must be a list of area numbers, got {self.val_areas!r}")

    @functools.cache  # listed once per reader: load() looks scenes up again
    def scenes(self):
        scenes = {}
        areas = sorted((d for d in self.root.iterdir() if d.is_dir() and _AREA.match(d.name)), key=lambda d: int(d.name[5:]))
        if not areas:
            raise WeaksegError(self.root, "no Area_<N> folders here")
        for area in areas:
            split = "val" if int(area.name[5:]) in self.val_areas else "train"
            for room in sorted(d for d in area.iterdir() if d.is_dir() and not d.name.startswith(".")):
                files = self._annotation_files(room)
                add_scene(scenes, f"{area.name}_{room.name}", room, split, True, files)
        return scenes

    @staticmethod
    def _annotation_files(room):
        folder = room / "Annotations"
        if not folder.is_dir():
            raise WeaksegError(folder, "annotation folder not found")
        files = sorted(f for f in folder.glob("*.txt") if not f.name.startswith("."))
        if not files:
            raise WeaksegError(folder, "no annotation files (<class>_<k>.txt)")
        for f in files:
            match = _ANNOTATION.match(f.name)
            if not match or match["cls"] not in S3DIS_FILE_CLASS:
                raise WeaksegError(f, f"not an annotation file name <class>_<k>.txt with a class among "
                                      f"{', '.join(S3DIS_FILE_CLASS)}")
            if f.stat().st_size == 0:
                raise WeaksegError(f, "empty file")
        return files

    def load(self, scene_id):
        if scene_id not in self.scenes():
            raise unknown_scene(scene_id, self.root)
        info = self.scenes()[scene_id]
        coords, colors, labels, instances = [], [], [], []
        for instance, source in enumerate(info["sources"]):
            path = Path(source)
            points = read_points_txt(path)
            if not np.isfinite(points[:, :3]).all():
                raise WeaksegError(path, "NaN or inf coordinates")  # e.g. 1e999, which parses as inf
            coords.append(points[:, :3])
            colors.append(colors_uint8(points[:, 3:], path))
            labels.append(np.full(len(points), S3DIS_FILE_CLASS[_ANNOTATION.match(path.name)["cls"]], np.int16))
            instances.append(np.full(len(points), instance, np.int32))
        room = Path(info["sources"][0]).parent.parent
        return make_scene(room, scene_id=scene_id, dataset="s3dis", split=info["split"], class_names=S3DIS13,
                          coord=np.concatenate(coords), color=np.concatenate(colors), label=np.concatenate(labels),
                          instance=np.concatenate(instances))
