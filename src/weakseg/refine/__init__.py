"""Refiners: turn one scene's pseudo-label probabilities into better ones.

A refiner is a class registered with `@REFINERS.register(name)` in its own module and declared
below, built from its config params, and called as `refiner(scene, weak, prob) -> prob` with prob
(N, C) float32. Rows of zeros mean "no label" (written as -1, ignored by stage two). Refiners run
in the order config.yaml lists them.

Per-scene geometry: a refiner declared with `needs=("geometry",)` is called as
`refiner(scene, weak, prob, geometry=g)`, g = `io.read_geometry` of the scene's
pre/geometry/<scene>.h5 (weakseg.preprocess's arrays: supervoxel, sv_*, edges, pfh, ...). The DAG
reads `needs` at parse time: the refine rule of an experiment with such a refiner depends on the
geometry rule's output and passes it on (`weakseg refine --geometry PATH`); no rule changes to add
one. Declaring rather than importing keeps torch and pydensecrf out of the DAG's parse.
"""

from ..registry import Registry

REFINERS = Registry("refiner")
REFINERS.declare("dense_crf", "weakseg.refine.crf")
REFINERS.declare("tag_filter", "weakseg.refine.filters")
REFINERS.declare("confidence_filter", "weakseg.refine.filters")
REFINERS.declare("supervoxel_vote", "weakseg.refine.supervoxels", needs=("geometry",))
REFINERS.declare("graph_propagation", "weakseg.refine.supervoxels", needs=("geometry",))
