"""ScanNet v2 preprocessed in Pointcept's layout.

    <root>/<scene>/coord.npy        float (N,3) metres, z up               required
                   color.npy        (N,3) 0..255                           required
                   normal.npy       float (N,3)                            optional (else estimated with Open3D)
                   segment20.npy    int (N,) ScanNet20 ids 0..19, -1 = unannotated   optional (else unlabelled)
                   instance.npy     int (N,) -1 = no instance              optional

or the same scene folders under `<root>/train/` and `<root>/val/` (Pointcept's own output;
`<root>/test/` is not read). Settings (`dataset:` in config.yaml): `root`; `val` (a list of scene
ids, only for the flat layout: those are "val", the rest "train").
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..classes import SCANNET20
from ..errors import WeaksegError
from . import DATASETS
from ._common import (add_scene, check_labels, check_unknown_ids, colors_uint8, id_list, integer_values, load_npy,
                      make_scene, root_dir, unknown_scene)

_FILES = ("coord", "color", "normal", "segment20", "instance")


@DATASETS.register("scannet_pointcept")
class ScanNetPointcept:
    label_set = "scannet20"

    def __init__(self, settings):
        self.root = root_dir(settings, "scannet_pointcept")
        self.val = id_list(settings, "val")

    @functools.cache  # listed once per reader: load() looks scenes up again
    def scenes(self):
        split_dirs = [(self.root / s, s) for s in ("train", "val") if (self.root / s).is_dir()]
        if split_dirs and self.val:
            raise WeaksegError(self.root, "has train/ and val/ folders, so dataset.val in config.yaml must be left out")
        scenes = {}
        for folder, folder_split in split_dirs or [(self.root, None)]:
            for scene in sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")):
                if not (scene / "coord.npy").is_file():
                    raise WeaksegError(scene, "not a Pointcept scene folder: coord.npy not found")
                sources = [scene / f"{name}.npy" for name in _FILES if (scene / f"{name}.npy").is_file()]
                split = folder_split or ("val" if scene.name in self.val else "train")
                add_scene(scenes, scene.name, scene, split, (scene / "segment20.npy").is_file(), sources)
        if not scenes:
            raise WeaksegError(self.root, "no scene folders (<scene>/coord.npy) here")
        check_unknown_ids("val", self.val, scenes)
        return scenes

    def load(self, scene_id):
        if scene_id not in self.scenes():
            raise unknown_scene(scene_id, self.root)
        info = self.scenes()[scene_id]
        folder = Path(info["sources"][0]).parent
        arrays = {name: load_npy(folder / f"{name}.npy", required=name in ("coord", "color")) for name in _FILES}
        n = len(arrays["coord"])
        for name, a in arrays.items():
            shape = (n,) if name in ("segment20", "instance") else (n, 3)
            if a is not None and a.shape != shape:
                raise WeaksegError(folder / f"{name}.npy", f"shape {a.shape}, expected {shape} (coord.npy has {n} points)")
        label = arrays["segment20"]
        if label is not None:
            label = check_labels(integer_values(label, folder / "segment20.npy", "label"), len(SCANNET20),
                                 folder / "segment20.npy")
        instance = arrays["instance"]
        if instance is not None:
            instance = np.maximum(integer_values(instance, folder / "instance.npy", "instance"), -1)
        return make_scene(folder / "coord.npy", scene_id=scene_id, dataset="scannet_pointcept", split=info["split"],
                          class_names=SCANNET20, coord=arrays["coord"],
                          color=colors_uint8(arrays["color"], folder / "color.npy"),
                          normal=arrays["normal"], label=label, instance=instance)
