# Wiring shared by the rules: the scene list, the experiments, the settings each step sees.
import json

from weakseg.classes import class_names
from weakseg.plan import synthetic_plan

DATASET = config["dataset"]
R = f"results/{DATASET['name']}"
ENV = "../../envs/weakseg.yaml"

PLAN = synthetic_plan(DATASET["num_train"], DATASET["num_val"], DATASET["seed"])
SCENES = {split: sorted(s for s, p in PLAN.items() if p["split"] == split) for split in ("train", "val")}
CLASSES = json.dumps(list(class_names(DATASET["label_set"])))
EXPERIMENTS = config["experiments"]
# Training jobs take half the cores, so that two of them (stage one and the fully supervised
# bound) train side by side; on 2 CPU cores two 1-thread jobs beat two 2-thread jobs in turn.
TRAIN_THREADS = max(1, workflow.cores // 2)


wildcard_constraints:
    scene=r"[A-Za-z0-9_-]+",
    exp=r"[A-Za-z0-9_-]+",
    supervision=r"[a-z_]+",
    stage=r"stage1|refined|stage2",
    split=r"train|val",


def as_json(obj):
    return json.dumps(obj, sort_keys=True)


def supervision(exp):
    return EXPERIMENTS[exp]["supervision"]


def stage1_settings(exp):
    return {"seed": config["seed"], "device": config["device"], **EXPERIMENTS[exp]["stage1"]}


def stage2_settings(exp):
    return {"seed": config["seed"], "device": config["device"], **config["stage2"], **EXPERIMENTS[exp].get("stage2", {})}


def scene_files(split):
    return expand(f"{R}/scenes/{{scene}}.h5", scene=SCENES[split])


def weak_files(exp, split):
    return expand(f"{R}/weak/{supervision(exp)}/{{scene}}.json", scene=SCENES[split])


STORES = {"stage1": "stage1/pseudo.zarr", "refined": "refined/pseudo.zarr", "stage2": "stage2/pred.zarr"}


def label_groups(exp, stage, split):
    return expand(f"{R}/{exp}/{STORES[stage]}/{{scene}}", scene=SCENES[split])


def stage2_labels(w):
    """Stage two learns from the refined pseudo labels, or from the ground truth (none given)."""
    return [] if supervision(w.exp) == "full" else label_groups(w.exp, "refined", "train")


def evaluated(exp):
    """The metrics files of an experiment: every stage's labels on the training split, and the
    final model on both splits."""
    pairs = [("stage2", "train"), ("stage2", "val")]
    if supervision(exp) != "full":
        pairs = [("stage1", "train"), ("refined", "train")] + pairs
    return [f"{R}/{exp}/metrics/{stage}_{split}.json" for stage, split in pairs]
