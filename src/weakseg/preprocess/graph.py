"""The supervoxel graph: which supervoxels touch, and each supervoxel's mean attributes.

Two supervoxels are adjacent when they share a voxel of `voxel_size` or occupy two 26-adjacent
voxels (the adjacency VCCS itself grows along). `edge_contacts` counts the touching voxel pairs
(a shared voxel counts once), a measure of how long the common border is.
"""

from __future__ import annotations

import numpy as np

from .supervoxels import _HALF_OFFSETS


def supervoxel_graph(coord, supervoxel, voxel_size):
    """(edges (E,2) int32 with i < j, sorted, each undirected edge once; contacts (E,) int32)."""
    coord = np.asarray(coord, np.float64)
    sv = np.asarray(supervoxel, np.int64)
    key = np.floor((coord - coord.min(0)) / voxel_size).astype(np.int64) + 1  # +1: room for -1 offsets
    dims = key.max(0) + 2
    flat = (key[:, 0] * dims[1] + key[:, 1]) * dims[2] + key[:, 2]
    # (voxel, supervoxel) entries, sorted by voxel then supervoxel
    s_max = int(sv.max()) + 1
    entry = np.unique(flat * s_max + sv)
    e_vox, e_sv = entry // s_max, entry % s_max
    vox, start, count = np.unique(e_vox, return_index=True, return_counts=True)
    pairs = []
    # supervoxels sharing a voxel
    for k in range(1, int(count.max())):
        same = np.flatnonzero(np.r_[e_vox[k:] == e_vox[:-k]])
        pairs.append(np.stack([e_sv[same], e_sv[same + k]], 1))
    # supervoxels in 26-adjacent voxels (13 offsets; the pair is made undirected below)
    cell = np.stack(np.unravel_index(vox, tuple(dims)), 1)
    for off in _HALF_OFFSETS:
        c = cell + off
        f = (c[:, 0] * dims[1] + c[:, 1]) * dims[2] + c[:, 2]
        pos = np.minimum(np.searchsorted(vox, f), len(vox) - 1)
        hit = np.flatnonzero(vox[pos] == f)  # voxel index a has neighbour voxel pos[a]
        a, b = hit, pos[hit]
        for i in range(int(count[a].max()) if len(a) else 0):
            ai = a[count[a] > i]
            bi = b[count[a] > i]
            for j in range(int(count[bi].max()) if len(bi) else 0):
                ok = count[bi] > j
                pairs.append(np.stack([e_sv[start[ai[ok]] + i], e_sv[start[bi[ok]] + j]], 1))
    if not pairs:
        return np.zeros((0, 2), np.int32), np.zeros(0, np.int32)
    p = np.concatenate(pairs)
    p = p[p[:, 0] != p[:, 1]]
    p = np.sort(p, axis=1)
    edge, contacts = np.unique(p[:, 0] * s_max + p[:, 1], return_counts=True)
    return np.stack([edge // s_max, edge % s_max], 1).astype(np.int32), contacts.astype(np.int32)


def supervoxel_means(coord, color, normal, supervoxel):
    """Per supervoxel: size (S,) int32, mean coord (S,3), mean colour 0-255 (S,3), unit mean normal (S,3)."""
    sv = np.asarray(supervoxel, np.int64)
    s = int(sv.max()) + 1
    size = np.bincount(sv, minlength=s)

    def mean(a):
        a = np.asarray(a, np.float64)
        return np.stack([np.bincount(sv, a[:, j], s) for j in range(3)], 1) / np.maximum(size, 1)[:, None]

    n = mean(normal)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return size.astype(np.int32), mean(coord).astype(np.float32), mean(color).astype(np.float32), n.astype(np.float32)
