"""Stage-one methods: learn from weak labels, then write per-point pseudo-label probabilities.

A method is a class in its own module, registered with `@METHODS.register(name)`, and the
module's `DECLARATIONS` say what the DAG must know at parse time, read without importing torch
(literals and weakseg.option_schemas only):
- `name`: the registered name;
- `accepts`: the weak-label kinds it learns from (other pairings are refused before anything runs);
- `options`: {name: JSON schema} of its own stage1 keys, beyond the training keys every method
  takes (TRAINING_KEYS); any other key is refused at parse time, naming it;
- `needs`: what its jobs receive besides the scene and its weak labels, each as a keyword
  argument of `example` and `pseudo_labels`:
  `geometry` (io.read_geometry of pre/geometry/<scene>.h5), `projections`
  (io.read_projections of pre/projections/<scene>.h5), `frames` (the scene is read with its
  RGB-D frames) and `previous` (the previous round's refined labels, (N,) int with -1 =
  unlabelled; given to `example` from the second round on, None otherwise). A method that needs
  `previous` can run several self-training rounds (`rounds:` in config.yaml);
- `predicts`: its network segments a scene from the scene alone (`predict(scene)`), so
  the DAG scores its last round's model on the validation split beside stage two.

The class has:
- `__init__(num_classes, params, device)`, building `self.model` (a torch module);
- `example(scene, weak, **needs) -> Example`, the training target for one scene;
- `loss(examples, rng) -> torch.Tensor`, for one batch; the one trainer (`train.fit`) does the
  rest, and calls the optional hooks `batches`, `before_epoch`, `after_step`, `after_epoch`,
  and checkpoints the optional `extra_state()` / `load_extra_state(state)` (a memory bank, a
  teacher, centroids) beside the weights, so that a resumed run equals an uninterrupted one;
- `pseudo_labels(scene, weak, **needs)` -> (N, C) float32 per-point class probabilities (rows of
  zeros for points the method leaves unlabelled), or (probabilities, {name: (S, D) array}) with
  per-supervoxel features that refiners declared with `needs=("features",)` receive.
"""

from pathlib import Path

from .. import option_schemas
from ..registry import Registry

METHODS = Registry("stage-one method", known_needs=("geometry", "projections", "frames", "previous"))

# The keys of `stage1:` that every method takes: the one trainer's, the voxel grid's, the
# networks' input (`input_normals`, voxel.network_scene) and `warm_start` (a round from the second
# on starts from the previous round's model file).
TRAINING_KEYS = ("method", "voxel_size", "channels", "blocks", "epochs", "batch_size", "lr", "weight_decay",
                 "input_normals", "warm_start")

METHODS.discover(__name__, Path(__file__).parent, vars(option_schemas))
