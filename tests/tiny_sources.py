"""Tiny hand-made data sources in each reader's layout, with answers known by construction."""

from __future__ import annotations

import json

import numpy as np
import open3d as o3d
from plyfile import PlyData, PlyElement


def write_ply(path, text=False, faces=None, **props):
    """A PLY whose vertex element has one property per keyword (name=array)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(next(iter(props.values())))
    vertex = np.empty(n, dtype=[(k, np.asarray(v).dtype) for k, v in props.items()])
    for k, v in props.items():
        vertex[k] = v
    elements = [PlyElement.describe(vertex, "vertex")]
    if faces is not None:
        face = np.empty(len(faces), dtype=[("vertex_indices", "i4", (3,))])
        face["vertex_indices"] = faces
        elements.append(PlyElement.describe(face, "face"))
    PlyData(elements, text=text).write(str(path))
    return path


# --------------------------------------------------------------------------- ScanNet raw
# Three quads of 4 vertices: floor (z=0), wall (x=0), and a desk top whose last two vertices are
# "otherprop" (NYU40 40, not a benchmark class) and unannotated (0).
SCANNET_COORD = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0],
                          [0, 0, 0.1], [0, 1, 0.1], [0, 1, 1], [0, 0, 1],
                          [0.3, 0.3, 0.7], [0.6, 0.3, 0.7], [0.6, 0.6, 0.7], [0.3, 0.6, 0.7]], np.float32)
SCANNET_FACES = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7], [8, 9, 10], [8, 10, 11]])
SCANNET_NYU40 = np.array([2, 2, 2, 2, 1, 1, 1, 1, 14, 14, 40, 0], np.uint16)
SCANNET_LABEL = np.array([1, 1, 1, 1, 0, 0, 0, 0, 12, 12, -1, -1])  # floor, wall, desk, ignored
SCANNET_SEGS = np.array([10, 10, 10, 10, 20, 20, 20, 20, 30, 30, 31, 31])
SCANNET_INSTANCE = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, -1, -1])  # the "box" group maps to otherprop
SCANNET_TSV = ("id\traw_category\tcategory\tcount\tnyu40id\teigen13id\tnyuClass\tnyu40class\n"
               "1\twall\twall\t8277\t1\t12\twall\twall\n"
               "2\tfloor\tfloor\t4\t2\t5\tfloor\tfloor\n"
               "3\tdesk\tdesk\t680\t14\t10\tdesk\tdesk\n"
               "4\tbox\tbox\t775\t40\t7\tbox\totherprop\n")
COLOR_SIZE, DEPTH_SIZE = (6, 8), (3, 4)  # (height, width): colour and depth differ, as in ScanNet
COLOR_K = np.array([[9.0, 0, 3.5], [0, 9.0, 2.5], [0, 0, 1]])
DEPTH_K = np.array([[4.0, 0, 1.5], [0, 4.0, 1.0], [0, 0, 1]])


def scannet_scene(scans, scene_id, segs=True, frames=False):
    d = scans / scene_id
    color = np.tile(np.array([[200, 100, 50]], np.uint8), (12, 1))
    xyz = {"x": SCANNET_COORD[:, 0], "y": SCANNET_COORD[:, 1], "z": SCANNET_COORD[:, 2]}
    rgb = {"red": color[:, 0], "green": color[:, 1], "blue": color[:, 2], "alpha": np.full(12, 255, np.uint8)}
    write_ply(d / f"{scene_id}_vh_clean_2.ply", faces=SCANNET_FACES, **xyz, **rgb)
    write_ply(d / f"{scene_id}_vh_clean_2.labels.ply", faces=SCANNET_FACES, **xyz, **rgb, label=SCANNET_NYU40)
    if segs:
        (d / f"{scene_id}_vh_clean_2.0.010000.segs.json").write_text(
            json.dumps({"sceneId": scene_id, "segIndices": SCANNET_SEGS.tolist()}))
        groups = [{"id": i, "objectId": i, "label": c, "segments": s}
                  for i, (c, s) in enumerate([("floor", [10]), ("wall", [20]), ("desk", [30]), ("box", [31])])]
        (d / f"{scene_id}.aggregation.json").write_text(json.dumps({"sceneId": scene_id, "segGroups": groups}))
    if frames:
        scannet_frames(d)


def scannet_export_layout(d, color_k, depth_k):
    """SensReader's export folders under scene folder `d`, with both cameras' 4 x 4 intrinsics."""
    for sub in ("color", "depth", "pose", "intrinsic"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    for name, k in (("intrinsic_color.txt", color_k), ("intrinsic_depth.txt", depth_k)):
        m = np.eye(4)
        m[:3, :3] = k
        np.savetxt(d / "intrinsic" / name, m)


def scannet_frames(d):
    """Frames 0..3 in SensReader's export; frame 2 has ScanNet's invalid (-inf) pose."""
    scannet_export_layout(d, COLOR_K, DEPTH_K)
    for i in range(4):
        pose = np.eye(4)
        pose[:3, 3] = [i, 0, 1.5]
        np.savetxt(d / "pose" / f"{i}.txt", np.full((4, 4), -np.inf) if i == 2 else pose)
        o3d.io.write_image(str(d / "color" / f"{i}.jpg"), o3d.geometry.Image(np.full((*COLOR_SIZE, 3), 40 * i, np.uint8)))
        o3d.io.write_image(str(d / "depth" / f"{i}.png"), o3d.geometry.Image(np.full(DEPTH_SIZE, 1000 + i, np.uint16)))


def scannet_root(root, frames=False):
    """scene0000_00 (train, segs + aggregation), scene0001_00 (val, neither); scene0002_00 is listed, absent."""
    scannet_scene(root / "scans", "scene0000_00", frames=frames)
    scannet_scene(root / "scans", "scene0001_00", segs=False)
    scannet_scene(root / "scans", "scene0003_00")  # in no split file: not listed
    (root / "scannetv2_train.txt").write_text("scene0000_00\nscene0002_00\n")
    (root / "scannetv2_val.txt").write_text("scene0001_00\n\n")
    (root / "scannetv2-labels.combined.tsv").write_text(SCANNET_TSV)
    return root


# --------------------------------------------------------------------------- Pointcept
def pointcept_scene(d, n=6, labelled=True, normals=True, seed=0):
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    arrays = {"coord": rng.uniform(0, 2, (n, 3)).astype(np.float32), "color": rng.integers(0, 256, (n, 3)).astype(np.uint8)}
    if normals:
        arrays["normal"] = np.tile(np.array([0, 0, 1], np.float32), (n, 1))
    if labelled:
        arrays["segment20"] = np.array([-1, 0, 1, 19, 4, 4][:n] + [0] * (n - 6), np.int64)
        arrays["instance"] = np.array([-1, 0, 1, 2, 3, 3][:n] + [0] * (n - 6), np.int64)
    for name, a in arrays.items():
        np.save(d / f"{name}.npy", a)
    return arrays


# --------------------------------------------------------------------------- S3DIS
def s3dis_root(root):
    """Area_1/office_1 (chair, stairs -> clutter, wall with quirks), Area_5/hall_1 (floor)."""
    ann = root / "Area_1" / "office_1" / "Annotations"
    ann.mkdir(parents=True)
    (ann / "chair_1.txt").write_text("1.0 2.0 0.5 10 20 30\n1.1 2.0 0.5 11 21 31\n")
    (ann / "stairs_1.txt").write_text("3.0 3.0 0.2 0 0 0\n")
    # trailing blanks, a blank line, CRLF, a NUL inside a number (as in Area_5/hallway_6) and a stray letter
    (ann / "wall_2.txt").write_bytes(b"0.0 0.0 1.0 255 255 255   \r\n\r\n0.0 1.0 1.\x005 100 100 100\n0.0 2.0 1x.5 1 2 3\n")
    (root / "Area_1" / "office_1" / "office_1.txt").write_text("ignored\n")  # the room file is not read
    floor = root / "Area_5" / "hall_1" / "Annotations"
    floor.mkdir(parents=True)
    (floor / "floor_1.txt").write_text("0 0 0 5 5 5\n1 0 0 5 5 5\n")
    return root


S3DIS_OFFICE = {  # per point, in file order (chair_1, stairs_1, wall_2)
    "coord": [[1.0, 2.0, 0.5], [1.1, 2.0, 0.5], [3.0, 3.0, 0.2], [0.0, 0.0, 1.0], [0.0, 1.0, 1.5], [0.0, 2.0, 1.5]],
    "color": [[10, 20, 30], [11, 21, 31], [0, 0, 0], [255, 255, 255], [100, 100, 100], [1, 2, 3]],
    "label": [8, 8, 12, 2, 2, 2],  # chair, chair, clutter (stairs), wall x3
    "instance": [0, 0, 1, 2, 2, 2],
}


# --------------------------------------------------------------------------- PLY folder
def ply_folder_root(root):
    """labelled/office_1.ply (colour, labels, instances), room_2.ply (xyz only)."""
    rng = np.random.default_rng(0)
    xyz = rng.uniform(0, 1, (5, 3)).astype(np.float32)
    write_ply(root / "labelled" / "office_1.ply", x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2],
              red=np.array([0, 50, 100, 150, 255], np.uint8), green=np.zeros(5, np.uint8), blue=np.zeros(5, np.uint8),
              label=np.array([-1, 0, 4, 4, 19], np.int32), instance=np.array([-1, 0, 1, 1, 2], np.int32))
    write_ply(root / "room_2.ply", text=True, x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2])
    return root, xyz
