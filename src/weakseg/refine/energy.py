"""One Thing One Click's pseudo-label generation (Liu et al., "One Thing One Click: A
Self-Training Approach for Weakly Supervised 3D Semantic Segmentation", CVPR 2021, Sec. 3.3-3.4):

- `energy_propagation`: graph propagation as the minimisation of the CRF-like energy of Eq. 3
  over the scene's supervoxels, unary Eq. 4 on the supervoxel-pooled prediction (Eq. 2), Potts
  pairwise Eq. 5 over every pair of supervoxels, solved by mean-field iterations (Krähenbühl and
  Koltun, "Efficient Inference in Fully Connected CRFs with Gaussian Edge Potentials", NIPS 2011).
- `confidence_selection`: keep the supervoxels whose propagated labels are confident (Eq. 8).

Both are declared with `needs=("geometry",)` (energy_propagation also needs the stage-one
method's per-supervoxel `features`). As in the supervoxel refiners, labelled points (clicks:
`weak["points"]`, `weak["labels"]`) win: a supervoxel holding any takes their labels, the points
themselves keep their own. Pure numpy: refine jobs do not load torch.
"""

import numpy as np

from ..errors import WeaksegError
from ..option_schemas import NONNEGATIVE, POSITIVE, POSITIVE_INT, SHARE, enum
from . import REFINERS
from .supervoxels import _supervoxel_votes, _to_points

DECLARATIONS = [
    dict(name="energy_propagation", needs=("geometry", "features"), options={
        "iterations": POSITIVE_INT,
        "kernels": {"type": "array", "uniqueItems": True, "items": enum("color", "position", "unet", "relation")},
        **{f"{k}_{p}": (POSITIVE if p == "sigma" else NONNEGATIVE)
           for k in ("color", "position", "unet", "relation") for p in ("sigma", "lambda")},
        "pairwise_weight": NONNEGATIVE, "message": enum("normalised", "sum")}),
    dict(name="confidence_selection", needs=("geometry",), options={"threshold": SHARE}),
]

KERNELS = ("color", "position", "unet", "relation")
EPS = 1e-6  # probability floor before -log: a class the network rules out costs -log(EPS), not inf
BLOCK_BYTES = 16 * 2 ** 20  # one block of kernel rows (float64) and its temporaries; the whole
KEEP_BYTES = 128 * 2 ** 20  # S x S kernel is kept (float32) when it fits in this


def normalised(x):
    """The feature group `x` (S, D) centred (per dimension) and scaled so that its total variance
    (the mean over supervoxels of the squared distance to their mean feature) is 3.

    Equivalently: divided by its standard deviation over supervoxels, all dimensions pooled, and
    by sqrt(D / 3). So for colour and position (D = 3) this is plain standardisation, and for any
    group, whatever its units and dimension, two random supervoxels of the scene are on average
    sqrt(6) apart: sigma = 1 means "within the scene's typical spread" for every group (Eq. 5's
    "normalized" features). Scaling a group, or repeating its dimensions, changes nothing. A
    constant group (every supervoxel alike) stays all zeros: it tells no supervoxels apart."""
    x = np.asarray(x, np.float64)
    x = x - x.mean(0)
    spread = np.sqrt((x ** 2).sum(1).mean() / 3) if len(x) else 0.0
    return x / spread if spread > 0 else np.zeros_like(x)


def _pooled_unary(weak, prob, supervoxel, s):
    """Eq. 2 and 4: (S, C) -log of each supervoxel's mean predicted probability (over its points
    that have a label; clicks override), floored at EPS; uniform where no point has one.
    Also which supervoxels hold clicks, their click distribution, and the click points/one-hots."""
    mean, points, given = _supervoxel_votes(weak, prob, supervoxel, s)
    unary = -np.log(np.maximum(mean, EPS))  # no labelled point: EPS everywhere, a uniform unary
    clicked = np.zeros(s, bool)
    clicked[supervoxel[points]] = True
    return unary, mean, clicked, points, given


def _softmax(logits):
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@REFINERS.register("energy_propagation")
class EnergyPropagation:
    """Label propagation over every pair of supervoxels by minimising Eq. 3,

        E(Y) = sum_j -log P(y_j)  +  w sum_{j<j'} [y_j != y_j'] k(j, j'),
        k(j, j') = exp(-sum_{g in kernels} lambda_g ||x_j^g - x_j'^g||^2 / (2 sigma_g^2)),

    P(y_j) the mean prediction of the supervoxel's labelled points (Eq. 2; uniform if none), and
    x^g the supervoxel's feature in group g, `normalised` per scene: "color" (mean colour),
    "position" (mean coordinates), "unet" and "relation" (the stage-one method's mean U-Net
    feature and relation-network embedding, `features["unet"]`, `features["relation"]`).
    Mean field: Q = softmax(-unary), then `iterations` times
    Q_j(c) ∝ exp(-unary_j(c) + w m_j(c)), with the message m_j(c) = sum_{j' != j} k(j, j') Q_j'(c)
    (`message: sum`, Eq. 3 as printed) or that sum divided by the scene's mean kernel mass,
    the mean over supervoxels of sum_{j' != j} k(j, j') (`message: normalised`, the default).
    Summed over every pair, the messages grow with the number of supervoxels in a scene: on a
    few hundred VCCS supervoxels they outweigh any unary, every supervoxel leaves propagation
    with probability near 1, and Eq. 8's threshold then selects nearly all of them, wrong ones
    included (docs/RESULTS.md). Divided by one number per scene, a supervoxel as similar to the
    others as the scene's average gets a message of at most w, so sigma = lambda = 1 and T = 0.9
    keep their meaning whatever the scene's size, and a supervoxel unlike its neighbours still
    hears little from them.
    Supervoxels holding clicks are fixed to their clicks' labels throughout, so they act as
    seeds. With `kernels` empty this is the unary alone, the paper's "3D U-Net" ablation: each
    supervoxel its pooled prediction.

    Every point takes its supervoxel's Q row; clicked points keep their one-hot. If no point of
    the scene has a label, nothing is propagated and every row stays zeros."""

    def __init__(self, iterations=10, kernels=KERNELS, pairwise_weight=1.0, message="normalised",
                 color_sigma=1.0, position_sigma=1.0, unet_sigma=1.0, relation_sigma=1.0,
                 color_lambda=1.0, position_lambda=1.0, unet_lambda=1.0, relation_lambda=1.0):
        unknown = [k for k in kernels if k not in KERNELS]
        if unknown:
            raise WeaksegError("config.yaml", f"energy_propagation: unknown kernel {unknown[0]!r}; "
                                              f"known: {', '.join(KERNELS)}")
        if message not in ("normalised", "sum"):
            raise WeaksegError("config.yaml", f"energy_propagation: message {message!r} is neither 'normalised' nor 'sum'")
        self.iterations, self.kernels, self.pairwise_weight = iterations, tuple(kernels), pairwise_weight
        self.normalised_message = message == "normalised"
        sigma = dict(color=color_sigma, position=position_sigma, unet=unet_sigma, relation=relation_sigma)
        lam = dict(color=color_lambda, position=position_lambda, unet=unet_lambda, relation=relation_lambda)
        # lambda ||a - b||^2 / (2 sigma^2) = ||a' - b'||^2 / 2 with a' = a sqrt(lambda) / sigma
        self.scale = {k: np.sqrt(lam[k]) / sigma[k] for k in KERNELS}

    def embedding(self, geometry, features, s):
        """(S, D) the kernels' normalised, weighted features side by side: k(j, j') is
        exp(-||z_j - z_j'||^2 / 2) of these rows."""
        groups = []
        for k in self.kernels:
            if k in ("color", "position"):
                x = geometry["sv_color" if k == "color" else "sv_coord"]
            elif k in features:
                x = features[k]
            else:
                raise WeaksegError("features", f"energy_propagation: kernel {k!r} needs the stage-one method's "
                                               f"per-supervoxel {k!r} features, and it wrote none")
            x = np.asarray(x)
            if x.ndim != 2 or len(x) != s:
                raise WeaksegError("features", f"energy_propagation: the {k!r} features are {x.shape}, "
                                               f"not one row for each of the scene's {s} supervoxels")
            groups.append(normalised(x) * self.scale[k])
        return np.concatenate(groups, 1) if groups else np.zeros((s, 0))

    def __call__(self, scene, weak, prob, geometry, features=None):
        sv = geometry["supervoxel"].astype(np.int64)
        s = len(geometry["sv_size"])
        z = self.embedding(geometry, features or {}, s)  # first: a config lacking features fails on any scene
        unary, seed, clicked, points, given = _pooled_unary(weak, prob, sv, s)
        if not (seed.max(1) > 0).any():
            return np.zeros_like(prob, np.float32)
        q = _softmax(-unary)
        q[clicked] = seed[clicked]
        if self.kernels and self.pairwise_weight:
            kept = s * s * 4 <= KEEP_BYTES  # else recomputed block by block every iteration
            cache = [(start, k.astype(np.float32)) for start, k in _kernel_blocks(z)] if kept else None
            mass = sum(float(k.sum()) for _, k in cache or _kernel_blocks(z)) / s
            scale = 1 / max(mass, 1e-300) if self.normalised_message else 1.0
            for _ in range(self.iterations):
                message = np.empty_like(q)
                for start, k in cache or _kernel_blocks(z):
                    message[start:start + len(k)] = k @ q
                q = _softmax(-unary + self.pairwise_weight * scale * message)
                q[clicked] = seed[clicked]
        return _to_points(q, sv, points, given)


def _kernel_blocks(z):
    """The Gaussian kernel exp(-||z_j - z_j'||^2 / 2), 0 on the diagonal (Eq. 3 pairs j != j'), as
    (first row, block of rows) pairs, each block at most BLOCK_BYTES, so that memory stays
    bounded whatever the number of supervoxels."""
    s = len(z)
    sq = (z ** 2).sum(1)
    rows = max(1, BLOCK_BYTES // (8 * max(s, 1)))
    for start in range(0, s, rows):
        d2 = sq[start:start + rows, None] + sq[None] - 2 * z[start:start + rows] @ z.T
        k = np.exp(-0.5 * np.maximum(d2, 0))
        k[np.arange(len(k)), start + np.arange(len(k))] = 0
        yield start, k


def supervoxel_confidence(prob, supervoxel, num_supervoxels):
    """Eq. 8 per supervoxel: its label y_j (the argmax of the mean row of its labelled points;
    clicks not consulted) and exp(-C_j), C_j the mean over those points of -log p_i(y_j)
    (floored at EPS); 0 for a supervoxel without a labelled point."""
    sv, s = supervoxel, num_supervoxels
    label = _supervoxel_votes({}, prob, sv, s)[0].argmax(1)
    labelled = prob.max(1) > 0
    cost = -np.log(np.maximum(prob[np.arange(len(prob)), label[sv]], EPS))
    total = np.bincount(sv[labelled], cost[labelled], minlength=s)
    count = np.bincount(sv[labelled], minlength=s)
    return label, np.where(count > 0, np.exp(-total / np.maximum(count, 1)), 0.0)


@REFINERS.register("confidence_selection")
class ConfidenceSelection:
    """Keep the supervoxels whose labels are confident (Eq. 8): y_j the argmax of the mean row of
    the supervoxel's labelled points, C_j = the mean over those points of -log p_i(y_j) (floored
    at EPS), kept when exp(-C_j) >= `threshold` (the paper's T). A kept supervoxel's points keep
    their rows as given; the others' become zeros (unlabelled), as do supervoxels without a
    labelled point. Supervoxels holding clicks are always kept, with their clicks' labels, and
    the clicked points keep their one-hot."""

    def __init__(self, threshold=0.9):
        self.threshold = threshold

    def __call__(self, scene, weak, prob, geometry):
        sv = geometry["supervoxel"].astype(np.int64)
        s = len(geometry["sv_size"])
        _, confidence = supervoxel_confidence(prob, sv, s)
        keep = confidence >= self.threshold
        out = np.where(keep[sv, None], prob, 0).astype(np.float32)
        clicks, points, given = _supervoxel_votes(weak, np.zeros_like(prob), sv, s)
        clicked = np.zeros(s, bool)
        clicked[sv[points]] = True
        at = clicked[sv]
        out[at] = clicks[sv[at]]
        out[points] = given
        return out
