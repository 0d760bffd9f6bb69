"""Every file weakseg reads or writes goes through here; every write is atomic.

Formats (docs/DESIGN.md, "Data contracts"):
- scene: HDF5, one file per scene (`Scene`);
- weak labels, metrics, summaries: JSON;
- pseudo labels and predictions: Zarr v3, one group per scene under one store;
- coloured exports: binary PLY (`write_colored_ply`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import zarr

from .errors import WeaksegError


# --------------------------------------------------------------------------- atomic writes
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary sibling of `path`; rename it onto `path` only if the block succeeds.

    A job killed half way leaves a `.tmp-*` name behind, never something at `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", suffix=suffix, dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; the result should be an ordinary file
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path):
    """Like `atomic_path` for a directory: build it under a temporary name, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{path.name}-", dir=path.parent))
    tmp.chmod(0o777 & ~_UMASK)
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def settings_hash(settings):
    """A short fingerprint of settings (pseudo-label attrs, checkpoints): same settings, same hash."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def write_json(path, obj):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path):
    path = Path(path)
    if not path.is_file():
        raise WeaksegError(path, "file not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise WeaksegError(path, f"not valid JSON ({err})") from None


# --------------------------------------------------------------------------- scenes
@dataclass
class Frames:
    """RGB-D frames that scanned a scene; `pose` is camera-to-world (the depth camera's).

    Colour and depth may differ in resolution and intrinsics (ScanNet: 1296x968 colour,
    640x480 depth); both cameras share the pose, as in ScanNet's exported frames.
    """

    color: np.ndarray  # (V,Hc,Wc,3) uint8
    depth: np.ndarray  # (V,Hd,Wd) float32 metres, 0 = no return
    color_intrinsic: np.ndarray  # (V,3,3) float32
    depth_intrinsic: np.ndarray  # (V,3,3) float32
    pose: np.ndarray  # (V,4,4) float32

    def validate(self, path):
        v = len(self.pose)
        shapes = {"color": (4, 3), "depth": (3, None), "color_intrinsic": (3, (3, 3)), "depth_intrinsic": (3, (3, 3)), "pose": (3, (4, 4))}
        for name, (ndim, tail) in shapes.items():
            a = getattr(self, name)
            if a.ndim != ndim or len(a) != v or (isinstance(tail, tuple) and a.shape[1:] != tail) or (tail == 3 and a.shape[-1] != 3):
                raise WeaksegError(path, f"frames: {name} has shape {a.shape}, which does not fit {v} frame(s)")
        if not np.isfinite(self.pose).all():
            raise WeaksegError(path, "frames: a camera pose has NaN or inf entries")


@dataclass
class Scene:
    scene_id: str
    dataset: str
    split: str
    class_names: tuple
    coord: np.ndarray  # (N,3) float32 metres, z up
    color: np.ndarray  # (N,3) uint8
    normal: np.ndarray  # (N,3) float32
    label: np.ndarray  # (N,) int16, -1 = unannotated
    instance: np.ndarray  # (N,) int32, -1 = none
    frames: Frames | None = field(default=None, repr=False)
    segment: np.ndarray | None = None  # (N,) int32 mesh segment (ScanNet's segs.json), -1 = none

    @property
    def labelled(self):
        """Whether the scene has any ground truth (a user's own scans may have none)."""
        return bool((self.label >= 0).any())

    @property
    def num_points(self):
        return len(self.coord)

    def validate(self, path="<scene>"):
        """Raise WeaksegError naming `path` for anything that breaks the scene contract."""
        n = len(self.coord)
        if n < 2:
            raise WeaksegError(path, f"scene has {n} point(s); at least 2 are needed")
        if self.coord.shape != (n, 3):
            raise WeaksegError(path, f"coord has shape {self.coord.shape}, expected ({n}, 3)")
        for name, shape in (("color", (n, 3)), ("normal", (n, 3)), ("label", (n,)), ("instance", (n,))):
            if getattr(self, name).shape != shape:
                raise WeaksegError(path, f"{name} has shape {getattr(self, name).shape}, expected {shape}")
        if not np.isfinite(self.coord).all():
            raise WeaksegError(path, f"{int((~np.isfinite(self.coord)).any(1).sum())} point(s) have NaN or inf coordinates")
        if self.segment is not None and self.segment.shape != (n,):
            raise WeaksegError(path, f"segment has shape {self.segment.shape}, expected ({n},)")
        if self.frames is not None:
            self.frames.validate(path)
        c = len(self.class_names)
        bad = (self.label < -1) | (self.label >= c)
        if bad.any():
            raise WeaksegError(path, f"{int(bad.sum())} label(s) outside -1..{c - 1}, e.g. {int(self.label[bad][0])}")


_SCENE_ARRAYS = {"coord": np.float32, "color": np.uint8, "normal": np.float32, "label": np.int16, "instance": np.int32}


def write_scene(path, scene: Scene):
    scene.validate(path)
    with atomic_path(path, ".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            for name, dtype in _SCENE_ARRAYS.items():
                f.create_dataset(name, data=np.asarray(getattr(scene, name), dtype=dtype), compression="gzip", compression_opts=1)
            f.attrs["scene_id"] = scene.scene_id
            f.attrs["dataset"] = scene.dataset
            f.attrs["split"] = scene.split
            f.attrs["class_names"] = json.dumps(list(scene.class_names))
            if scene.segment is not None:
                f.create_dataset("segment", data=scene.segment.astype(np.int32), compression="gzip", compression_opts=1)
            if scene.frames is not None:
                g = f.create_group("frames")
                fr = scene.frames
                g.create_dataset("color", data=fr.color.astype(np.uint8), compression="gzip", compression_opts=1, chunks=(1, *fr.color.shape[1:]))
                g.create_dataset("depth", data=fr.depth.astype(np.float32), compression="gzip", compression_opts=1, chunks=(1, *fr.depth.shape[1:]))
                for name in ("color_intrinsic", "depth_intrinsic", "pose"):
                    g.create_dataset(name, data=getattr(fr, name).astype(np.float32))


def read_scene(path, frames=False) -> Scene:
    """The one scene reader. `frames=False` skips the (large) RGB-D frames."""
    path = Path(path)
    if not path.is_file():
        raise WeaksegError(path, "scene file not found")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in _SCENE_ARRAYS if k not in f]
            if missing:
                raise WeaksegError(path, f"not a weakseg scene: missing {', '.join(missing)}")
            arrays = {k: f[k][()].astype(t, copy=False) for k, t in _SCENE_ARRAYS.items()}
            fr = None
            if frames and "frames" in f:
                g = f["frames"]
                fr = Frames(*(g[k][()] for k in ("color", "depth", "color_intrinsic", "depth_intrinsic", "pose")))
            segment = f["segment"][()].astype(np.int32) if "segment" in f else None
            scene = Scene(
                scene_id=str(f.attrs["scene_id"]),
                dataset=str(f.attrs["dataset"]),
                split=str(f.attrs["split"]),
                class_names=tuple(json.loads(f.attrs["class_names"])),
                frames=fr,
                segment=segment,
                **arrays,
            )
    except OSError as err:
        raise WeaksegError(path, f"not a readable HDF5 file ({err})") from None
    scene.validate(path)
    return scene


# --------------------------------------------------------------------------- pseudo labels / predictions
def write_labels(group, prob, confidence=None, attrs=None, features=None):
    """Write one scene's group (`<store>.zarr/<scene>`): prob (N,C) f16, label (N,) i16, confidence (N,) f16.

    `label` is argmax(prob), or -1 where every probability is 0 (an ignored point).
    `confidence` defaults to the max probability. `features` ({name: (S, D) array}, optional):
    a stage-one method's per-supervoxel features, for the refiners that need them, stored as
    `features/<name>` float32. The group appears only when complete.
    """
    group = Path(group)
    prob = np.asarray(prob, dtype=np.float32)
    label = prob.argmax(1).astype(np.int16)
    label[prob.max(1) <= 0] = -1
    if confidence is None:
        confidence = prob.max(1)
    _ensure_root_group(group.parent)
    with atomic_dir(group) as tmp:
        g = zarr.open_group(store=str(tmp), mode="w", zarr_format=3)
        g.attrs.update(attrs or {})
        chunks = (min(len(prob), 65536), prob.shape[1])
        g.create_array("prob", data=prob.astype(np.float16), chunks=chunks)
        g.create_array("label", data=label, chunks=chunks[:1])
        g.create_array("confidence", data=np.asarray(confidence, dtype=np.float16), chunks=chunks[:1])
        if features:
            f = g.create_group("features")
            for name, values in sorted(features.items()):
                f.create_array(name, data=np.asarray(values, dtype=np.float32))


def _ensure_root_group(store):
    meta = store / "zarr.json"
    if not meta.exists():
        with atomic_path(meta) as tmp:
            tmp.write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}))


@dataclass
class Labels:
    prob: np.ndarray  # (N,C) float32
    label: np.ndarray  # (N,) int64, -1 = ignored
    confidence: np.ndarray  # (N,) float32
    attrs: dict
    features: dict = field(default_factory=dict)  # name -> (S, D) float32, per supervoxel


def read_labels(group) -> Labels:
    path = Path(group)
    if not (path / "zarr.json").is_file():
        raise WeaksegError(path, "no pseudo-label group here")
    g = zarr.open_group(store=str(path), mode="r", zarr_format=3)
    return Labels(
        prob=g["prob"][:].astype(np.float32),
        label=g["label"][:].astype(np.int64),
        confidence=g["confidence"][:].astype(np.float32),
        attrs=dict(g.attrs),
        features={name: a[:] for name, a in g["features"].arrays()} if "features" in g else {},
    )


# --------------------------------------------------------------------------- geometry and projections
# Issue 4's per-scene caches, one HDF5 file each (layouts in weakseg.preprocess's docstring):
# geometry = supervoxels, graph, PFH (+ FPFH); projections = point-pixel pairs.
_GEOMETRY_ARRAYS = {"supervoxel": np.int32, "sv_size": np.int32, "sv_coord": np.float32, "sv_color": np.float32,
                    "sv_normal": np.float32, "edges": np.int32, "edge_contacts": np.int32, "pfh": np.float32}
_GEOMETRY_OPTIONAL = {"fpfh": np.float32}
_PROJECTION_ARRAYS = {"point": np.int32, "frame": np.int16, "u": np.int16, "v": np.int16, "depth": np.float32}


def _write_arrays(path, arrays, required, optional, attrs, kind):
    missing = [k for k in required if k not in arrays]
    extra = [k for k in arrays if k not in required and k not in optional]
    if missing or extra:
        raise WeaksegError(path, f"{kind}: missing {missing}, unexpected {extra}")
    with atomic_path(path, ".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            for name, a in arrays.items():
                dtype = {**required, **optional}[name]
                f.create_dataset(name, data=np.asarray(a, dtype=dtype), compression="gzip", compression_opts=1)
            f.attrs["kind"] = kind
            for k, v in (attrs or {}).items():
                f.attrs[k] = v if isinstance(v, (str, int, float, np.integer, np.floating)) else json.dumps(v, sort_keys=True)


def _read_arrays(path, required, optional, kind):
    path = Path(path)
    if not path.is_file():
        raise WeaksegError(path, f"{kind} file not found")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("kind") != kind:
                raise WeaksegError(path, f"not a weakseg {kind} file")
            missing = [k for k in required if k not in f]
            if missing:
                raise WeaksegError(path, f"{kind} file is missing {', '.join(missing)}")
            out = {k: f[k][()].astype(t, copy=False) for k, t in {**required, **optional}.items() if k in f}
            out["attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    except OSError as err:
        raise WeaksegError(path, f"not a readable HDF5 file ({err})") from None
    return out


def write_geometry(path, geometry, attrs=None):
    """Write `weakseg.preprocess.geometry`'s arrays (+ attrs, e.g. scene_id and settings) atomically."""
    _write_arrays(path, geometry, _GEOMETRY_ARRAYS, _GEOMETRY_OPTIONAL, attrs, "geometry")


def read_geometry(path) -> dict:
    """The arrays `write_geometry` wrote, plus `attrs` (dict); WeaksegError naming the file if broken."""
    g = _read_arrays(path, _GEOMETRY_ARRAYS, _GEOMETRY_OPTIONAL, "geometry")
    s, n = len(g["sv_size"]), len(g["supervoxel"])
    ok = (g["supervoxel"].min(initial=0) >= 0 and g["supervoxel"].max(initial=-1) < s and g["pfh"].shape == (s, 125)
          and all(g[k].shape == (s, 3) for k in ("sv_coord", "sv_color", "sv_normal"))
          and g["edges"].ndim == 2 and g["edges"].shape[1] == 2 and len(g["edge_contacts"]) == len(g["edges"])
          and (len(g["edges"]) == 0 or (g["edges"].min() >= 0 and g["edges"].max() < s))
          and ("fpfh" not in g or g["fpfh"].shape == (n, 33)))
    if not ok:
        raise WeaksegError(path, "geometry arrays are inconsistent (supervoxel ids, edges or shapes)")
    return g


def write_projections(path, pairs, attrs=None):
    """Write `weakseg.preprocess.projections`'s point-pixel pairs (+ attrs) atomically."""
    _write_arrays(path, pairs, _PROJECTION_ARRAYS, {}, attrs, "projections")


def read_projections(path) -> dict:
    """The pairs `write_projections` wrote, plus `attrs`; WeaksegError naming the file if broken."""
    p = _read_arrays(path, _PROJECTION_ARRAYS, {}, "projections")
    if len({len(p[k]) for k in _PROJECTION_ARRAYS}) != 1:
        raise WeaksegError(path, "projection arrays differ in length")
    return p


# --------------------------------------------------------------------------- coloured point clouds
def write_colored_ply(path, coord, color, comment=None):
    """Points with colours as a binary little-endian PLY (vertex x, y, z float32; red, green,
    blue uint8: the properties CloudCompare and MeshLab read as point colours), atomically."""
    import plyfile  # only the export step writes PLY

    coord, color = np.asarray(coord), np.asarray(color)
    if coord.shape != (len(coord), 3) or color.shape != coord.shape:
        raise WeaksegError(path, f"{coord.shape} coordinates with {color.shape} colours")
    vertex = np.empty(len(coord), [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    for i, axis in enumerate("xyz"):
        vertex[axis] = coord[:, i]
    for i, channel in enumerate(("red", "green", "blue")):
        vertex[channel] = color[:, i]
    ply = plyfile.PlyData([plyfile.PlyElement.describe(vertex, "vertex")], text=False, byte_order="<",
                          comments=[comment] if comment else [])
    with atomic_path(path, ".ply") as tmp:
        ply.write(str(tmp))
