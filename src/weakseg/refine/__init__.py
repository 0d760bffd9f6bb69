"""Refiners: turn one scene's pseudo-label probabilities into better ones.

A refiner is a class registered with `@REFINERS.register(name)` in its own module and declared
below with its options ({name: JSON schema}; config.yaml's other keys are refused at parse time)
and what it needs; it is built from its config options and called as
`refiner(scene, weak, prob, **needs) -> prob` with prob (N, C) float32. Rows of zeros mean "no
label" (written as -1, ignored by stage two). Refiners run in the order config.yaml lists them.

Needs, each a keyword argument: `geometry` (io.read_geometry of the scene's
pre/geometry/<scene>.h5: supervoxel, sv_*, edges, pfh, ...; the DAG adds that file to the refine
job from the declaration alone, no rule changes) and `features` (the per-supervoxel features the
stage-one method wrote beside its pseudo labels, {name: (S, D) array}, possibly empty).
Declaring rather than importing keeps torch and pydensecrf out of the DAG's parse.
"""

from ..registry import Registry

REFINERS = Registry("refiner", known_needs=("geometry", "features"))

_NUMBER = {"type": "number"}
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_NONNEGATIVE = {"type": "number", "minimum": 0}
_SHARE = {"type": "number", "minimum": 0, "maximum": 1}
_POSITIVE_INT = {"type": "integer", "minimum": 1}

REFINERS.declare("dense_crf", "weakseg.refine.crf", options={
    "iterations": _POSITIVE_INT, "xyz_scale": _POSITIVE, "rgb_scale": _POSITIVE, "appearance_weight": _NONNEGATIVE,
    "smoothness_scale": _POSITIVE, "smoothness_weight": _NONNEGATIVE})
REFINERS.declare("tag_filter", "weakseg.refine.filters")
REFINERS.declare("confidence_filter", "weakseg.refine.filters", options={"drop": _SHARE})
REFINERS.declare("supervoxel_vote", "weakseg.refine.supervoxels", needs=("geometry",))
REFINERS.declare("graph_propagation", "weakseg.refine.supervoxels", needs=("geometry",), options={
    "alpha": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, "color_sigma": _POSITIVE,
    "normal_sigma": _POSITIVE, "pfh_sigma": {"oneOf": [_POSITIVE, {"type": "null"}]}, "min_affinity": _NONNEGATIVE})
REFINERS.declare("energy_propagation", "weakseg.refine.energy", needs=("geometry", "features"), options={
    "iterations": _POSITIVE_INT,
    "kernels": {"type": "array", "uniqueItems": True, "items": {"enum": ["color", "position", "unet", "relation"]}},
    **{f"{k}_{p}": (_POSITIVE if p == "sigma" else _NONNEGATIVE)
       for k in ("color", "position", "unet", "relation") for p in ("sigma", "lambda")},
    "pairwise_weight": _NONNEGATIVE, "message": {"enum": ["normalised", "sum"]}})
REFINERS.declare("confidence_selection", "weakseg.refine.energy", needs=("geometry",), options={"threshold": _SHARE})
