"""Supervoxels: VCCS (Papon et al. 2013), region growing (PCL style) and GrowSP's merge.

Everything works on a voxel grid of `voxel_size` (one cell per occupied 5 cm voxel by default):
a voxel's position and colour are the means of its points, its normal the normalised sum of its
points' normals, as PCL's SupervoxelClustering computes them when normals are supplied.

VCCS follows PCL 1.13's `SupervoxelClustering::extract` (no refinement):
- 26-adjacency between occupied voxels;
- seeds: one per occupied cell of a `seed_resolution` grid (the voxel nearest the cell centre),
  kept when more than 0.05 * pi * r^2 / voxel^2 voxels lie within r = seed_resolution / 2;
- int(1.8 * seed_resolution / voxel_size) - 1 expansion rounds; in each round every supervoxel
  offers itself to the voxels adjacent to the ones it owns, and a voxel goes to (or is stolen by)
  the supervoxel at the smallest distance, if that is below the distance it was taken at;
  the centroids (mean position, colour, normalised normal sum) are updated after each round.
  Distance (PCL's `voxelDataDistance`): spatial_importance * |dx| / seed_resolution
  + color_importance * |drgb| / 255 + normal_importance * (1 - |n1.n2|).
  Difference from PCL: a round is applied to all supervoxels at once (each voxel takes the
  minimum over all offers of the round) instead of one supervoxel after another, so the result
  does not depend on the order of the seeds.
- voxels no supervoxel reached within the rounds are given to the adjacent supervoxel at the
  smallest distance (further rounds that only fill unowned voxels); connected groups of voxels
  with no seed at all become supervoxels of their own, so every point has a supervoxel.

Region growing follows PCL's `RegionGrowing` (smooth mode) on one point per voxel with normals
and curvature from a `rg_normal_radius` neighbourhood: neighbours are the `rg_neighbours` nearest
points, a neighbour joins when the angle between the normals is below `rg_angle_deg`, and growth
continues from points whose curvature is below `rg_curvature`. Difference from PCL: the kNN
graph is made symmetric, so regions are connected components and do not depend on the seed order
(with GrowSP's curvature threshold of 1, every point is a seed and this is the only difference).

GrowSP's merge (initialSP_prepare_ScanNet.py): a VCCS patch takes the id of the region that
covers more than `merge_share` of its voxels; otherwise it stays a supervoxel of its own.

Speed: the expansion is vectorised over all boundary edges of a round with numpy (measured on
ScanNet scene0011_00: see bench/README.md); no numba.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

# 13 of the 26 neighbour offsets; the other 13 are their negatives.
_HALF_OFFSETS = np.array([(dx, dy, dz) for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)
                          if (dx, dy, dz) > (0, 0, 0)], np.int64)


def _octree_origin(xyz, resolution):
    """Where PCL's OctreePointCloudAdjacency puts its grid: a cube of 2^depth cells centred on the data."""
    lo, hi = xyz.min(0), xyz.max(0)
    cells = max(int(np.ceil(((hi - lo) / resolution).max())), 2)
    side = 2 ** int(np.ceil(np.log2(cells))) * resolution
    return lo - (side - (hi - lo)) / 2


def _morton_first(cell):
    """Index of the cell an octree visits first (depth first, child index x<<2 | y<<1 | z)."""
    code = np.zeros(len(cell), np.int64)
    for b in range(21):
        for axis, shift in ((0, 2), (1, 1), (2, 0)):
            code |= ((cell[:, axis] >> b) & 1) << (3 * b + shift)
    return int(np.argmin(code))


class Voxels:
    """Occupied voxels of a cloud: integer cell, mean position, colour, normal, point count."""

    def __init__(self, coord, color, normal, voxel_size):
        coord = np.asarray(coord, np.float64)
        self.origin = _octree_origin(coord, voxel_size)
        key = np.floor((coord - self.origin) / voxel_size).astype(np.int64)
        self.dims = key.max(0) + 1
        flat = (key[:, 0] * self.dims[1] + key[:, 1]) * self.dims[2] + key[:, 2]
        uniq, inv = np.unique(flat, return_inverse=True)
        self.flat = uniq  # sorted
        self.inverse = inv.ravel()  # point -> voxel
        self.cell = np.stack(np.unravel_index(uniq, self.dims), 1)
        self.count = np.bincount(self.inverse, minlength=len(uniq)).astype(np.float64)
        self.xyz = self._mean(coord)
        self.rgb = self._mean(np.asarray(color, np.float64))
        nsum = self._mean(np.asarray(normal, np.float64)) * self.count[:, None]
        self.normal = nsum / np.maximum(np.linalg.norm(nsum, axis=1, keepdims=True), 1e-12)
        self.voxel_size = voxel_size

    def __len__(self):
        return len(self.flat)

    def _mean(self, a):
        return np.stack([np.bincount(self.inverse, a[:, k], len(self.flat)) for k in range(a.shape[1])], 1) / self.count[:, None]

    def adjacency(self):
        """Directed edges (src, dst) between 26-adjacent occupied voxels, both directions."""
        v = len(self)
        cell, dims = self.cell, self.dims
        src, dst = [], []
        if np.prod(dims + 2) <= 64_000_000:  # a dense lookup table (a room at 5 cm: ~2.5M cells)
            lut = np.full(tuple(dims + 2), -1, np.int32)
            lut[cell[:, 0] + 1, cell[:, 1] + 1, cell[:, 2] + 1] = np.arange(v, dtype=np.int32)
            for dx, dy, dz in _HALF_OFFSETS:
                nb = lut[cell[:, 0] + 1 + dx, cell[:, 1] + 1 + dy, cell[:, 2] + 1 + dz]
                m = nb >= 0
                src.append(np.flatnonzero(m).astype(np.int32))
                dst.append(nb[m])
        else:  # sparse: binary search in the sorted keys
            for off in _HALF_OFFSETS:
                c = cell + off
                ok = ((c >= 0) & (c < dims)).all(1)
                f = (c[:, 0] * dims[1] + c[:, 1]) * dims[2] + c[:, 2]
                pos = np.minimum(np.searchsorted(self.flat, f), v - 1)
                m = ok & (self.flat[pos] == f)
                src.append(np.flatnonzero(m).astype(np.int32))
                dst.append(pos[m].astype(np.int32))
        s, d = np.concatenate(src), np.concatenate(dst)
        return np.concatenate([s, d]), np.concatenate([d, s])


def _seeds(vox, seed_resolution):
    """PCL's selectInitialSupervoxelSeeds: voxel nearest each seed-grid cell centre, density-filtered."""
    # PCL's seed octree grows around its first point (the first voxel in octree order): a
    # 2-cell cube centred on it, so the grid has a cell corner at that voxel's centroid.
    origin = vox.xyz[_morton_first(vox.cell)]
    key = np.floor((vox.xyz - origin) / seed_resolution).astype(np.int64)
    cells = np.unique(key, axis=0)
    centres = origin + (cells + 0.5) * seed_resolution
    tree = cKDTree(vox.xyz)
    _, nearest = tree.query(centres)
    nearest = nearest[np.sort(np.unique(nearest, return_index=True)[1])]  # first occurrence, cell order
    radius = 0.5 * seed_resolution
    min_voxels = 0.05 * radius * radius * np.pi / vox.voxel_size**2
    counts = tree.query_ball_point(vox.xyz[nearest], radius, return_length=True)
    return nearest[counts > min_voxels]


def vccs(vox, src, dst, *, seed_resolution, spatial_importance, normal_importance, color_importance):
    """Supervoxel id per voxel (0..S-1, every voxel labelled), as described in the module docstring."""
    n = len(vox)
    seeds = _seeds(vox, seed_resolution)
    k = len(seeds)
    # Voxel data packed as float32 rows [position * ws, colour * wc, normal], so that one row
    # gather serves a distance; the weighted distance is |dp| + |dc| + wn (1 - |n1.n2|).
    ws, wc, wn = spatial_importance / seed_resolution, color_importance / 255.0, normal_importance
    feat = np.concatenate([vox.xyz * ws, vox.rgb * wc, vox.normal], 1).astype(np.float32)
    owner = np.full(n, -1, np.int32)
    dist = np.full(n, np.inf, np.float32)
    owner[seeds] = np.arange(k)  # at distance inf, as in PCL (addLeaf sets no distance)
    cen = feat[seeds].copy()

    def distance(s, d):
        a, b = cen[s], feat[d]
        prod = a * b
        a -= b
        a *= a
        out = np.sqrt(a[:, 0] + a[:, 1] + a[:, 2])
        out += np.sqrt(a[:, 3] + a[:, 4] + a[:, 5])
        out += np.float32(wn) * (1 - np.abs(prod[:, 6] + prod[:, 7] + prod[:, 8]))
        return out

    def assign(s, d, dd):
        """Per target voxel, the offer with the smallest distance (ties: the first offer)."""
        best = np.full(n, np.inf, np.float32)
        np.minimum.at(best, d, dd)
        win = np.flatnonzero(dd == best[d])
        _, first = np.unique(d[win], return_index=True)
        win = win[first]
        owner[d[win]] = s[win]
        dist[d[win]] = dd[win]

    def update_centroids():
        own = owner >= 0
        o = owner[own]
        cnt = np.bincount(o, minlength=k)
        alive = cnt > 0
        sums = np.stack([np.bincount(o, feat[own, j], k) for j in range(9)], 1)
        sums[:, :6] /= np.maximum(cnt, 1)[:, None]
        sums[:, 6:] /= np.maximum(np.linalg.norm(sums[:, 6:], axis=1, keepdims=True), 1e-12)
        cen[alive] = sums[alive]

    depth = int(1.8 * seed_resolution / vox.voxel_size)
    for rnd in range(1, depth):
        os_, od = owner[src], owner[dst]
        m = (os_ >= 0) & (os_ != od)
        s, d = os_[m], dst[m]
        if rnd == 1:
            # PCL's first round runs before any centroid is computed (a zero centroid, distances
            # above any later offer): every seed takes its unowned neighbours, the first seed
            # wins, and any later offer can take them away. Distance inf reproduces that
            # (checked: PCL's zero-centroid distances give the same supervoxels on ScanNet).
            m = od[m] < 0
            s, d = s[m], d[m]
            _, first = np.unique(d, return_index=True)
            owner[d[first]] = s[first]
        else:
            dd = distance(s, d)
            better = dd < dist[d]
            if better.any():
                assign(s[better], d[better], dd[better])
        update_centroids()

    # Fill voxels the rounds did not reach: only unowned voxels are taken now.
    while True:
        os_, od = owner[src], owner[dst]
        m = (os_ >= 0) & (od < 0)
        if not m.any():
            break
        s, d = os_[m], dst[m]
        assign(s, d, distance(s, d))
    owner = owner.astype(np.int64)
    rest = owner < 0
    if rest.any():  # groups with no seed: one supervoxel per connected group
        idx = np.flatnonzero(rest)
        local = np.full(n, -1, np.int64)
        local[idx] = np.arange(len(idx))
        m = rest[src] & rest[dst]
        g = coo_matrix((np.ones(m.sum(), np.int8), (local[src[m]], local[dst[m]])), shape=(len(idx), len(idx)))
        _, comp = connected_components(g, directed=False)
        owner[idx] = k + comp
    return _compact(owner)


def _compact(labels):
    """Relabel to 0..K-1 keeping the order of the original ids."""
    _, inv = np.unique(labels, return_inverse=True)
    return inv.ravel().astype(np.int64)


def normals_and_curvature(xyz, radius):
    """PCA normals and PCL's curvature lambda0 / (lambda0 + lambda1 + lambda2) over a radius (Open3D)."""
    import open3d as o3d  # here, not at the top: it takes ~1 s to import and most geometry jobs never need it

    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(xyz, np.float64)))
    pcd.estimate_covariances(o3d.geometry.KDTreeSearchParamRadius(radius))
    w, vec = np.linalg.eigh(np.asarray(pcd.covariances))
    normal = vec[:, :, 0]
    curvature = w[:, 0] / np.maximum(w.sum(1), 1e-20)
    return normal, np.clip(curvature, 0, None)


def region_growing(xyz, normal, curvature, *, neighbours, angle_deg, curvature_threshold):
    """Region id per point (0..R-1), as described in the module docstring."""
    n = len(xyz)
    k = min(neighbours, n - 1)
    if k < 1:
        return np.zeros(n, np.int64)
    _, nn = cKDTree(xyz).query(xyz, k=k + 1)
    i = np.repeat(np.arange(n), k)
    j = nn[:, 1:].ravel()
    ok = np.abs((normal[i] * normal[j]).sum(1)) >= np.cos(np.deg2rad(angle_deg))
    seed = curvature < curvature_threshold
    i, j = i[ok], j[ok]
    both = seed[i] & seed[j]
    g = coo_matrix((np.ones(both.sum(), np.int8), (i[both], j[both])), shape=(n, n))
    _, comp = connected_components(g, directed=False)
    region = np.where(seed, comp, -1)
    # Non-seed points join the region of the lowest-curvature seed that reaches them (j in kNN(i)).
    m = seed[i] & ~seed[j]
    if m.any():
        ii, jj = i[m], j[m]
        order = np.lexsort((curvature[ii], jj))
        ii, jj = ii[order], jj[order]
        first = np.r_[True, jj[1:] != jj[:-1]]
        region[jj[first]] = comp[ii[first]]
    lone = region < 0
    region[lone] = comp.max() + 1 + np.arange(lone.sum())
    return _compact(region)


def growsp_merge(patch, region, share):
    """A patch takes the id of the region covering more than `share` of it, else keeps its own."""
    r = region.max() + 1
    key = patch * r + region
    pair, cnt = np.unique(key, return_counts=True)
    p, reg = pair // r, pair % r
    size = np.bincount(patch)
    order = np.lexsort((reg, -cnt, p))  # per patch: most voxels first, then the lowest region id
    p, reg, cnt = p[order], reg[order], cnt[order]
    first = np.r_[True, p[1:] != p[:-1]]
    p, reg, cnt = p[first], reg[first], cnt[first]
    merged_id = np.where(cnt > share * size[p], reg, r + p)
    lut = np.empty(len(size), np.int64)
    lut[p] = merged_id
    return _compact(lut[patch])


def mesh_segments(coord, segment):
    """Mesh segments relabelled 0..S-1; points without a segment take their nearest point's."""
    segment = np.asarray(segment, np.int64)
    has = segment >= 0
    if not has.all():
        _, nearest = cKDTree(coord[has]).query(coord[~has])
        segment = segment.copy()
        segment[~has] = segment[has][nearest]
    return _compact(segment)
