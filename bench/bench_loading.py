"""Loading throughput of the real-data readers against a plain numpy/plyfile read of the same files.

    python bench/bench_loading.py [--data ../shared/data] [--repeats 5]

Rows (medians over --repeats runs, each ratio measured in the same run):
- scannet_pointcept: `load("scene0011_00")` vs `np.load` of its five .npy files;
- s3dis: `load()` of the largest fragment room vs `np.loadtxt` of its annotation files, and the
  text parser alone (`s3dis.read_points_txt`) vs `np.loadtxt`;
- scannet (raw): no raw ScanNet scene is available, so the raw layout is built in a temporary
  folder from the real Pointcept scene0011_00: its vertices and colours as a binary mesh PLY (no
  faces, so normals are estimated, not taken from a mesh), a labels PLY with NYU40 ids mapped back
  from segment20, segs.json/aggregation.json with one segment and one group per instance, and a
  label-map tsv; `load()` vs plyfile + json reads of those files.
`load()` does more than the plain read: type and range checks, label mapping and, where the
source has none, Open3D normals; the ratio is that price.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from plyfile import PlyData, PlyElement

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from weakseg.classes import SCANNET20, SCANNET20_NYU40_IDS  # noqa: E402
from weakseg.datasets import DATASETS  # noqa: E402
from weakseg.datasets._common import estimate_normals  # noqa: E402
from weakseg.datasets.s3dis import read_points_txt  # noqa: E402


def median_seconds(fn, repeats):
    fn()  # warm the page cache and lazy imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def row(name, points, ours, plain, repeats):
    t_ours, t_plain = median_seconds(ours, repeats), median_seconds(plain, repeats)
    return (f"| {name} | {points:,} | {t_ours * 1e3:.0f} | {points / t_ours / 1e6:.2f} | {t_plain * 1e3:.0f} | "
            f"{points / t_plain / 1e6:.2f} | {t_ours / t_plain:.1f} |")


def build_raw_scannet(pointcept_scene, root):
    """The raw ScanNet layout for one scene, from its Pointcept arrays (see the module docstring)."""
    scene_id = pointcept_scene.name
    coord = np.load(pointcept_scene / "coord.npy")
    color = np.load(pointcept_scene / "color.npy")
    segment20 = np.load(pointcept_scene / "segment20.npy")
    instance = np.load(pointcept_scene / "instance.npy")
    nyu40 = np.where(segment20 >= 0, np.array(SCANNET20_NYU40_IDS)[segment20], 0).astype(np.uint16)
    d = root / "scans" / scene_id
    d.mkdir(parents=True)
    vertex = np.empty(len(coord), [("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"),
                                   ("blue", "u1"), ("alpha", "u1")])
    for k, name in enumerate("xyz"):
        vertex[name] = coord[:, k]
    for k, name in enumerate(("red", "green", "blue")):
        vertex[name] = color[:, k]
    vertex["alpha"] = 255
    PlyData([PlyElement.describe(vertex, "vertex")]).write(str(d / f"{scene_id}_vh_clean_2.ply"))
    labelled = np.empty(len(coord), vertex.dtype.descr + [("label", "u2")])
    for name in vertex.dtype.names:
        labelled[name] = vertex[name]
    labelled["label"] = nyu40
    PlyData([PlyElement.describe(labelled, "vertex")]).write(str(d / f"{scene_id}_vh_clean_2.labels.ply"))
    segs = instance + 1  # one segment per instance, segment 0 = no instance
    (d / f"{scene_id}_vh_clean_2.0.010000.segs.json").write_text(json.dumps({"segIndices": segs.tolist()}))
    groups = []
    for i in np.unique(instance[instance >= 0]):
        classes = segment20[instance == i]
        classes = classes[classes >= 0]
        label = SCANNET20[np.bincount(classes).argmax()] if len(classes) else "object"
        groups.append({"id": int(i), "objectId": int(i), "label": label, "segments": [int(i) + 1]})
    (d / f"{scene_id}.aggregation.json").write_text(json.dumps({"sceneId": scene_id, "segGroups": groups}))
    rows = [f"{k}\t{name}\t{name}\t1\t{nyu}" for k, (name, nyu) in enumerate(zip(SCANNET20, SCANNET20_NYU40_IDS))]
    (root / "scannetv2-labels.combined.tsv").write_text("id\traw_category\tcategory\tcount\tnyu40id\n"
                                                        + "\n".join(rows) + "\n40\tobject\tobject\t1\t40\n")
    (root / "scannetv2_train.txt").write_text("")
    (root / "scannetv2_val.txt").write_text(scene_id + "\n")
    return d


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    pointcept_root, s3dis_root = args.data / "scannet_pointcept", args.data / "s3dis_fragments"
    print(f"| source | points | load() ms | Mpts/s | plain read ms | Mpts/s | ratio |\n|---|---:|---:|---:|---:|---:|---:|")

    reader = DATASETS.get("scannet_pointcept")({"root": str(pointcept_root)})
    folder = pointcept_root / "scene0011_00"
    points = len(np.load(folder / "coord.npy"))
    plain = lambda: [np.load(folder / f"{n}.npy") for n in ("coord", "color", "normal", "segment20", "instance")]
    print(row("scannet_pointcept scene0011_00", points, lambda: reader.load("scene0011_00"), plain, args.repeats))

    reader = DATASETS.get("s3dis")({"root": str(s3dis_root)})
    room, info = max(reader.scenes().items(), key=lambda kv: sum(Path(p).stat().st_size for p in kv[1]["sources"]))
    files = [Path(p) for p in info["sources"]]
    points = sum(len(np.loadtxt(f, ndmin=2)) for f in files)
    plain = lambda: np.concatenate([np.loadtxt(f, ndmin=2) for f in files])
    print(row(f"s3dis {room} ({len(files)} files)", points, lambda: reader.load(room), plain, args.repeats))
    coord = plain()[:, :3]
    print(row("s3dis: Open3D normals alone (in load())", points, lambda: estimate_normals(coord), plain, args.repeats))
    print(row("s3dis text parser only", points, lambda: [read_points_txt(f) for f in files], plain, args.repeats))

    with tempfile.TemporaryDirectory() as tmp:
        d = build_raw_scannet(folder, Path(tmp))
        reader = DATASETS.get("scannet")({"root": tmp})
        scene_id = d.name

        def plain():
            mesh = PlyData.read(str(d / f"{scene_id}_vh_clean_2.ply"))["vertex"].data
            labels = PlyData.read(str(d / f"{scene_id}_vh_clean_2.labels.ply"))["vertex"].data["label"]
            segs = json.loads((d / f"{scene_id}_vh_clean_2.0.010000.segs.json").read_text())
            groups = json.loads((d / f"{scene_id}.aggregation.json").read_text())
            return mesh, labels, segs, groups

        points = len(plain()[0])
        print(row("scannet raw (built from scene0011_00)", points, lambda: reader.load(scene_id), plain, args.repeats))
        coord = np.load(folder / "coord.npy")
        print(row("scannet raw: Open3D normals alone (in load())", points, lambda: estimate_normals(coord), plain,
                  args.repeats))


if __name__ == "__main__":
    main()
