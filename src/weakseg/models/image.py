"""2D networks on a scene's RGB frames: a ResNet with a light feature-pyramid top.

The backbone is a ResNet (He et al., "Deep Residual Learning for Image Recognition"; 18, 34 or
50 layers) in torchvision's layout, so that torchvision's state dicts load into it. It is written
here because torchvision cannot be used beside this project's torch: the torchvision wheels
built for torch 2.13 are CUDA builds whose compiled operators fail to load beside the CPU torch
("operator torchvision::nms does not exist" at import), and the pair that imports on a CPU
machine (torch 2.14.1 with torchvision 0.29.1) is a 5.5 GB CUDA install.

It runs up to `layer3` (stride 16), its `layer2` output (stride 8)
joined with the upsampled `layer3` output, giving a dense feature map at 1/8 of the input
resolution and per-cell class logits from a 1x1 convolution. `layer4` is left out: at the few
hundred pixels a side that frames are downscaled to on a CPU, stride 32 leaves a handful of
cells per view.

Weights are trained from scratch, or start from a state dict the user names (an ImageNet ResNet
saved with `torch.save(model.state_dict(), path)`), loaded with `weights_only=True`: nothing is
downloaded at run time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeaksegError

# torchvision's ImageNet statistics: a user's pretrained weights expect inputs normalised so.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STRIDE = 8  # input pixels per feature cell


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """The stride on the 3x3 convolution ("ResNet v1.5"), as torchvision's."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


LAYOUTS = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)), 50: (Bottleneck, (3, 4, 6, 3))}


class ResNet(nn.Module):
    """torchvision's ResNet module names (conv1, bn1, layer1-4, fc); `layer4` and `fc` exist
    so that a full state dict loads, and are not run by `ImageSegmenter`."""

    def __init__(self, depth):
        super().__init__()
        block, counts = LAYOUTS[depth]
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            self._layer(block, planes, count, stride) for planes, count, stride in zip((64, 128, 256, 512), counts, (1, 2, 2, 2)))
        self.fc = nn.Linear(512 * block.expansion, 1000)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _layer(self, block, planes, count, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(count - 1)]
        return nn.Sequential(*layers)


class ImageSegmenter(nn.Module):
    """(V, 3, H, W) uint8-range images -> features (V, D, H/8, W/8) and logits (V, C, H/8, W/8)."""

    def __init__(self, num_classes, depth=18, channels=64, weights=None):
        super().__init__()
        resnet = ResNet(depth)
        if weights is not None:
            load_backbone_weights(resnet, weights)
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool)
        self.layer1, self.layer2, self.layer3 = resnet.layer1, resnet.layer2, resnet.layer3
        c2 = 128 * (4 if depth >= 50 else 1)  # layer2's output channels (bottleneck blocks: x4)
        c3 = 2 * c2
        self.lateral2 = nn.Conv2d(c2, channels, 1)
        self.lateral3 = nn.Conv2d(c3, channels, 1)
        self.smooth = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                    nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.head = nn.Conv2d(channels, num_classes, 1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255)

    def forward(self, images):
        x = (images.float() - self.mean) / self.std
        x2 = self.layer2(self.layer1(self.stem(x)))
        x3 = self.layer3(x2)
        top = F.interpolate(self.lateral3(x3), size=x2.shape[-2:], mode="bilinear", align_corners=False)
        features = self.smooth(self.lateral2(x2) + top)
        return features, self.head(features)


def load_backbone_weights(resnet, path):
    """Load a ResNet state dict from `path` (weights only); its classifier (`fc.*`) is not used."""
    path = Path(path)
    if not path.is_file():
        raise WeaksegError(path, "2D weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle and zip errors alike: one line naming the file
        raise WeaksegError(path, f"not a weights-only torch state dict ({type(err).__name__}: {err})") from None
    if not isinstance(state, dict):
        raise WeaksegError(path, "not a state dict")
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    try:
        missing, unexpected = resnet.load_state_dict(state, strict=False)
    except RuntimeError as err:  # a tensor of another shape: another depth
        raise WeaksegError(path, f"does not fit the ResNet ({str(err).splitlines()[-1].strip()})") from None
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise WeaksegError(path, f"does not fit the ResNet: missing {missing[:3]}, unexpected {unexpected[:3]}")


def resize_frames(color, width):
    """(V, H, W, 3) uint8 -> (V, 3, h, w) uint8 with w = `width` and the aspect kept (area
    averaging); frames narrower than `width` keep their size."""
    v, h, w, _ = color.shape
    if w <= width:
        return torch.from_numpy(np.ascontiguousarray(color)).permute(0, 3, 1, 2).contiguous()
    size = (max(1, round(h * width / w)), width)
    out = [F.interpolate(torch.from_numpy(color[i:i + 1]).permute(0, 3, 1, 2).float(), size=size, mode="area")
           for i in range(v)]  # one frame at a time: a ScanNet scene's full-size frames would not fit twice
    return torch.cat(out).round().clamp(0, 255).to(torch.uint8)


def sample_cells(maps, frame, u, v, image_size):
    """Bilinear samples of `maps` (V, D, h, w) at colour pixels (u column, v row) of `frame`,
    for frames of `image_size` (H, W) pixels: (M, D). The map covers the whole image, so a pixel
    centre (u + 0.5) / W maps to the same place at any resolution; within half a cell of the
    border the border cells count (zero padding would fade the samples there)."""
    height, width = image_size
    x = (torch.as_tensor(u, dtype=torch.float32) + 0.5) / width * 2 - 1
    y = (torch.as_tensor(v, dtype=torch.float32) + 0.5) / height * 2 - 1
    frame = torch.as_tensor(frame, dtype=torch.long)
    out = maps.new_zeros(len(frame), maps.shape[1])
    for f in torch.unique(frame).tolist():
        rows = torch.nonzero(frame == f).squeeze(1)
        grid = torch.stack([x[rows], y[rows]], 1).to(maps)[None, None]  # (1, 1, M, 2)
        out = out.index_copy(0, rows.to(maps.device), F.grid_sample(maps[f:f + 1], grid, mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0].T)
    return out


def cell_grid(height, width):
    """The feature map's (rows, columns) for an input of `height` x `width` pixels (the stem's and
    each stride-2 stage's padding round up)."""
    return -(-height // STRIDE), -(-width // STRIDE)
