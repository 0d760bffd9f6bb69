"""What the readers share: settings, scene ids, PLY and .npy reading, normals, the returned scene.

Only numpy at import time: `scenes()` runs at DAG parse time, so Open3D and h5py (through
`weakseg.io`) are imported inside the functions that need them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..classes import LABEL_SETS
from ..errors import WeaksegError

CONFIG = "config.yaml"  # where settings errors point; the dataset settings are its `dataset:` section
SAFE_ID = re.compile(r"^[A-Za-z0-9_-]+$")

# Open3D normal estimation for sources without normals: neighbours within 10 cm, at most 30 of them
# (a few centimetres of surface at the density of indoor scans), then turned towards the centre of
# the scene's bounding box, which points walls, floor and ceiling into the room.
NORMAL_RADIUS = 0.1
NORMAL_MAX_NN = 30


# --------------------------------------------------------------------------- settings and scene lists
def root_dir(settings, dataset_type):
    if not settings.get("root"):
        raise WeaksegError(CONFIG, f"dataset.root is required for dataset type {dataset_type!r}")
    root = Path(settings["root"])
    if not root.is_dir():
        raise WeaksegError(root, "directory not found" if not root.exists() else "not a directory")
    return root


def setting_path(settings, key, default):
    return Path(settings[key]) if settings.get(key) else default


def id_list(settings, key):
    """A list-of-scene-ids setting such as `val: [scene_a, scene_b]`."""
    ids = settings.get(key) or []
    if not isinstance(ids, (list, tuple)) or not all(isinstance(i, str) for i in ids):
        raise WeaksegError(CONFIG, f"dataset.{key} must be a list of scene ids, got {ids!r}")
    return list(ids)


def check_unknown_ids(key, ids, scenes):
    unknown = sorted(set(ids) - set(scenes))
    if unknown:
        raise WeaksegError(CONFIG, f"dataset.{key} names unknown scene(s): {', '.join(unknown)}")


def label_set_setting(settings):
    label_set = settings.get("label_set", "scannet20")
    if label_set not in LABEL_SETS:
        raise WeaksegError(CONFIG, f"dataset.label_set: unknown label set {label_set!r}; known: {', '.join(LABEL_SETS)}")
    return label_set


def check_scene_id(scene_id, source):
    if not SAFE_ID.match(scene_id):
        raise WeaksegError(source, f"scene id {scene_id!r} has characters that are not safe in a path or a shell "
                                   "command; rename it to use only letters, digits, '_' and '-'")


def add_scene(scenes, scene_id, source, split, labelled, sources, frames=False):
    """Add one entry to a `scenes()` result; `source` is what the id came from (a file or folder)."""
    check_scene_id(scene_id, source)
    if scene_id in scenes:
        raise WeaksegError(source, f"duplicate scene id {scene_id!r}: also given by {scenes[scene_id]['sources'][0]}")
    scenes[scene_id] = {"split": split, "labelled": labelled, "frames": frames, "sources": [str(s) for s in sources]}


def require_file(path, what="file"):
    """Stat-only check for `scenes()`: the file exists and is not empty."""
    path = Path(path)
    if not path.is_file():
        raise WeaksegError(path, f"{what} not found")
    if path.stat().st_size == 0:
        raise WeaksegError(path, "empty file")
    return path


def read_text(path):
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise WeaksegError(path, f"not a UTF-8 text file ({err})") from None


def unknown_scene(scene_id, root):
    return WeaksegError(root, f"no scene {scene_id!r} in this dataset")


# --------------------------------------------------------------------------- reading
def read_ply(path):
    """The PLY's vertex table (a structured array) and its faces ((M,3) int64, or None)."""
    import plyfile

    path = require_file(path, "PLY file")
    try:
        # Faces are read as fixed-length triangles (memory-mapped instead of plyfile's per-face list
        # parsing); a face of another length is reported as "unexpected list length".
        ply = plyfile.PlyData.read(str(path), known_list_len={"face": {"vertex_indices": 3, "vertex_index": 3}})
        if "vertex" not in ply:
            raise WeaksegError(path, "no 'vertex' element in the PLY header")
        vertex = np.array(ply["vertex"].data)  # copies out of the memory map
        faces = None
        if "face" in ply and ply["face"].count:
            name = next((p.name for p in ply["face"].properties if p.name in ("vertex_indices", "vertex_index")), None)
            if name is not None:
                faces = _triangles(ply["face"].data[name], path)
    except plyfile.PlyHeaderParseError as err:
        raise WeaksegError(path, f"malformed PLY header ({err})") from None
    except (plyfile.PlyElementParseError, ValueError, EOFError) as err:
        problem = "faces must all be triangles" if "unexpected list length" in str(err) else "truncated or malformed PLY data"
        raise WeaksegError(path, f"{problem} ({err})") from None
    if faces is not None and len(faces) and (faces.min() < 0 or faces.max() >= len(vertex)):
        raise WeaksegError(path, f"a face refers to a vertex outside 0..{len(vertex) - 1}")
    return vertex, faces


def _triangles(faces, path):
    if faces.dtype == object:  # lists of any length, from a text PLY
        try:
            faces = np.stack(faces)
        except ValueError:  # faces of different lengths
            faces = None
    if faces is None or faces.ndim != 2 or faces.shape[1] != 3:
        raise WeaksegError(path, "faces must all be triangles")
    return faces.astype(np.int64)


def ply_vertex_properties(path):
    """The vertex property names in a PLY header, read without loading the data (for `scenes()`)."""
    path = require_file(path, "PLY file")
    names, in_vertex = [], False
    with open(path, "rb") as f:
        if f.readline().strip() != b"ply":
            raise WeaksegError(path, "malformed PLY header (the file does not start with 'ply')")
        for _ in range(10000):
            words = f.readline().split()
            if not words:
                continue
            if words[0] == b"end_header":
                return names
            if words[0] == b"element":
                in_vertex = words[1:2] == [b"vertex"]
            elif words[0] == b"property" and in_vertex:
                names.append(words[-1].decode("ascii", "replace"))
    raise WeaksegError(path, "malformed PLY header (no end_header)")


def require_properties(vertex, names, path):
    missing = [n for n in names if n not in vertex.dtype.names]
    if missing:
        raise WeaksegError(path, f"missing vertex property {', '.join(repr(n) for n in missing)}")


def columns(vertex, names, dtype):
    return np.stack([vertex[n] for n in names], 1).astype(dtype)


def load_npy(path, required=True):
    """An .npy array, or None when the optional file is absent."""
    path = Path(path)
    if not path.is_file():
        if required:
            raise WeaksegError(path, "file not found")
        return None
    try:
        return np.load(path, allow_pickle=False)
    except Exception as err:  # a damaged header fails in many ways (ValueError, SyntaxError, TokenError...)
        raise WeaksegError(path, f"not a readable .npy file ({err})") from None


# --------------------------------------------------------------------------- checking and converting
def colors_uint8(values, path):
    """Colours given in any numeric type must lie in 0..255; they become uint8."""
    values = np.asarray(values)
    bad = ~np.isfinite(values) | (values < 0) | (values > 255) if values.dtype.kind == "f" else (values < 0) | (values > 255)
    if bad.any():
        example = " ".join(f"{v:g}" for v in values[bad.any(1)][0])
        raise WeaksegError(path, f"{int(bad.any(1).sum())} colour(s) outside 0..255, e.g. {example}")
    return np.round(values).astype(np.uint8) if values.dtype.kind == "f" else values.astype(np.uint8)


def integer_values(values, path, what):
    values = np.asarray(values)
    if values.dtype.kind == "f" and not (np.isfinite(values).all() and (values == np.round(values)).all()):
        raise WeaksegError(path, f"{what} values must be integers")
    return values.astype(np.int64)


def check_labels(label, num_classes, path, what="label"):
    bad = (label < -1) | (label >= num_classes)
    if bad.any():
        raise WeaksegError(path, f"{int(bad.sum())} {what}(s) outside -1..{num_classes - 1} (-1 = unannotated), "
                                 f"e.g. {int(label[bad][0])}")
    return label.astype(np.int16)


def estimate_normals(coord, radius=NORMAL_RADIUS):
    """Normals of a cloud without a mesh, oriented toward the centre of its box: indoors, walls face
    in and floors up."""
    import open3d as o3d

    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(coord, np.float64)))
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=NORMAL_MAX_NN))
    pcd.orient_normals_towards_camera_location(pcd.get_axis_aligned_bounding_box().get_center())
    return np.asarray(pcd.normals, np.float32)


def mesh_normals(coord, faces):
    """Area-weighted vertex normals of a mesh; vertices in no face get estimated ones."""
    import open3d as o3d

    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.asarray(coord, np.float64)),
                                     o3d.utility.Vector3iVector(faces.astype(np.int32)))
    mesh.compute_vertex_normals()
    normal = np.asarray(mesh.vertex_normals, np.float32)
    loose = np.linalg.norm(normal, axis=1) < 0.5
    if loose.any():
        normal[loose] = estimate_normals(coord)[loose]
    return normal


def make_scene(path, *, scene_id, dataset, split, class_names, coord, color, normal=None, label=None,
               instance=None, segment=None, frames=None, faces=None):
    """The `io.Scene` a reader returns, with defaults for what the source lacks, validated as `path`."""
    from .. import io

    coord = np.asarray(coord, np.float32)
    n = len(coord)
    if n >= 2 and np.isfinite(coord).all() and normal is None:
        normal = mesh_normals(coord, faces) if faces is not None else estimate_normals(coord)
    scene = io.Scene(
        scene_id=scene_id, dataset=dataset, split=split, class_names=tuple(class_names), coord=coord,
        color=np.asarray(color, np.uint8),
        normal=np.zeros((n, 3), np.float32) if normal is None else np.asarray(normal, np.float32),
        label=np.full(n, -1, np.int16) if label is None else np.asarray(label, np.int16),
        instance=np.full(n, -1, np.int32) if instance is None else np.asarray(instance, np.int32),
        segment=None if segment is None else np.asarray(segment, np.int32),
        frames=frames,
    )
    scene.validate(path)
    return scene
