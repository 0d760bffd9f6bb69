"""The point-supervised baseline: a sparse U-Net trained on the labelled points alone.

This is the weakly supervised loss both DSP (Eq. 1 of "Dense Supervision Propagation for Weakly
Supervised Semantic Segmentation on 3D Point Clouds") and One Thing One Click (its network
before self-training) start from: cross-entropy on the clicked or sampled points, every other
point ignored. Its pseudo labels are the network's class probabilities, with the annotated
points keeping their given label. In a later self-training round it learns from the previous
round's refined labels, the given points again keeping theirs.
"""

from __future__ import annotations

import numpy as np

from . import METHODS
from ..option_schemas import CLASS_BALANCE, ELASTIC, TEST_VIEWS
from ..segmentation import Segmenter
from ..weak import point_targets

DECLARATIONS = [dict(name="sparse_points", accepts={"clicks", "point_fraction"},
                     options={"test_views": TEST_VIEWS, "class_balance": CLASS_BALANCE, "elastic": ELASTIC},
                     needs=("previous",), predicts=True)]


def with_given_points(labels, weak, num_points):
    """`labels` (or all -1 when None) with the annotated points set to their given class."""
    given = point_targets(weak, num_points)
    if labels is None:
        return given
    out = np.asarray(labels, np.int64).copy()
    out[given >= 0] = given[given >= 0]
    return out


def keep_given_points(prob, weak):
    """`prob` (N, C) with the annotated points' rows set to their given class (one-hot), in place."""
    given = point_targets(weak, len(prob))
    labelled = given >= 0
    prob[labelled] = np.eye(prob.shape[1], dtype=np.float32)[given[labelled]]
    return prob


@METHODS.register("sparse_points")
class SparsePoints:
    def __init__(self, num_classes, params, device):
        self.segmenter = Segmenter(num_classes, params, device)
        self.model = self.segmenter.model

    def example(self, scene, weak, previous=None):
        return self.segmenter.example(scene, with_given_points(previous, weak, scene.num_points))

    def before_epoch(self, epoch, examples, rng):
        if self.segmenter.class_weights is None:  # `class_balance` (0: every labelled class alike)
            self.segmenter.balance(examples)

    def loss(self, examples, rng):
        return self.segmenter.loss(examples, rng)

    def predict(self, scene):
        return self.segmenter.predict(scene)

    def pseudo_labels(self, scene, weak, previous=None):
        return keep_given_points(self.segmenter.predict(scene), weak)
