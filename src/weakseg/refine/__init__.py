"""Refiners: turn one scene's pseudo-label probabilities into better ones.

A refiner is a class registered with `@REFINERS.register(name)` in a module whose
`DECLARATIONS` give its name, options ({name: JSON schema}; config.yaml's other keys are refused at parse time)
and what it needs; it is built from its config options and called as
`refiner(scene, weak, prob, **needs) -> prob` with prob (N, C) float32. Rows of zeros mean "no
label" (written as -1, ignored by stage two). Refiners run in the order config.yaml lists them.

Needs, each a keyword argument: `geometry` (io.read_geometry of the scene's
pre/geometry/<scene>.h5: supervoxel, sv_*, edges, pfh, ...; the DAG adds that file to the refine
job from the declaration alone, no rule changes) and `features` (the per-supervoxel features the
stage-one method wrote beside its pseudo labels, {name: (S, D) array}, possibly empty).
Declaring rather than importing keeps torch and pydensecrf out of the DAG's parse.
"""

from pathlib import Path

from .. import option_schemas
from ..registry import Registry

REFINERS = Registry("refiner", known_needs=("geometry", "features"))
REFINERS.discover(__name__, Path(__file__).parent, vars(option_schemas))
