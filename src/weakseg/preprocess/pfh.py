"""Point feature histograms: PFH per supervoxel (Rusu et al. 2008), FPFH per point (Open3D).

PFH of a supervoxel, as PCL's `computePointPFHSignature` over the supervoxel's points: for every
pair of points (p1, n1), (p2, n2) the Darboux-frame angle triplet of `pcl::computePairFeatures`
(source point = the one whose normal makes the smaller angle with the line between them):
    u = n1, v = (p2 - p1) x u / |...|, w = u x v,
    f1 = atan2(w.n2, u.n2) in [-pi, pi], f2 = v.n2 in [-1, 1], f3 = u.(p2 - p1)/|p2 - p1| in [-1, 1],
each cut into 5 equal bins; bin index = b1 + 5 b2 + 25 b3 (125 bins).
Normalisation (ours): each row sums to 1 over the valid pairs (PCL sums to 100 over all pairs,
counting the degenerate ones it skips). A supervoxel with no valid pair (one point, coincident
points, or normals along the line between the points) has a row of zeros.
A flat patch puts all its mass in bin 62 (f1 = f2 = f3 = 0 fall in the middle bin of each).
Supervoxels with more than `max_points` points use a fixed-seed random subset of that many.
"""

from __future__ import annotations

import numpy as np

BINS = 5
PFH_DIM = BINS**3
_CHUNK = 1 << 20  # pairs per vectorised batch (bounded memory)


def _cross(a, b):
    return np.stack([a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1], a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
                     a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]], 1)


def pair_features(p1, n1, p2, n2):
    """f1, f2, f3 and a validity mask for arrays of point pairs (PCL's computePairFeatures)."""
    d = p2 - p1
    f4 = np.sqrt((d * d).sum(1))
    ok = f4 > 0
    d /= np.where(ok, f4, 1)[:, None]
    a1 = (n1 * d).sum(1)
    a2 = (n2 * d).sum(1)
    swap = np.abs(a1) < np.abs(a2)  # acos(|a1|) > acos(|a2|): p2 is the source point
    u = np.where(swap[:, None], n2, n1)
    m = np.where(swap[:, None], n1, n2)
    d[swap] *= -1
    f3 = np.where(swap, -a2, a1)
    v = _cross(d, u)
    vn = np.sqrt((v * v).sum(1))
    ok &= vn > 0
    v /= np.where(vn > 0, vn, 1)[:, None]
    w = _cross(u, v)
    f2 = (v * m).sum(1)
    f1 = np.arctan2((w * m).sum(1), (u * m).sum(1))
    return f1, f2, f3, ok


def pfh_bins(f1, f2, f3):
    b1 = np.clip(np.floor(BINS * (f1 + np.pi) / (2 * np.pi)), 0, BINS - 1).astype(np.int64)
    b2 = np.clip(np.floor(BINS * (f2 + 1) * 0.5), 0, BINS - 1).astype(np.int64)
    b3 = np.clip(np.floor(BINS * (f3 + 1) * 0.5), 0, BINS - 1).astype(np.int64)
    return b1 + BINS * b2 + BINS * BINS * b3


_TRIU = {}


def _triu(m):
    if m not in _TRIU:
        _TRIU[m] = np.triu_indices(m, 1)
    return _TRIU[m]


def supervoxel_pfh(coord, normal, supervoxel, max_points=128, seed=0):
    """(S, 125) float32 PFH per supervoxel, rows summing to 1 (see the module docstring)."""
    # float32 is enough for angles binned in fifths; positions relative to the scene's minimum
    coord = np.asarray(coord, np.float64)
    coord = (coord - coord.min(0)).astype(np.float32)
    normal = np.asarray(normal, np.float32)
    normal = normal / np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    sv = np.asarray(supervoxel, np.int64)
    s = int(sv.max()) + 1
    # Per supervoxel a random order (fixed seed), keep the first max_points.
    order = np.lexsort((np.random.default_rng(seed).random(len(sv)), sv))
    sizes = np.bincount(sv, minlength=s)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    rank = np.arange(len(sv)) - np.repeat(starts, sizes)
    keep = order[rank < max_points]  # sorted by supervoxel
    used = np.minimum(sizes, max_points)
    kstart = np.r_[0, np.cumsum(used)[:-1]]
    # All pairs, grouped by subset size so that each size is one broadcast.
    pi, pj, ps = [], [], []
    for m in np.unique(used):
        if m < 2:
            continue
        ids = np.flatnonzero(used == m)
        i, j = _triu(int(m))
        base = kstart[ids][:, None]
        pi.append((base + i).ravel())
        pj.append((base + j).ravel())
        ps.append(np.repeat(ids, len(i)))
    hist = np.zeros(s * PFH_DIM, np.float64)
    if pi:
        pi, pj, ps = np.concatenate(pi), np.concatenate(pj), np.concatenate(ps)
        for c in range(0, len(pi), _CHUNK):
            a, b = keep[pi[c:c + _CHUNK]], keep[pj[c:c + _CHUNK]]
            f1, f2, f3, ok = pair_features(coord[a], normal[a], coord[b], normal[b])
            idx = ps[c:c + _CHUNK][ok] * PFH_DIM + pfh_bins(f1[ok], f2[ok], f3[ok])
            hist += np.bincount(idx, minlength=s * PFH_DIM)
    hist = hist.reshape(s, PFH_DIM)
    total = hist.sum(1, keepdims=True)
    return np.where(total > 0, hist / np.maximum(total, 1), 0).astype(np.float32)


def point_fpfh(coord, normal, radius=0.25, max_nn=100):
    """(N, 33) float32 FPFH per point from Open3D (the scene's normals, hybrid radius/kNN search)."""
    import open3d as o3d  # here, not at the top: it takes ~1 s to import and most geometry jobs never need it

    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(coord, np.float64)))
    pcd.normals = o3d.utility.Vector3dVector(np.asarray(normal, np.float64))
    f = o3d.pipelines.registration.compute_fpfh_feature(pcd, o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=max_nn))
    return np.asarray(f.data, np.float32).T.copy()
