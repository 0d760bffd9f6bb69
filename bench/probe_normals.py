"""How far the normals the reader estimates for scans without a mesh are from the mesh's own.

    python bench/probe_normals.py [--radius 0.05 0.1 0.2]

scannet_rooms' validation scans are 50,000 vertices sampled from the two ScanNet scenes that
scannet_pointcept holds whole, with the mesh's vertex normals. For each sampled vertex this
compares the normal the reader estimates from the sample (Open3D within a radius, oriented toward
the centre of the room's box) with the mesh's: the angle between their axes (the sign ignored)
and how often their signs agree. Nothing is trained; no model is chosen with it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from weakseg.datasets._common import NORMAL_RADIUS, estimate_normals  # noqa: E402

SCANS = ("scene0011_00", "scene0011_01")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    p.add_argument("--radius", type=float, nargs="+", default=[0.05, NORMAL_RADIUS, 0.2])
    a = p.parse_args()
    for scan in SCANS:
        whole = a.data / "scannet_pointcept" / scan
        sample = np.load(a.data / "scannet_rooms/val" / scan / "coord.npy")
        distance, nearest = cKDTree(np.load(whole / "coord.npy")).query(sample)
        mesh = np.load(whole / "normal.npy")[nearest]
        mesh /= np.maximum(np.linalg.norm(mesh, axis=1, keepdims=True), 1e-9)
        print(f"{scan}: {len(sample)} sampled vertices, farthest from its mesh vertex {distance.max():.4f} m")
        for radius in a.radius:
            cos = (estimate_normals(sample, radius) * mesh).sum(1)
            angle = np.degrees(np.arccos(np.clip(np.abs(cos), 0, 1)))
            print(f"  radius {radius:.2f} m: axis angle median {np.median(angle):.1f} deg, 90th percentile "
                  f"{np.percentile(angle, 90):.1f} deg; same sign as the mesh's {100 * np.mean(cos > 0):.1f} %")


if __name__ == "__main__":
    main()
