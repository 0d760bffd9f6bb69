# Wiring shared by the rules: the dataset's scenes, the experiments, the settings each step sees.
import json

from weakseg.classes import class_names
from weakseg.config import FULL, check, enabled_experiments, supervision, validate
from weakseg.datasets import DATASETS
from weakseg.errors import WeaksegError
from weakseg.refine import REFINERS

ENV = "../../envs/weakseg.yaml"
CONFIG_FILES = " + ".join(map(str, workflow.overwrite_configfiles)) or "config.yaml"
# Training jobs take half the cores, so that two of them (stage one and the fully supervised
# bound) train side by side; on 2 CPU cores two 1-thread jobs beat two 2-thread jobs in turn.
TRAIN_THREADS = max(1, workflow.cores // 2)
# A weak experiment's chain (weak labels, geometry, stage one, its per-scene pseudo labels and
# refinement) is the run's longest path: its jobs go first when others are ready too, and the
# bound's jobs fill the cores it leaves idle (the bound's prediction then runs beside the click
# model's stage two: 930 -> 860 s for the default on 2 cores, README "Measured").
WEAK_CHAIN_PRIORITY = 1

try:
    validate(config, os.path.join(workflow.basedir, "workflow/schemas/config.schema.yaml"))
    DATASET = config["dataset"]
    EXPERIMENTS = enabled_experiments(config)
    SOURCE = DATASETS.get(DATASET["type"])(DATASET)
    SCENE_INFO = SOURCE.scenes()
    USER_TAGS = SOURCE.scene_tags() if hasattr(SOURCE, "scene_tags") else None
    EVALUATED_SPLITS = check(config, SCENE_INFO, USER_TAGS)
except WeaksegError as err:  # a bad dataset or config: one line, no traceback, nothing run
    # (the library calls the config "config.yaml"; name the file(s) this run read instead)
    print(f"weakseg: error: {CONFIG_FILES if err.path == 'config.yaml' else err.path}: {err.problem}", file=sys.stderr)
    sys.exit(1)

R = f"results/{DATASET['name']}"
SCENES = {split: sorted(s for s, info in SCENE_INFO.items() if info["split"] == split) for split in ("train", "val")}
CLASSES = json.dumps(list(class_names(SOURCE.label_set)))
# What a scene's own job depends on (not the settings that only list scenes: adding scenes
# reruns none of the existing ones).
SCENE_SETTINGS = {k: v for k, v in DATASET.items() if k not in getattr(SOURCE, "listing_keys", ())}


wildcard_constraints:
    scene=r"[A-Za-z0-9_-]+",
    exp=r"[A-Za-z0-9_-]+",
    stage=r"stage1|refined|stage2",
    split=r"train|val",


def as_json(obj):
    return json.dumps(obj, sort_keys=True)


def kind(exp):
    return supervision(EXPERIMENTS[exp])["kind"]


def weak_settings(exp, scene):
    """The weak-label step's settings: the user's tags when the dataset has them, else what to simulate."""
    if USER_TAGS and scene in USER_TAGS and kind(exp) == "scene_tags":
        return {"tags": USER_TAGS[scene]}
    return {"seed": config["seed"], **supervision(EXPERIMENTS[exp])}


def stage1_settings(exp):
    return {"seed": config["seed"], "device": config["device"], **EXPERIMENTS[exp]["stage1"]}


def pre_files(exp, scene):
    """The per-scene caches the experiment's refiners declare they need (`needs`, weakseg.refine),
    by name: {"geometry": ".../pre/geometry/<scene>.h5"}; each is passed as `--<name> PATH`."""
    needs = sorted({n for spec in EXPERIMENTS[exp]["refiners"] for n in REFINERS.metadata(spec["name"]).get("needs", ())})
    return {need: f"{R}/pre/{need}/{scene}.h5" for need in needs}


def stage2_settings(exp):
    return {"seed": config["seed"], "device": config["device"], **config["stage2"], **EXPERIMENTS[exp].get("stage2", {})}


def scene_files(split):
    return expand(f"{R}/scenes/{{scene}}.h5", scene=SCENES[split])


def weak_files(exp, split):
    return expand(f"{R}/{exp}/weak/{{scene}}.json", scene=SCENES[split])


STORES = {"stage1": "stage1/pseudo.zarr", "refined": "refined/pseudo.zarr", "stage2": "stage2/pred.zarr"}


def label_groups(exp, stage, split):
    return expand(f"{R}/{exp}/{STORES[stage]}/{{scene}}", scene=SCENES[split])


def stage2_labels(w):
    """Stage two learns from the refined pseudo labels, or from the ground truth (none given)."""
    return [] if kind(w.exp) == FULL else label_groups(w.exp, "refined", "train")


def evaluated(exp):
    """The metrics files of an experiment: every stage's labels on the training split, and the
    final model on each split, for the splits that have ground truth."""
    stages = ["stage2"] if kind(exp) == FULL else ["stage1", "refined", "stage2"]
    pairs = [(stage, "train") for stage in stages] + [("stage2", "val")]
    return [f"{R}/{exp}/metrics/{stage}_{split}.json" for stage, split in pairs if split in EVALUATED_SPLITS]


def final_outputs():
    """The summary when anything can be scored; else (no ground truth) every experiment's
    pseudo labels and predictions."""
    if any(evaluated(exp) for exp in EXPERIMENTS):
        return [f"{R}/summary.md", f"{R}/summary.csv"]
    return [f"{R}/{exp}/{STORES['stage2']}" for exp in EXPERIMENTS] + \
        [g for exp in EXPERIMENTS if kind(exp) != FULL for g in label_groups(exp, "refined", "train")]
