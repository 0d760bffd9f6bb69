"""Stage-one methods: learn from weak labels, then write per-point pseudo-label probabilities.

A method is a class registered with `@METHODS.register(name)` that has:
- `accepts`: the weak-label kinds it can learn from (config validation rejects other pairings);
- `__init__(num_classes, params, device)`, building `self.model` (a torch module);
- `example(scene, weak) -> Example`, the training target for one scene;
- `loss(examples, rng) -> torch.Tensor`, for one batch (the shared trainer does the rest);
- `pseudo_labels(scene, weak) -> (N, C) float32`, per-point class probabilities, rows of zeros
  for points the method leaves unlabelled.
"""

from ..registry import Registry

METHODS = Registry("stage-one method")

from . import mprm  # noqa: E402,F401  (registers itself)
