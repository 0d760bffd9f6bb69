"""Negative scenes for the classes tagged in nearly every indoor scene: floor, wall, ceiling.

A tag that every training scene carries has no negative example, so a tag classifier never
learns where its class is not, and its activation covers everything ("Densify Your Labels",
Sec. 4.5 and Table 2; WSegPC, Sec. 4.2, "Data Processing and Augmentation"). The prior-based
augmentation makes negatives from geometry alone: seen as an axis-aligned box, a scene's floor
is the plane of points in its bottom 0.5 m, its ceiling the plane in the top 0.5 m and its walls
the planes in each of the four side strips. Removing that layer (and what lies beyond it, toward
the box's side) and dropping the class's tag gives a scene without that class. The papers take
the layer with the most points; here it is the plane nearest the box's side, because a bed or a
sofa seat in the same 0.5 m can hold more points than a floor it hides, and removing everything
below it takes the furniture's lower half with the floor.
Only the tags and the coordinates are used, never the ground truth.
"""

from __future__ import annotations

import math

import numpy as np

# Which sides of the scene's box hold each prior class (a wall is taken from all four sides:
# dropping its tag must leave no wall behind).
PRIOR_SIDES = {"floor": ("z-",), "ceiling": ("z+",), "wall": ("x-", "x+", "y-", "y+")}
DEPTH = 0.5  # metres from the box's side searched for the plane (both papers' 0.5 m)
BIN = 0.02  # metres: the layers' thickness in the density histogram
MARGIN = 0.05  # metres removed past the plane's densest layer: sensor noise and a slight tilt
PEAK = 3.0  # a layer is a plane when it holds this many times the strip's median layer (an
# open side of a scan, floor running out to the edge, has no plane and loses nothing; the median,
# not the mean, so that one dense bed top does not hide the floor under it)
MIN_KEPT = 0.1  # a removal leaving less than this share of the scene is not made


def prior_class_ids(class_names):
    """{name: class id} of the prior classes the label set has (ScanNet's has no ceiling)."""
    return {name: class_names.index(name) for name in PRIOR_SIDES if name in class_names}


def _distance_to_side(coord, side):
    axis = "xyz".index(side[0])
    values = coord[:, axis].astype(np.float64)
    return values - values.min() if side[1] == "-" else values.max() - values


def side_layer(coord, side, depth=DEPTH, bin_size=BIN, margin=MARGIN):
    """(N,) bool: the points between the box's `side` ("z-", "x+", ...) and the plane nearest to
    it within `depth`, that plane included (up to `margin` past its densest layer); none when no
    layer holds `PEAK` times the strip's median layer (no plane there)."""
    distance = _distance_to_side(coord, side)
    near = distance < depth
    if not near.any():
        return np.zeros(len(coord), bool)
    counts = np.bincount((distance[near] / bin_size).astype(np.int64), minlength=math.ceil(depth / bin_size))
    planes = np.flatnonzero(counts >= PEAK * max(np.median(counts), 1.0))
    if not len(planes):
        return np.zeros(len(coord), bool)
    layer = planes[0]
    while layer + 1 < len(counts) and counts[layer + 1] >= counts[layer]:
        layer += 1  # a plane spread over a few layers (noise, a slight tilt) ends past its peak
    return distance < (layer + 1) * bin_size + margin


def drop_prior_regions(coord, tags, prior_ids, rate, rng):
    """Remove each tagged prior class's region with probability `rate` and drop its tag.

    coord (N, 3); tags (C,) 0/1; prior_ids from `prior_class_ids`. Returns (keep (N,) bool,
    tags (C,)); a class stays, tag and all, when it is not drawn, when no side of it holds a plane,
    or when its removal would leave too little of the scene.
    One draw per prior class in a fixed order, so the generator's stream does not depend on tags.
    """
    keep = np.ones(len(coord), bool)
    tags = np.array(tags, copy=True)
    draws = {name: rng.random() for name in PRIOR_SIDES}
    for name, cls in prior_ids.items():
        if not tags[cls] or draws[name] >= rate:
            continue
        region = np.zeros(len(coord), bool)
        for side in PRIOR_SIDES[name]:
            region |= side_layer(coord, side)
        if not region.any() or (keep & ~region).sum() < MIN_KEPT * len(coord):
            continue  # no plane found (the class stays, and so does its tag), or too little left
        keep &= ~region
        tags[cls] = 0
    return keep, tags
