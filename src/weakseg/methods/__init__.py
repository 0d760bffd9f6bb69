"""Stage-one methods: learn from weak labels, then write per-point pseudo-label probabilities.

A method is a class in its own module, registered with `@METHODS.register(name)` and declared
below with the weak-label kinds it learns from (config validation rejects other pairings before
anything runs). The class has:
- `__init__(num_classes, params, device)`, building `self.model` (a torch module);
- `example(scene, weak) -> Example`, the training target for one scene;
- `loss(examples, rng) -> torch.Tensor`, for one batch (the shared trainer does the rest);
- `pseudo_labels(scene, weak) -> (N, C) float32`, per-point class probabilities, rows of zeros
  for points the method leaves unlabelled.
"""

from ..registry import Registry

METHODS = Registry("stage-one method")
METHODS.declare("mprm", "weakseg.methods.mprm", accepts={"scene_tags", "subcloud_tags"})
METHODS.declare("sparse_points", "weakseg.methods.sparse_points", accepts={"clicks", "point_fraction"})
