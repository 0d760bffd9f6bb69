"""Bootstrapping filters: drop pseudo labels that cannot or likely do not hold."""

import numpy as np

from ..option_schemas import SHARE
from . import REFINERS

DECLARATIONS = [dict(name="tag_filter"), dict(name="confidence_filter", options={"drop": SHARE})]


@REFINERS.register("tag_filter")
class TagFilter:
    """Keep only labels that are among the scene's tags: other classes get probability 0, and
    points whose most likely class is not a tag are left unlabelled."""

    def __init__(self):
        pass

    def __call__(self, scene, weak, prob):
        tagged = np.zeros(prob.shape[1], bool)
        tagged[weak["tags"]] = True
        out = np.where(tagged, prob, 0).astype(np.float32)
        out[~tagged[prob.argmax(1)]] = 0
        return out


@REFINERS.register("confidence_filter")
class ConfidenceFilter:
    """Leave unlabelled the points whose confidence is in the lowest `drop` share of their
    predicted class (per class, so rare classes are not wiped out by a global threshold)."""

    def __init__(self, drop=0.2):
        self.drop = drop

    def __call__(self, scene, weak, prob):
        out = prob.copy()
        label = prob.argmax(1)
        conf = prob.max(1)
        labelled = conf > 0
        for c in np.unique(label[labelled]):
            members = labelled & (label == c)
            out[members & (conf < np.quantile(conf[members], self.drop))] = 0
        return out
