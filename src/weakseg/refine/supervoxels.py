"""Refiners over the scene's supervoxels (pre/geometry/<scene>.h5, weakseg.preprocess): both are
declared with `needs=("geometry",)` and take the geometry as a keyword argument.

- `supervoxel_vote`: WSegPC's region-point consistency and One Thing One Click's supervoxel
  labels: every point takes its supervoxel's mean probability.
- `graph_propagation`: One Thing One Click's label propagation: supervoxel labels spread over the
  supervoxel graph by Zhou et al.'s label spreading (Learning with local and global consistency,
  NIPS 2003), along edges weighted by how alike the two supervoxels look.

In both, labelled points (clicks, point_fraction: `weak["points"]`, `weak["labels"]`) beat the
network: a supervoxel holding any takes their labels (their mean one-hot, should one supervoxel
hold clicks of two classes), and the points themselves keep their own label, as the stage-one
baseline keeps them.
"""

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu

from ..option_schemas import NONNEGATIVE, POSITIVE
from . import REFINERS

DECLARATIONS = [
    dict(name="supervoxel_vote", needs=("geometry",)),
    dict(name="graph_propagation", needs=("geometry",), options={
        "alpha": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, "color_sigma": POSITIVE,
        "normal_sigma": POSITIVE, "pfh_sigma": {"oneOf": [POSITIVE, {"type": "null"}]}, "min_affinity": NONNEGATIVE}),
]


def _supervoxel_votes(weak, prob, supervoxel, num_supervoxels):
    """(S, C) mean probability of each supervoxel's points that have a label (rows of zeros do
    not vote; a supervoxel without voters gets zeros), with given points overriding, and
    (given point ids, their one-hot rows)."""
    n, c = prob.shape
    voters = np.flatnonzero(prob.max(1) > 0)
    member = sp.csr_matrix((np.ones(len(voters)), (supervoxel[voters], voters)), shape=(num_supervoxels, n))
    count = np.asarray(member.sum(1)).ravel()
    mean = (member @ prob) / np.maximum(count, 1)[:, None]
    points = np.asarray(weak.get("points", []), np.int64)
    given = np.eye(c)[np.asarray(weak.get("labels", []), np.int64)]
    if len(points):
        clicked = sp.csr_matrix((np.ones(len(points)), (supervoxel[points], np.arange(len(points)))),
                                shape=(num_supervoxels, len(points)))
        has = np.asarray(clicked.sum(1)).ravel()
        mean[has > 0] = (clicked @ given)[has > 0] / has[has > 0, None]
    return mean, points, given


def _to_points(sv_prob, supervoxel, points, given):
    out = sv_prob[supervoxel].astype(np.float32)
    out[points] = given
    return out


@REFINERS.register("supervoxel_vote")
class SupervoxelVote:
    """Every point takes the mean probability of its supervoxel's labelled points; supervoxels
    with none stay unlabelled. Labelled points win inside their supervoxel (module docstring)."""

    def __init__(self):
        pass

    def __call__(self, scene, weak, prob, geometry):
        sv = geometry["supervoxel"].astype(np.int64)
        mean, points, given = _supervoxel_votes(weak, prob, sv, len(geometry["sv_size"]))
        return _to_points(mean, sv, points, given)


@REFINERS.register("graph_propagation")
class GraphPropagation:
    """Label spreading over the supervoxel graph: F = (1 - alpha) (I - alpha S)^-1 Y, where Y holds
    the supervoxel votes (as `supervoxel_vote`; supervoxels with none are rows of zeros) and
    S = D^-1/2 W D^-1/2 the normalised affinities of touching supervoxels,

        W_ij = exp(-|colour_i - colour_j|^2 / (2 color_sigma^2)) * exp(-(1 - |n_i . n_j|) / normal_sigma)
               [* exp(-|pfh_i - pfh_j|_1 / pfh_sigma), when pfh_sigma is set],

    mean colours on 0-255 and unit mean normals (|.|: normals may point either way). Edges with
    W below `min_affinity` are cut, and the parts of the graph that no seed reaches then stay
    unlabelled: with every edge kept, a label would cross any boundary, however strong, into a
    part without seeds, carried by an infinitesimal mass. Each supervoxel's F row is normalised
    to a distribution; a class absent from every seed cannot appear (F is linear in Y's
    columns). Supervoxels holding labelled points keep those labels (module docstring)."""

    def __init__(self, alpha=0.9, color_sigma=20.0, normal_sigma=0.5, pfh_sigma=None, min_affinity=0.01):
        self.alpha, self.color_sigma, self.normal_sigma = alpha, color_sigma, normal_sigma
        self.pfh_sigma, self.min_affinity = pfh_sigma, min_affinity

    def affinity(self, geometry):
        """(E,) affinity of each edge of `geometry["edges"]` (0 where cut)."""
        i, j = geometry["edges"].astype(np.int64).T
        color, normal = geometry["sv_color"].astype(np.float64), geometry["sv_normal"].astype(np.float64)
        w = np.exp(-((color[i] - color[j]) ** 2).sum(1) / (2 * self.color_sigma ** 2))
        w *= np.exp(-(1 - np.abs((normal[i] * normal[j]).sum(1))) / self.normal_sigma)
        if self.pfh_sigma:
            pfh = geometry["pfh"].astype(np.float64)
            w *= np.exp(-np.abs(pfh[i] - pfh[j]).sum(1) / self.pfh_sigma)
        return np.where(w >= self.min_affinity, w, 0.0)

    def __call__(self, scene, weak, prob, geometry):
        sv = geometry["supervoxel"].astype(np.int64)
        s = len(geometry["sv_size"])
        y, points, given = _supervoxel_votes(weak, prob, sv, s)
        w = self.affinity(geometry)
        keep = w > 0  # a cut edge is not stored at all: csgraph counts a stored zero as an edge
        i, j = geometry["edges"][keep].astype(np.int64).T
        w = w[keep]
        weights = sp.coo_matrix((np.r_[w, w], (np.r_[i, j], np.r_[j, i])), shape=(s, s)).tocsr()
        degree = np.asarray(weights.sum(1)).ravel()
        d = sp.diags(np.divide(1, np.sqrt(degree), out=np.zeros(s), where=degree > 0))
        system = (sp.identity(s) - self.alpha * (d @ weights @ d)).tocsc()
        f = np.maximum((1 - self.alpha) * splu(system).solve(y), 0)  # (round-off below 0)
        _, part = connected_components(weights, directed=False)
        f[~np.isin(part, part[y.max(1) > 0])] = 0  # what no seed reaches: 0 in exact arithmetic
        mass = f.sum(1, keepdims=True)
        f = np.divide(f, mass, out=np.zeros_like(f), where=mass > 0)
        clicked = np.zeros(s, bool)
        clicked[sv[points]] = True
        f[clicked] = y[clicked]
        return _to_points(f, sv, points, given)
