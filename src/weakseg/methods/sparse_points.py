"""The point-supervised baseline: a sparse U-Net trained on the labelled points alone.

This is the weakly supervised loss both DSP (Eq. 1, ../shared/papers/dsp.txt) and One Thing One
Click (its network before self-training, ../shared/papers/otoc.txt) start from: cross-entropy on
the clicked or sampled points, every other point ignored. Its pseudo labels are the network's
class probabilities, with the annotated points keeping their given label.
"""

from __future__ import annotations

import numpy as np

from . import METHODS
from ..segmentation import Segmenter
from ..weak import point_targets


@METHODS.register("sparse_points")
class SparsePoints:
    def __init__(self, num_classes, params, device):
        self.segmenter = Segmenter(num_classes, params, device)
        self.model = self.segmenter.model

    def example(self, scene, weak):
        return self.segmenter.example(scene, point_targets(weak, scene.num_points))

    def loss(self, examples, rng):
        return self.segmenter.loss(examples, rng)

    def pseudo_labels(self, scene, weak):
        prob = self.segmenter.predict(scene)
        given = point_targets(weak, scene.num_points)
        labelled = given >= 0
        prob[labelled] = np.eye(prob.shape[1], dtype=np.float32)[given[labelled]]
        return prob
