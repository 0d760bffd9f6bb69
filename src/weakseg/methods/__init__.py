"""Stage-one methods: learn from weak labels, then write per-point pseudo-label probabilities.

A method is a class in its own module, registered with `@METHODS.register(name)` and declared
below with what the DAG must know at parse time, without importing torch:
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

from ..registry import Registry

METHODS = Registry("stage-one method", known_needs=("geometry", "projections", "frames", "previous"))

# The keys of `stage1:` that every method takes: the one trainer's and the voxel grid's.
TRAINING_KEYS = ("method", "voxel_size", "channels", "blocks", "epochs", "batch_size", "lr", "weight_decay")

_TEST_VIEWS = {
    "description": "predictions average the class probabilities over `rotations` turns about z times `scales`",
    "type": "object", "additionalProperties": False, "required": ["rotations", "scales"],
    "properties": {"rotations": {"type": "integer", "minimum": 1},
                   "scales": {"type": "array", "minItems": 1, "items": {"type": "number", "exclusiveMinimum": 0}}},
}
_CLASS_BALANCE = {"type": "number", "minimum": 0, "maximum": 1}
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_POSITIVE_INT = {"type": "integer", "minimum": 1}

_RATE = {"type": "number", "minimum": 0, "maximum": 1}

METHODS.declare("mprm", "weakseg.methods.mprm", accepts={"scene_tags", "subcloud_tags"},
                options={"attention_channels": _POSITIVE_INT, "prior_drop_rate": _RATE})
METHODS.declare("sparse_points", "weakseg.methods.sparse_points", accepts={"clicks", "point_fraction"},
                options={"test_views": _TEST_VIEWS, "class_balance": _CLASS_BALANCE},
                needs=("previous",), predicts=True)
METHODS.declare("otoc", "weakseg.methods.otoc", accepts={"clicks", "point_fraction"},
                options={"test_views": _TEST_VIEWS, "class_balance": _CLASS_BALANCE,
                         "relation": {"type": "boolean"}, "embedding_dim": _POSITIVE_INT,
                         "temperature": _POSITIVE, "momentum": {"type": "number", "minimum": 0, "maximum": 1},
                         "samples_per_class": _POSITIVE_INT, "relation_weight": {"type": "number", "minimum": 0}},
                needs=("geometry", "previous"), predicts=True)
_FRACTION = {"type": "number", "minimum": 0, "maximum": 1}
METHODS.declare("densify", "weakseg.methods.densify", accepts={"scene_tags"},
                options={"test_views": _TEST_VIEWS, "class_balance": _CLASS_BALANCE,
                         "primitives": {"type": "integer", "minimum": 2}, "groups": _FRACTION,
                         "kmeans_interval": _FRACTION, "warmup": _FRACTION, "match_start": _FRACTION,
                         "losses": {"type": "array", "uniqueItems": True, "minItems": 1,
                                    "items": {"enum": ["cam", "us", "match"]}},
                         "pseudo_from": {"enum": ["classifier", "primitives"]}, "prior_drop_rate": _RATE},
                needs=("geometry", "previous"), predicts=True)
METHODS.declare("dsp", "weakseg.methods.dsp", accepts={"clicks", "point_fraction"},
                options={"test_views": _TEST_VIEWS, "class_balance": _CLASS_BALANCE,
                         "phases": {"type": "array", "minItems": 1, "items": {"enum": ["csfr", "isfr", "csfr+isfr"]}},
                         "affinity_voxels": _POSITIVE_INT, "regularization_weight": {"type": "number", "minimum": 0}},
                predicts=True)
