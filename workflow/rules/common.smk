# Wiring shared by the rules: the dataset's scenes, the experiments, the settings each step sees.
import json

from snakemake.exceptions import WorkflowError

from weakseg.classes import class_names
from weakseg.config import FULL, check, enabled_experiments, export_scenes, retrains, rounds, supervision, validate
from weakseg.datasets import DATASETS
from weakseg.errors import WeaksegError
from weakseg.methods import METHODS
from weakseg.refine import REFINERS

ENV = "../../envs/weakseg.yaml"
CONFIG_FILES = " + ".join(map(str, workflow.overwrite_configfiles)) or "config.yaml"
# Training jobs take half the cores, so that two of them (stage one and the fully supervised
# bound) train side by side; on 2 CPU cores two 1-thread jobs beat two 2-thread jobs in turn.
try:
    TRAIN_THREADS = max(1, workflow.cores // 2)
except WorkflowError:  # `snakemake --report` parses the workflow without --cores (snakemake issue 3691); it runs no job
    TRAIN_THREADS = 1
# A weak experiment's chain (weak labels, geometry, stage one, its per-scene pseudo labels and
# refinement) is the run's longest path: its jobs go first when others are ready too, and the
# bound's jobs fill the cores it leaves idle (the bound's prediction then runs beside the click
# model's stage two; docs/RESULTS.md measures the gain).
WEAK_CHAIN_PRIORITY = 1

try:
    validate(config, os.path.join(workflow.basedir, "workflow/schemas/config.schema.yaml"))
    DATASET = config["dataset"]
    EXPERIMENTS = enabled_experiments(config)
    SOURCE = DATASETS.get(DATASET["type"])(DATASET)
    SCENE_INFO = SOURCE.scenes()
    USER_TAGS = SOURCE.scene_tags() if hasattr(SOURCE, "scene_tags") else None
    EVALUATED_SPLITS = check(config, SCENE_INFO, USER_TAGS)
    EXPORT_SCENES = export_scenes(config, SCENE_INFO)
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
    round=r"[0-9]+",
    stage=r"(stage1|refined)_round[0-9]+|stage2",
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


def num_rounds(exp):
    return len(rounds(EXPERIMENTS[exp]))


def stage1_settings(exp, round):
    """Round `round`'s stage-one settings (1-based). Only that round's: changing a later round's
    settings, or adding rounds, reruns none of the earlier ones. (`warm_start` is not among them:
    it is the training job's `init` input, warm_start_model.)"""
    settings = rounds(EXPERIMENTS[exp])[int(round) - 1]
    return {"seed": config["seed"], "device": config["device"], **{k: v for k, v in settings.items() if k != "warm_start"}}


def method_name(exp):
    """The registered stage-one method of `exp`; empty for the fully supervised bound."""
    return "" if kind(exp) == FULL else EXPERIMENTS[exp]["stage1"]["method"]


def method_meta(exp):
    return METHODS.metadata(EXPERIMENTS[exp]["stage1"]["method"])


def refined_group(exp, round, scene):
    return f"{R}/{exp}/refined/round{round}/pseudo.zarr/{scene}"


def method_inputs(exp, round, scenes, training=True):
    """The per-scene inputs the experiment's method declares it needs (`needs`, weakseg.methods),
    by name, each a list over `scenes`: {"geometry": [pre/geometry/<scene>.h5, ...], "previous":
    [the previous round's refined labels, ...] (training jobs, from round 2 on)}. `frames` needs
    no file: the job reads the scene with its frames. (A pseudo-label job does not get the
    previous round's labels: its own round's model learnt from them, and the per-scene edge would
    tie each scene's jobs of two rounds into one SLURM group.)"""
    out = {}
    for need in method_meta(exp)["needs"]:
        if need in ("geometry", "projections"):
            out[need] = [f"{R}/pre/{need}/{s}.h5" for s in scenes]
        elif need == "previous" and training and int(round) > 1:
            out[need] = [refined_group(exp, int(round) - 1, s) for s in scenes]
    return out


def warm_start_model(exp, round):
    """{"init": [the previous round's model file]} for a round that starts from it (`warm_start`)."""
    if int(round) > 1 and rounds(EXPERIMENTS[exp])[int(round) - 1].get("warm_start"):
        return {"init": [f"{R}/{exp}/stage1/round{int(round) - 1}/model.pt"]}
    return {}


def need_args(inputs):
    """`--geometry A B --previous C D`: the job's arguments for `method_inputs`' files (and
    `warm_start_model`'s)."""
    return " ".join(f"--{need} " + " ".join(shlex.quote(p) for p in paths) for need, paths in inputs.items())


def pre_files(exp, scene):
    """The per-scene caches the experiment's refiners declare they need (`needs`, weakseg.refine),
    by name: {"geometry": ".../pre/geometry/<scene>.h5"}; each is passed as `--<name> PATH`.
    (`features` come with the pseudo labels themselves.)"""
    needs = sorted({n for spec in EXPERIMENTS[exp]["refiners"] for n in REFINERS.metadata(spec["name"])["needs"]} - {"features"})
    return {need: f"{R}/pre/{need}/{scene}.h5" for need in needs}


def stage2_settings(exp):
    return {"seed": config["seed"], "device": config["device"], **config["stage2"], **EXPERIMENTS[exp].get("stage2", {})}


def scene_files(split):
    return expand(f"{R}/scenes/{{scene}}.h5", scene=SCENES[split])


def weak_files(exp, split):
    return expand(f"{R}/{exp}/weak/{{scene}}.json", scene=SCENES[split])


def label_groups(exp, stage, split):
    """The label groups `stage` wrote for the split's scenes: stage two's predictions, a round's
    pseudo or refined labels (training split), or a round's own predictions (validation split,
    methods that `predicts`). `stage`: stage2, stage1_round<r> or refined_round<r>."""
    if stage == "stage2":
        return expand(f"{R}/{exp}/stage2/pred.zarr/{{scene}}", scene=SCENES[split])
    step, round = stage.split("_round")
    if split == "val":
        return expand(f"{R}/{exp}/stage1/round{round}/pred.zarr/{{scene}}", scene=SCENES[split])
    return expand(f"{R}/{exp}/{step}/round{round}/pseudo.zarr/{{scene}}", scene=SCENES[split])


def label_store(exp, stage, split):
    """What evaluating `stage` waits for: a one-job store (predictions) or the per-scene groups."""
    if stage == "stage2":
        return f"{R}/{exp}/stage2/pred.zarr"
    if split == "val":
        return f"{R}/{exp}/stage1/round{stage.split('_round')[1]}/pred.zarr"
    return label_groups(exp, stage, split)


def stage2_labels(w):
    """Stage two learns from the last round's refined pseudo labels, or from the ground truth (none given)."""
    if kind(w.exp) == FULL:
        return []
    return [refined_group(w.exp, num_rounds(w.exp), s) for s in SCENES["train"]]


def evaluated(exp):
    """The metrics files of an experiment: every round's pseudo and refined labels on the
    training split, the last round's own network on the validation split (methods that
    predict), and stage two on each split (unless `stage2: false`), for the splits that have
    ground truth."""
    if kind(exp) == FULL:
        pairs = [("stage2", "train"), ("stage2", "val")]
    else:
        n = num_rounds(exp)
        pairs = [(f"{step}_round{r}", "train") for r in range(1, n + 1) for step in ("stage1", "refined")]
        if method_meta(exp).get("predicts"):
            pairs.append((f"stage1_round{n}", "val"))
        if retrains(EXPERIMENTS[exp]):
            pairs += [("stage2", "train"), ("stage2", "val")]
    return [f"{R}/{exp}/metrics/{stage}_{split}.json" for stage, split in pairs if split in EVALUATED_SPLITS]


def plot_files(stem):
    """A figure of report.smk's `plots` rule, as PNG and SVG."""
    return [f"{R}/plots/{stem}.{ext}" for ext in ("png", "svg")]


# The figures across experiments; each experiment also gets confusion_<exp>.
FIGURES = ("miou_vs_cost", "per_class_iou", "rounds")


def figure(stem, caption, subcategory, **labels):
    """A figure's PNG and SVG, registered for the report."""
    return [report(path, caption=f"../report/{caption}.rst", category="Plots", subcategory=subcategory,
                   labels={**labels, "format": path.rsplit(".", 1)[1]}) for path in plot_files(stem)]


def export_labels(exp, scene):
    """The labels each stage gave one scene, {stage name: (what the job waits for, the scene's
    group)}, in pipeline order, the final labels last: on training scenes every round's pseudo
    and refined labels, on validation scenes the last round's predictions (methods that
    `predicts`), then stage two's predictions (experiments that retrain)."""
    out = {}
    if kind(exp) != FULL:
        n = num_rounds(exp)
        if SCENE_INFO[scene]["split"] == "train":
            for r in range(1, n + 1):
                for step in ("stage1", "refined"):
                    group = f"{R}/{exp}/{step}/round{r}/pseudo.zarr/{scene}"
                    out[f"{step}_round{r}"] = (group, group)
        elif method_meta(exp).get("predicts"):
            store = label_store(exp, f"stage1_round{n}", "val")
            out[f"stage1_round{n}"] = (store, f"{store}/{scene}")
    if retrains(EXPERIMENTS[exp]):
        store = label_store(exp, "stage2", "val")
        out["stage2"] = (store, f"{store}/{scene}")
    return out


def export_dirs():
    """The coloured PLYs of each experiment on each scene of `export.scenes` (report.smk), and
    their palette."""
    if not EXPORT_SCENES:
        return []
    return [f"{R}/export/legend.png"] + [f"{R}/export/{exp}/{scene}" for exp in EXPERIMENTS for scene in EXPORT_SCENES]


def final_outputs():
    """The summary and its plots when anything can be scored; else (no ground truth) every
    experiment's pseudo labels and predictions. The exports in either case."""
    if any(evaluated(exp) for exp in EXPERIMENTS):
        plots = [f for stem in [*FIGURES, *(f"confusion_{exp}" for exp in EXPERIMENTS)] for f in plot_files(stem)]
        return [f"{R}/summary.md", f"{R}/summary.csv", *plots, *export_dirs()]
    return [f"{R}/{exp}/stage2/pred.zarr" for exp in EXPERIMENTS if retrains(EXPERIMENTS[exp])] + \
        [refined_group(exp, num_rounds(exp), s) for exp in EXPERIMENTS if kind(exp) != FULL for s in SCENES["train"]] + \
        export_dirs()
