"""Refiners: turn one scene's pseudo-label probabilities into better ones.

A refiner is a class registered with `@REFINERS.register(name)`, built from its config params,
and called as `refiner(scene, weak, prob) -> prob` with prob (N, C) float32. Rows of zeros mean
"no label" (written as -1, ignored by stage two). Refiners run in the order config.yaml lists them.
"""

from ..registry import Registry

REFINERS = Registry("refiner")

from . import crf, filters  # noqa: E402,F401  (register themselves)
