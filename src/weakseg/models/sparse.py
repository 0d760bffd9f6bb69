"""Sparse-convolution networks on spconv 2.x: a residual encoder and a U-Net on top of it.

spconv's `ConvAlgo.Native` is the only algorithm with a CPU kernel; on CUDA we leave spconv its
default (implicit GEMM).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

with warnings.catch_warnings():  # spconv 2.3.6 uses torch.cuda.amp decorators torch now deprecates
    warnings.simplefilter("ignore", FutureWarning)
    import spconv.pytorch as spconv
    from spconv.core import ConvAlgo

from ..voxel import VoxelBatch


def conv_algo(device):
    return ConvAlgo.Native if torch.device(device).type == "cpu" else None


def _norm(c, kind):
    """`batch` for per-point tasks. `layer` (per voxel) for scene classifiers: with one or two
    scenes per batch, BatchNorm removes each channel's scene mean, the very signal that global
    pooling needs to tell scenes apart."""
    return nn.BatchNorm1d(c) if kind == "batch" else nn.LayerNorm(c)


def _bn_relu(c, kind="batch"):
    return nn.Sequential(_norm(c, kind), nn.ReLU(inplace=True))


class ResBlock(spconv.SparseModule):
    """Two submanifold 3x3x3 convolutions with a residual connection."""

    def __init__(self, channels, indice_key, algo, norm="batch"):
        super().__init__()
        self.conv1 = spconv.SubMConv3d(channels, channels, 3, padding=1, bias=False, indice_key=indice_key, algo=algo)
        self.norm1 = _bn_relu(channels, norm)
        self.conv2 = spconv.SubMConv3d(channels, channels, 3, padding=1, bias=False, indice_key=indice_key, algo=algo)
        self.norm2 = _norm(channels, norm)

    def forward(self, x):
        y = self.conv1(x)
        y = y.replace_feature(self.norm1(y.features))
        y = self.conv2(y)
        return y.replace_feature(torch.relu(self.norm2(y.features) + x.features))


class SparseEncoder(nn.Module):
    """Stem, then per level: a stride-2 sparse convolution (except level 0) and residual blocks.

    `forward` returns the sparse tensor of every level, finest first. Level i has voxels of
    `voxel_size * 2**i`; a level-i voxel at grid (x, y, z) is the parent of level-0 voxels at
    (x, y, z) * 2**i + [0, 2**i).
    """

    def __init__(self, in_channels, channels, blocks, device, norm="batch"):
        super().__init__()
        algo = conv_algo(device)
        self.channels = tuple(channels)
        self.stem = spconv.SparseSequential(
            spconv.SubMConv3d(in_channels, channels[0], 3, padding=1, bias=False, indice_key="subm0", algo=algo),
            _bn_relu(channels[0], norm),
        )
        self.down = nn.ModuleList()
        self.levels = nn.ModuleList()
        for i, c in enumerate(channels):
            if i > 0:
                self.down.append(spconv.SparseSequential(
                    spconv.SparseConv3d(channels[i - 1], c, 2, stride=2, bias=False, indice_key=f"down{i}", algo=algo),
                    _bn_relu(c, norm),
                ))
            self.levels.append(spconv.SparseSequential(*[ResBlock(c, f"subm{i}", algo, norm) for _ in range(blocks)]))

    def forward(self, batch: VoxelBatch):
        x = spconv.SparseConvTensor(batch.features, batch.indices, batch.spatial_shape, batch.batch_size)
        x = self.levels[0](self.stem(x))
        outs = [x]
        for down, level in zip(self.down, self.levels[1:]):
            x = level(down(x))
            outs.append(x)
        return outs


class SparseUNet(nn.Module):
    """Encoder plus a decoder of inverse convolutions with skip connections; per-voxel logits."""

    def __init__(self, in_channels, num_classes, channels=(32, 64, 96, 128), blocks=1, device="cpu"):
        super().__init__()
        algo = conv_algo(device)
        self.encoder = SparseEncoder(in_channels, channels, blocks, device)
        self.up = nn.ModuleList()
        self.fuse = nn.ModuleList()
        for i in range(len(channels) - 1, 0, -1):
            self.up.append(spconv.SparseSequential(
                spconv.SparseInverseConv3d(channels[i], channels[i - 1], 2, indice_key=f"down{i}", bias=False, algo=algo),
                _bn_relu(channels[i - 1]),
            ))
            self.fuse.append(nn.Sequential(nn.Linear(2 * channels[i - 1], channels[i - 1], bias=False), _bn_relu(channels[i - 1])))
        self.head = nn.Linear(channels[0], num_classes)

    def forward(self, batch: VoxelBatch):
        skips = self.encoder(batch)
        x = skips[-1]
        for up, fuse, skip in zip(self.up, self.fuse, reversed(skips[:-1])):
            x = up(x)  # inverse convolution restores the skip level's voxels, in the same order
            x = x.replace_feature(fuse(torch.cat([x.features, skip.features], 1)))
        return self.head(x.features)


def parent_rows(fine: spconv.SparseConvTensor, coarse: spconv.SparseConvTensor, factor: int):
    """For each voxel of `fine`, the row of its parent voxel in `coarse` (`factor` = 2**levels)."""
    def keys(idx, shape):
        idx = idx.long()
        return ((idx[:, 0] * shape[0] + idx[:, 1]) * shape[1] + idx[:, 2]) * shape[2] + idx[:, 3]

    shape = coarse.spatial_shape
    parents = fine.indices.clone()
    parents[:, 1:] = torch.div(parents[:, 1:], factor, rounding_mode="floor")
    coarse_keys = keys(coarse.indices, shape)
    order = torch.argsort(coarse_keys)
    pos = torch.searchsorted(coarse_keys[order], keys(parents, shape))
    return order[pos]
