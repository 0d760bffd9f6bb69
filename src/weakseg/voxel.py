"""Points -> sparse voxel batches for spconv, and augmentation. Shared by every network."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy.interpolate import RegularGridInterpolator
from scipy.ndimage import uniform_filter


def point_features(coord, color, normal):
    """Per-point input features: colour in [-1, 1], normal, height above the lowest point (m)."""
    z = coord[:, 2:3] - coord[:, 2].min()
    return np.concatenate([color.astype(np.float32) / 127.5 - 1.0, normal.astype(np.float32), z.astype(np.float32)], 1)


NUM_FEATURES = 7
INPUT_NORMALS = ("signed", "vertical", "none")


def network_scene(scene, input_normals="signed"):
    """The scene as the networks see it (the `input_normals` training option): `signed` gives them
    the normals as read; `vertical` only |n_z|, how horizontal a surface is, for normals estimated
    without a mesh, whose sign is a guess; `none` zeros. The choice commutes with every augmentation
    (turns about z, mirror in x, scale, elastic shifts of the points), so it is made once, here."""
    if input_normals == "signed":
        return scene
    if input_normals not in INPUT_NORMALS:
        raise ValueError(f"input_normals {input_normals!r}: one of {', '.join(INPUT_NORMALS)}")
    normal = np.zeros_like(scene.normal)
    if input_normals == "vertical":
        normal[:, 2] = np.abs(scene.normal[:, 2])
    return replace(scene, normal=normal)


def _turn(theta):
    """The rotation by `theta` radians about z."""
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], np.float32)


def elastic_distortion(coord, granularity, magnitude, rng):
    """`coord` displaced by a smooth random field: Gaussian noise on a grid `granularity` metres
    apart, box-blurred three cells wide twice along each axis, interpolated trilinearly at the
    points and scaled by `magnitude` (the distortion of Pointcept's and MinkowskiEngine's ScanNet
    training). Normals are left as they are: the field bends surfaces by a few centimetres."""
    low = coord.min(0)
    cells = ((coord - low).max(0) // granularity).astype(np.int64) + 3
    noise = rng.standard_normal((*cells, 3)).astype(np.float32)
    for _ in range(2):
        for axis in range(3):
            noise = uniform_filter(noise, size=3, axes=(axis,), mode="constant")
    axes = [np.linspace(lo - granularity, lo + granularity * (n - 2), n) for lo, n in zip(low, cells)]
    field = RegularGridInterpolator(axes, noise, bounds_error=False, fill_value=0)
    return (coord + field(coord) * magnitude).astype(np.float32)


def augment(coord, normal, color, rng, elastic=()):
    """Random rotation about z, mirror in x, scale and colour jitter, then each elastic distortion
    in `elastic` ((granularity, magnitude) pairs in metres; none by default). Returns new arrays."""
    rot = _turn(rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.5:
        rot = rot @ np.diag([-1, 1, 1]).astype(np.float32)
    coord = coord @ rot.T * np.float32(rng.uniform(0.9, 1.1))
    normal = normal @ rot.T
    color = np.clip(color.astype(np.float32) * rng.uniform(0.9, 1.1) + rng.normal(0, 8, 3), 0, 255)
    for granularity, magnitude in elastic:
        coord = elastic_distortion(coord, granularity, magnitude, rng)
    return coord.astype(np.float32), normal.astype(np.float32), color


def prediction_views(coord, normal, rotations=1, scales=(1.0,)):
    """The views a prediction averages over (test-time augmentation): `rotations` evenly spaced
    turns about z, each at every scale in `scales`; yields (coord, normal).

    Training sees random turns and scales; at test, each scale also lays the voxel grid
    differently over the scene, so the average recovers some of what one 10 cm grid loses
    (docs/RESULTS.md measures what the default's 4 turns x 2 scales add).
    """
    for k in range(rotations):
        rot = _turn(2 * np.pi * k / rotations)
        for scale in scales:
            yield (coord @ rot.T * np.float32(scale)).astype(np.float32), (normal @ rot.T).astype(np.float32)


@dataclass
class VoxelBatch:
    """Scenes voxelised together. `inverse[i]` is the voxel of point i; `offsets` split points per scene."""

    features: torch.Tensor  # (M, F) mean point features per voxel
    indices: torch.Tensor  # (M, 4) int32: batch, x, y, z
    spatial_shape: list
    batch_size: int
    inverse: torch.Tensor  # (sum N,) int64
    point_offsets: list  # start of each scene's points in `inverse`
    voxel_offsets: list  # start of each scene's voxels

    def to(self, device):
        self.features = self.features.to(device)
        self.indices = self.indices.to(device)
        self.inverse = self.inverse.to(device)
        return self


def voxelize(coords, features, voxel_size):
    """Voxelise a list of scenes (coords (N,3) metres, features (N,F)) into one VoxelBatch.

    Each voxel's feature is the mean of its points; voxels are sorted by key, so the result is
    deterministic.
    """
    all_idx, all_feat, all_inv, p_off, v_off = [], [], [], [0], [0]
    shape = np.zeros(3, np.int64)
    for b, (coord, feat) in enumerate(zip(coords, features)):
        grid = np.floor((coord - coord.min(0)) / voxel_size).astype(np.int64)
        extent = grid.max(0) + 1
        shape = np.maximum(shape, extent)
        # Unique over one int64 key per point: the same lexicographic order as np.unique(axis=0),
        # and faster (bench/bench_training.py).
        flat, inv = np.unique((grid[:, 0] * extent[1] + grid[:, 1]) * extent[2] + grid[:, 2], return_inverse=True)
        inv = inv.reshape(-1)
        keys = np.stack([flat // (extent[1] * extent[2]), flat // extent[2] % extent[1], flat % extent[2]], 1)
        counts = np.bincount(inv, minlength=len(keys)).astype(np.float32)
        # index_add_ is much faster than np.add.at for this scatter-mean (bench/bench_training.py).
        mean = torch.zeros(len(keys), feat.shape[1]).index_add_(0, torch.from_numpy(inv), torch.from_numpy(feat)).numpy()
        mean /= counts[:, None]
        all_idx.append(np.concatenate([np.full((len(keys), 1), b), keys], 1))
        all_feat.append(mean)
        all_inv.append(inv + v_off[-1])
        p_off.append(p_off[-1] + len(coord))
        v_off.append(v_off[-1] + len(keys))
    return VoxelBatch(
        features=torch.from_numpy(np.concatenate(all_feat)),
        indices=torch.from_numpy(np.concatenate(all_idx).astype(np.int32)),
        # A stride-2 convolution drops the last row of an odd-sized grid: round the grid up to a
        # multiple of 64 so that every voxel keeps its parent through up to six downsamplings.
        spatial_shape=(-(-(shape + 1) // 64) * 64).tolist(),
        batch_size=len(coords),
        inverse=torch.from_numpy(np.concatenate(all_inv)),
        point_offsets=p_off,
        voxel_offsets=v_off,
    )
