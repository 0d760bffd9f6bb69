"""Benchmark of issue 4's preprocessing on the real ScanNet scenes, with PCL's VCCS as the anchor.

Run on one core (see bench/README.md, "Preprocessing"):
    OMP_NUM_THREADS=1 taskset -c 1 python bench/bench_preprocess.py [--repeats 5]
Needs Debian's libpcl-dev for the anchor (bench/pcl/build.sh builds it; skipped if that fails).
Data are read in place from /work/shared/data/scannet_pointcept (never copied).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from weakseg import io  # noqa: E402
from weakseg import preprocess as P  # noqa: E402
from weakseg.classes import SCANNET20  # noqa: E402
from weakseg.preprocess import graph, pfh, projection, quality, supervoxels  # noqa: E402

DATA = Path("/work/shared/data/scannet_pointcept")
ANCHOR = ROOT / "bench" / "pcl" / "vccs_anchor"


def load(name):
    d = DATA / name
    return io.Scene(name, "scannet", "val", SCANNET20, np.load(d / "coord.npy"), np.load(d / "color.npy"),
                    np.load(d / "normal.npy"), np.load(d / "segment20.npy").astype(np.int16),
                    np.load(d / "instance.npy").astype(np.int32))


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def pcl_vccs(scene, s, repeats):
    """PCL's SupervoxelClustering on all points, coordinates in voxel units (as anchors.md)."""
    if not ANCHOR.exists():
        r = subprocess.run([str(ROOT / "bench" / "pcl" / "build.sh")], capture_output=True, text=True)
        if r.returncode:
            print("PCL anchor not built (apt-get install libpcl-dev):", r.stderr[-300:], file=sys.stderr)
            return None
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        with open(inp, "wb") as f:
            f.write(np.int64(scene.num_points).tobytes())
            f.write((scene.coord / s["voxel_size"]).astype(np.float32).tobytes())
            f.write(scene.color.astype(np.uint8).tobytes())
            f.write(scene.normal.astype(np.float32).tobytes())
        r = subprocess.run([str(ANCHOR), "vccs", str(inp), str(out), "1", str(s["seed_resolution"] / s["voxel_size"]),
                            str(s["spatial_importance"]), str(s["normal_importance"]), str(s["color_importance"]), str(repeats)],
                           capture_output=True, text=True, check=True)
        res = json.loads(r.stdout)
        labels = np.fromfile(out, np.int32).astype(np.int64)
    res["unlabelled_points"] = int((labels == 0).sum())
    has = labels > 0
    if not has.all():  # PCL leaves a few points without a supervoxel: give them their nearest point's
        _, near = cKDTree(scene.coord[has]).query(scene.coord[~has])
        labels[~has] = labels[has][near]
    return res, labels


def scannet_like_frames(scene, count=50, seed=0):
    """50 ScanNet-like frames (depth 640x480, colour 1296x968, different intrinsics) looking around
    the room from its centre; depth = z-buffer of the scene's own points splatted 2x2."""
    rng = np.random.default_rng(seed)
    kd = np.array([[577.6, 0, 319.5], [0, 578.7, 239.5], [0, 0, 1]])
    kc = np.array([[1170.2, 0, 647.8], [0, 1170.2, 483.8], [0, 0, 1]])
    centre = (scene.coord.min(0) + scene.coord.max(0)) / 2
    depth = np.zeros((count, 480, 640), np.float32)
    poses = np.zeros((count, 4, 4))
    for f in range(count):
        yaw, pitch = 2 * np.pi * f / count, np.deg2rad(rng.uniform(-30, 0))
        fwd = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), np.sin(pitch)])
        right = np.cross(fwd, [0, 0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        poses[f] = np.eye(4)
        poses[f, :3, :3] = np.stack([right, down, fwd], 1)
        poses[f, :3, 3] = centre + rng.normal(0, 0.3, 3) * [1, 1, 0.3]
        cam = (scene.coord - poses[f, :3, 3]) @ poses[f, :3, :3]
        cam = cam[cam[:, 2] > 0.1]
        u = np.floor(kd[0, 0] * cam[:, 0] / cam[:, 2] + kd[0, 2]).astype(int)
        v = np.floor(kd[1, 1] * cam[:, 1] / cam[:, 2] + kd[1, 2]).astype(int)
        zb = np.full(480 * 640, np.inf)
        for du in (0, 1):
            for dv in (0, 1):
                ok = (u + du >= 0) & (u + du < 640) & (v + dv >= 0) & (v + dv < 480)
                np.minimum.at(zb, (v[ok] + dv) * 640 + u[ok] + du, cam[ok, 2])
        depth[f] = np.where(np.isfinite(zb), zb, 0).reshape(480, 640)
    return io.Frames(color=np.zeros((count, 968, 1296, 3), np.uint8), depth=depth,
                     color_intrinsic=np.repeat(kc[None], count, 0).astype(np.float32),
                     depth_intrinsic=np.repeat(kd[None], count, 0).astype(np.float32), pose=poses.astype(np.float32))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scenes", nargs="*", default=["scene0011_00", "scene0011_01"])
    args = ap.parse_args()
    s = dict(P.GEOMETRY_DEFAULTS)
    rows = []
    for name in args.scenes:
        scene = load(name)
        nn = quality.knn(scene.coord)
        ev = lambda sv: quality.evaluate(scene.coord, sv, scene.instance, scene.label, nn=nn)  # noqa: E731
        row = {"scene": name, "points": scene.num_points}
        t_vccs, sv = timed(lambda: P.supervoxel_ids(scene, {**s, "method": "vccs"}), args.repeats)
        t_rg, sv_rg = timed(lambda: P.supervoxel_ids(scene, {**s, "method": "vccs+region_growing"}), args.repeats)
        t_graph, _ = timed(lambda: (graph.supervoxel_means(scene.coord, scene.color, scene.normal, sv),
                                    graph.supervoxel_graph(scene.coord, sv, s["voxel_size"])), args.repeats)
        t_pfh, _ = timed(lambda: pfh.supervoxel_pfh(scene.coord, scene.normal, sv, s["pfh_max_points"], s["seed"]), args.repeats)
        t_geo, _ = timed(lambda: P.geometry(scene, s), args.repeats)
        t_geo_rg, _ = timed(lambda: P.geometry(scene, {**s, "method": "vccs+region_growing"}), args.repeats)
        row["ours_vccs"] = {"time_s": t_vccs, **ev(sv)}
        row["ours_vccs+region_growing"] = {"time_s": t_rg, **ev(sv_rg)}
        row.update(graph_s=t_graph, pfh_s=t_pfh, geometry_s=t_geo, geometry_region_growing_s=t_geo_rg)
        anchor = pcl_vccs(scene, s, args.repeats)
        if anchor:
            res, labels = anchor
            row["pcl_vccs"] = {"time_s": res["median_s"], "unlabelled_points": res["unlabelled_points"], **ev(labels)}
            row["vccs_ratio_ours_over_pcl"] = t_vccs / res["median_s"]
        frames = scannet_like_frames(scene)
        t_proj, pairs = timed(lambda: projection.point_pixel_pairs(scene.coord, frames, depth_tolerance=0.05,
                                                                   depth_tolerance_relative=0.02, min_depth=0.05), args.repeats)
        row["projection_50_frames_s"] = t_proj
        row["projection_pairs"] = int(len(pairs["point"]))
        rows.append(row)
        print(json.dumps(row, indent=1), flush=True)


if __name__ == "__main__":
    main()
