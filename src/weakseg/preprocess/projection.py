"""2D-3D correspondences: for every point, the frames and colour pixels that see it.

Cameras follow the scene contract (io.Frames): `pose` is camera-to-world, shared by the colour
and depth cameras; OpenCV axes (x right, y down, z forward); intrinsics K map camera coordinates
to pixel coordinates with pixel (u, v) centred on integer (u, v) (u = column, v = row).
A point X is seen by frame f when, with (x, y, z) = R^T (X - t):
- z > `min_depth` (in front of the camera);
- its depth pixel round(K_d (x/z, y/z, 1)) lies inside the depth image, the depth there is > 0
  and |z - depth| <= `depth_tolerance` + `depth_tolerance_relative` * z (z-buffer test: a point
  hidden behind a nearer surface is not listed);
- its colour pixel round(K_c (x/z, y/z, 1)) lies inside the colour image (reported).
"""

from __future__ import annotations

import numpy as np

from ..errors import WeaksegError


def _pixels(cam, K):
    u = np.rint(K[0, 0] * cam[:, 0] / cam[:, 2] + K[0, 1] * cam[:, 1] / cam[:, 2] + K[0, 2])
    v = np.rint(K[1, 1] * cam[:, 1] / cam[:, 2] + K[1, 2])
    return u, v


def point_pixel_pairs(coord, frames, *, depth_tolerance, depth_tolerance_relative, min_depth, path="<scene>"):
    """dict of arrays: point (M,) int32, frame (M,) int16, u, v (M,) int16 colour pixel, depth (M,) float32.

    Pairs are ordered by frame, then point index.
    """
    v_count = len(frames.pose)
    if v_count > np.iinfo(np.int16).max:
        raise WeaksegError(path, f"{v_count} frames; at most {np.iinfo(np.int16).max} are supported")
    if max(frames.color.shape[1:3]) > np.iinfo(np.int16).max:
        raise WeaksegError(path, f"colour images of {frames.color.shape[1:3]} pixels are too large")
    coord = np.asarray(coord, np.float64)
    hd, wd = frames.depth.shape[1:3]
    hc, wc = frames.color.shape[1:3]
    out = {k: [] for k in ("point", "frame", "u", "v", "depth")}
    for f in range(v_count):
        pose = frames.pose[f].astype(np.float64)
        cam = (coord - pose[:3, 3]) @ pose[:3, :3]  # R^T (X - t), row vectors
        front = np.flatnonzero(cam[:, 2] > min_depth)
        cam = cam[front]
        ud, vd = _pixels(cam, frames.depth_intrinsic[f].astype(np.float64))
        inside = (ud >= 0) & (ud < wd) & (vd >= 0) & (vd < hd)
        idx, cam, ud, vd = front[inside], cam[inside], ud[inside].astype(np.int64), vd[inside].astype(np.int64)
        d = frames.depth[f][vd, ud].astype(np.float64)
        z = cam[:, 2]
        seen = (d > 0) & (np.abs(z - d) <= depth_tolerance + depth_tolerance_relative * z)
        idx, cam, z = idx[seen], cam[seen], z[seen]
        uc, vc = _pixels(cam, frames.color_intrinsic[f].astype(np.float64))
        inside = (uc >= 0) & (uc < wc) & (vc >= 0) & (vc < hc)
        out["point"].append(idx[inside].astype(np.int32))
        out["frame"].append(np.full(int(inside.sum()), f, np.int16))
        out["u"].append(uc[inside].astype(np.int16))
        out["v"].append(vc[inside].astype(np.int16))
        out["depth"].append(z[inside].astype(np.float32))
    dtypes = {"point": np.int32, "frame": np.int16, "u": np.int16, "v": np.int16, "depth": np.float32}
    return {k: (np.concatenate(a) if a else np.zeros(0, dtypes[k])).astype(dtypes[k]) for k, a in out.items()}
