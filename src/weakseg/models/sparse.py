"""Sparse-convolution networks on spconv 2.x: a residual encoder and a U-Net on top of it.

spconv's `ConvAlgo.Native` is the only algorithm with a CPU kernel; on CUDA we leave spconv its
default (implicit GEMM).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from spconv.core import ConvAlgo
from torch import nn

from ..voxel import VoxelBatch
from .spconv_import import import_spconv

spconv = import_spconv()  # spconv.pytorch, in 0.3 s instead of 4 (see spconv_import)


def conv_algo(device):
    return ConvAlgo.Native if torch.device(device).type == "cpu" else None


class SceneNorm(spconv.SparseModule):
    """Normalises every channel over the voxels of each scene, in training and at inference alike.

    BatchNorm trained with one scene per step learns features relative to each scene's own
    statistics; at inference it uses running averages over other scenes instead, which cost the
    fully supervised bound a third of its val mIoU with the same weights (docs/DESIGN.md).
    Per-scene statistics are the same in both modes and do not depend on which scenes share a
    batch.
    """

    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: spconv.SparseConvTensor):
        f = x.features
        if x.batch_size == 1 and len(f) > 1:  # one scene: the fused kernel (which refuses a single voxel)
            return x.replace_feature(F.batch_norm(f, None, None, self.weight, self.bias, True, 0.0, self.eps))
        scene = x.indices[:, 0].long()
        count = torch.bincount(scene, minlength=x.batch_size).clamp(min=1).unsqueeze(1).to(f.dtype)
        mean = f.new_zeros(x.batch_size, f.shape[1]).index_add_(0, scene, f) / count
        centred = f - mean[scene]
        var = f.new_zeros(x.batch_size, f.shape[1]).index_add_(0, scene, centred * centred) / count
        return x.replace_feature(centred * torch.rsqrt(var[scene] + self.eps) * self.weight + self.bias)


def _norm(c, kind):
    """`scene` (SceneNorm) for per-point tasks. `layer` (per voxel) for scene classifiers: a
    scene's statistics hold the very signal that global pooling needs to tell scenes apart."""
    return SceneNorm(c) if kind == "scene" else nn.LayerNorm(c)


def _norm_relu(c, kind):
    return spconv.SparseSequential(_norm(c, kind), nn.ReLU(inplace=True))


class ResBlock(spconv.SparseModule):
    """Two submanifold 3x3x3 convolutions with a residual connection."""

    def __init__(self, channels, indice_key, algo, norm):
        super().__init__()
        self.branch = spconv.SparseSequential(
            spconv.SubMConv3d(channels, channels, 3, padding=1, bias=False, indice_key=indice_key, algo=algo),
            _norm_relu(channels, norm),
            spconv.SubMConv3d(channels, channels, 3, padding=1, bias=False, indice_key=indice_key, algo=algo),
            _norm(channels, norm),
        )

    def forward(self, x):
        y = self.branch(x)
        return y.replace_feature(torch.relu(y.features + x.features))


class SparseEncoder(nn.Module):
    """Stem, then per level: a stride-2 sparse convolution (except level 0) and residual blocks.

    `forward` returns the sparse tensor of every level, finest first. Level i has voxels of
    `voxel_size * 2**i`; a level-i voxel at grid (x, y, z) is the parent of level-0 voxels at
    (x, y, z) * 2**i + [0, 2**i).
    """

    def __init__(self, in_channels, channels, blocks, device, norm):
        super().__init__()
        algo = conv_algo(device)
        self.channels = tuple(channels)
        self.stem = spconv.SparseSequential(
            spconv.SubMConv3d(in_channels, channels[0], 3, padding=1, bias=False, indice_key="subm0", algo=algo),
            _norm_relu(channels[0], norm),
        )
        self.down = nn.ModuleList()
        self.levels = nn.ModuleList()
        for i, c in enumerate(channels):
            if i > 0:
                self.down.append(spconv.SparseSequential(
                    spconv.SparseConv3d(channels[i - 1], c, 2, stride=2, bias=False, indice_key=f"down{i}", algo=algo),
                    _norm_relu(c, norm),
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
    """Encoder plus a decoder of inverse convolutions with skip connections; per-voxel logits.
    `norm`: as `_norm` (a network trained through scene-level pooling takes `layer`)."""

    def __init__(self, in_channels, num_classes, channels=(32, 64, 96, 128), blocks=1, device="cpu", norm="scene"):
        super().__init__()
        algo = conv_algo(device)
        self.encoder = SparseEncoder(in_channels, channels, blocks, device, norm=norm)
        self.up = nn.ModuleList()
        self.fuse = nn.ModuleList()
        for i in range(len(channels) - 1, 0, -1):
            self.up.append(spconv.SparseSequential(
                spconv.SparseInverseConv3d(channels[i], channels[i - 1], 2, indice_key=f"down{i}", bias=False, algo=algo),
                _norm_relu(channels[i - 1], norm),
            ))
            self.fuse.append(spconv.SparseSequential(nn.Linear(2 * channels[i - 1], channels[i - 1], bias=False),
                                                     _norm_relu(channels[i - 1], norm)))
        self.head = nn.Linear(channels[0], num_classes)

    def forward(self, batch: VoxelBatch, with_features=False):
        """Per-voxel logits; with `with_features`, also the last decoder features the head reads."""
        skips = self.encoder(batch)
        x = self.decode(skips[-1], skips)
        logits = self.head(x.features)
        return (logits, x.features) if with_features else logits

    def decode(self, x, skips, first=0, last=None):
        """Decoder stages `first` to `last` (exclusive; stage 0 upsamples the coarsest level) from
        `x`, with the encoder's `skips`; a method may change the features between stages."""
        for k in range(first, len(self.up) if last is None else last):
            x = self.up[k](x)  # inverse convolution restores the skip level's voxels, in the same order
            x = self.fuse[k](x.replace_feature(torch.cat([x.features, skips[-2 - k].features], 1)))
        return x


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
