"""Fully connected CRF over the points (Kraehenbuehl & Koltun), via pydensecrf2's permutohedral lattice."""

import numpy as np
import pydensecrf.densecrf as dcrf

from ..option_schemas import NONNEGATIVE, POSITIVE, POSITIVE_INT
from . import REFINERS

DECLARATIONS = [dict(name="dense_crf", options={
    "iterations": POSITIVE_INT, "xyz_scale": POSITIVE, "rgb_scale": POSITIVE, "appearance_weight": NONNEGATIVE,
    "smoothness_scale": POSITIVE, "smoothness_weight": NONNEGATIVE})]


@REFINERS.register("dense_crf")
class DenseCRF:
    """Mean-field inference with an appearance kernel (position + colour) and a smoothness
    kernel (position only). Points with no label enter with a uniform unary over the classes
    that any point has, so the CRF can fill them in."""

    def __init__(self, iterations=5, xyz_scale=0.3, rgb_scale=20.0, appearance_weight=4.0, smoothness_scale=0.1, smoothness_weight=2.0):
        self.iterations = iterations
        self.xyz_scale, self.rgb_scale, self.appearance_weight = xyz_scale, rgb_scale, appearance_weight
        self.smoothness_scale, self.smoothness_weight = smoothness_scale, smoothness_weight

    def __call__(self, scene, weak, prob):
        n, c = prob.shape
        active = prob.max(0) > 0  # classes no point has stay at 0
        if active.sum() < 2:
            return prob
        p = prob[:, active].astype(np.float64)
        unlabelled = p.sum(1) <= 0
        p[unlabelled] = 1.0 / active.sum()
        unary = -np.log(np.clip(p, 1e-5, 1.0)).T.astype(np.float32)
        crf = dcrf.DenseCRF(n, int(active.sum()))
        crf.setUnaryEnergy(np.ascontiguousarray(unary))
        xyz = scene.coord.astype(np.float32)
        appearance = np.concatenate([xyz / self.xyz_scale, scene.color.astype(np.float32) / self.rgb_scale], 1)
        crf.addPairwiseEnergy(np.ascontiguousarray(appearance.T), compat=self.appearance_weight)
        crf.addPairwiseEnergy(np.ascontiguousarray((xyz / self.smoothness_scale).T), compat=self.smoothness_weight)
        q = np.asarray(crf.inference(self.iterations), np.float32).T
        out = np.zeros_like(prob, dtype=np.float32)
        out[:, active] = q
        return out
