"""`weakseg <step>`: one subcommand per DAG step. Rules call these; they hold no logic themselves.

Each step takes the settings of its stage as one JSON argument (`--settings`), so the rule's
params are exactly what the step sees, and Snakemake reruns a step when they change.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .errors import WeaksegError

log = logging.getLogger("weakseg")


def _settings(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"--settings is not JSON: {err}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--settings must be a JSON object")
    return value


def _setup_torch(threads, settings):
    import torch

    torch.set_num_threads(max(1, threads))
    from .train import seed_everything

    seed_everything(settings.get("seed", 0))
    want = settings.get("device", "auto")
    if want == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return want


def _scene_id(path):
    return Path(path).name.split(".")[0]


# --------------------------------------------------------------------------- steps
def cmd_scene(a):
    from .datasets import DATASETS
    from .io import write_scene

    settings = a.settings
    write_scene(a.out, DATASETS.get(settings["type"])(settings).load(a.scene))


def cmd_weak_labels(a):
    from .io import read_scene, write_json
    from .weak import given_tags, simulate

    scene = read_scene(a.scene)
    options = dict(a.settings)
    if "tags" in options:  # the user's own
        weak = given_tags(scene, options["tags"])
    else:
        weak = simulate(scene, options.pop("kind"), options.pop("seed", 0), **options)
    write_json(a.out, weak)


def _network_scene(path, settings, frames=False):
    """A scene read for a network: with the normals its settings give it (voxel.network_scene)."""
    from .io import read_scene
    from .voxel import network_scene

    return network_scene(read_scene(path, frames=frames), settings.get("input_normals", "signed"))


def _load_examples(make, scenes, second, settings):
    return [make(_network_scene(path, settings), other) for path, other in zip(scenes, second)]


def _inputs_digest(paths):
    """A hash of the files a training job learns from (directories: every file in them). It goes
    into the checkpoint's fingerprint, so that a checkpoint made from other data (the rule reran
    because its input changed) is not resumed."""
    import hashlib

    h = hashlib.sha256()
    for path in map(Path, paths):
        for f in sorted(q for q in path.rglob("*") if q.is_file()) if path.is_dir() else [path]:
            h.update(str(f.relative_to(path.parent)).encode() + b"\0")
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


# What a method's declared needs (weakseg.methods) are read from: the job's --<need> paths.
def _read_need(need, path, scene):
    from .io import read_labels, read_projections

    if need == "geometry":
        return _read_geometry_of(path, scene)
    if need == "projections":
        return read_projections(path)
    if need == "previous":
        if path is None:  # the first round
            return None
        labels = read_labels(path).label
        if len(labels) != scene.num_points:
            raise WeaksegError(path, f"{len(labels)} labels for a scene of {scene.num_points} points")
        return labels
    raise AssertionError(need)


def _need_paths(meta, a, count, one_scene=False):
    """Per scene of the job: {need: path} for the method's declared needs (besides `frames`,
    which is how the scene is read), from the job's `--<need>` options (lists, or one path in a
    one-scene job)."""
    lists = {}
    for need in meta["needs"]:
        if need == "frames":
            continue
        given = getattr(a, need)
        paths = ([given] if given else []) if one_scene else (given or [])
        if need == "previous" and not paths:  # the first round
            paths = [None] * count
        if len(paths) != count:
            raise WeaksegError(f"--{need}", f"method {a.settings['method']!r} needs the {need} of each of the "
                                            f"{count} scene(s); {len(paths)} given")
        lists[need] = paths
    return [{need: paths[i] for need, paths in lists.items()} for i in range(count)]


def _scene_and_needs(meta, path, need_paths, settings):
    scene = _network_scene(path, settings, frames="frames" in meta["needs"])
    return scene, {need: _read_need(need, p, scene) for need, p in need_paths.items()}


def _method(a, device):
    from .methods import METHODS

    meta = METHODS.metadata(a.settings["method"])
    return METHODS.get(a.settings["method"])(len(a.classes), a.settings, device), meta


def cmd_stage1_train(a):
    from .io import read_json
    from .train import fit, load_model, save_model

    device = _setup_torch(a.threads, a.settings)
    method, meta = _method(a, device)
    if len(a.weak) != len(a.scenes):
        raise WeaksegError("--weak", f"{len(a.weak)} weak-label files for {len(a.scenes)} scenes")
    examples = []
    for path, weak, need_paths in zip(a.scenes, a.weak, _need_paths(meta, a, len(a.scenes))):
        scene, needs = _scene_and_needs(meta, path, need_paths, a.settings)
        examples.append(method.example(scene, read_json(weak), **needs))
    if a.init:  # `warm_start`: the previous round's networks (and method state) are where this round starts
        try:
            load_model(a.init, method)
        except RuntimeError:  # load_state_dict: other parameter names or shapes
            raise WeaksegError(a.init, "this round cannot start from it: its networks differ from this round's "
                                       "(a setting that shapes them changed between rounds)") from None
    inputs = [*a.scenes, *a.weak, *(p for n in meta["needs"] if n != "frames" for p in getattr(a, n) or []), *filter(None, [a.init])]
    resumable = {**a.settings, "inputs": _inputs_digest(inputs)}
    history = fit(method, examples, resumable, Path(a.out).with_suffix(".ckpt"), desc="stage one")
    save_model(a.out, method, history)


def cmd_stage1_pseudo(a):
    from .io import read_json, write_labels
    from .train import load_model

    device = _setup_torch(a.threads, a.settings)
    method, meta = _method(a, device)
    load_model(a.model, method)
    (need_paths,) = _need_paths(meta, a, 1, one_scene=True)
    scene, needs = _scene_and_needs(meta, a.scene, need_paths, a.settings)
    result = method.pseudo_labels(scene, read_json(a.weak), **needs)
    prob, features = result if isinstance(result, tuple) else (result, None)
    write_labels(a.out, prob, attrs=_label_attrs(a, scene, a.settings["method"]), features=features)


def cmd_stage1_predict(a):
    """The method's own network on scenes without weak labels (the validation split)."""
    from .io import atomic_dir, write_labels
    from .train import load_model

    device = _setup_torch(a.threads, a.settings)
    method, _ = _method(a, device)
    load_model(a.model, method)
    with atomic_dir(a.out) as tmp:
        for path in a.scenes:
            scene = _network_scene(path, a.settings)
            write_labels(tmp / scene.scene_id, method.predict(scene), attrs=_label_attrs(a, scene, a.settings["method"]))


def _label_attrs(a, scene, method):
    from .io import settings_hash

    return {"method": method, "class_names": list(scene.class_names),
            "config_hash": settings_hash(a.settings), "scene_id": scene.scene_id}


def cmd_geometry(a):
    from .io import read_scene, write_geometry
    from .preprocess import geometry

    scene = read_scene(a.scene)
    write_geometry(a.out, geometry(scene, a.settings), attrs={"scene_id": scene.scene_id, "settings": a.settings})


def cmd_projections(a):
    from .io import read_scene, write_projections
    from .preprocess import projections

    scene = read_scene(a.scene, frames=True)
    write_projections(a.out, projections(scene, a.settings), attrs={"scene_id": scene.scene_id, "settings": a.settings})


def _read_geometry_of(path, scene):
    from .io import read_geometry

    g = read_geometry(path)
    if len(g["supervoxel"]) != scene.num_points:
        raise WeaksegError(path, f"geometry of {len(g['supervoxel'])} points for a scene of {scene.num_points}")
    return g


def cmd_refine(a):
    from .io import read_json, read_labels, read_scene, write_labels
    from .refine import REFINERS

    # the per-scene inputs given, by the names refiners declare in `needs` (weakseg.refine)
    given = {"geometry": a.geometry, "features": a.labels}
    chain = []
    for spec in a.settings["refiners"]:
        spec = dict(spec)
        name = spec.pop("name")
        needs = REFINERS.metadata(name)["needs"]
        for need in needs:
            if not given[need]:
                raise WeaksegError(f"--{need}", f"refiner {name!r} needs the scene's {need}; none given")
        try:
            chain.append((REFINERS.get(name)(**spec), needs))
        except TypeError as err:  # an option the refiner does not have (config.check refuses it first)
            raise WeaksegError("config.yaml", f"refiner {name!r}: {err}") from None
    scene = read_scene(a.scene)
    weak = read_json(a.weak)
    labels = read_labels(a.labels)
    prob = labels.prob
    inputs = {"geometry": _read_geometry_of(a.geometry, scene) if a.geometry else None, "features": labels.features}
    for refiner, needs in chain:
        prob = refiner(scene, weak, prob, **{need: inputs[need] for need in needs})
    names = "+".join(spec["name"] for spec in a.settings["refiners"])
    write_labels(a.out, prob, attrs=_label_attrs(a, scene, f"{a.settings['method']}+{names}" if names else a.settings["method"]))


def cmd_stage2_train(a):
    from .io import read_labels
    from .segmentation import Segmenter, soft_targets
    from .train import fit, save_model

    device = _setup_torch(a.threads, a.settings)
    seg = Segmenter(len(a.classes), a.settings, device)
    if a.labels and a.settings.get("soft_targets"):
        examples = _load_examples(seg.example, a.scenes, [soft_targets(read_labels(p).prob) for p in a.labels], a.settings)
    elif a.labels:
        examples = _load_examples(seg.example, a.scenes, [read_labels(p).label for p in a.labels], a.settings)
    else:  # fully supervised: the ground truth
        examples = _load_examples(lambda s, _: seg.example(s, s.label), a.scenes, [None] * len(a.scenes), a.settings)
    seg.balance(examples)
    resumable = {**a.settings, "inputs": _inputs_digest([*a.scenes, *(a.labels or [])])}
    history = fit(seg, examples, resumable, Path(a.out).with_suffix(".ckpt"), desc="stage two")
    save_model(a.out, seg, history)


def cmd_predict(a):
    from .io import atomic_dir, write_labels
    from .segmentation import Segmenter
    from .train import load_model

    device = _setup_torch(a.threads, a.settings)
    seg = Segmenter(len(a.classes), a.settings, device)
    load_model(a.model, seg)
    with atomic_dir(a.out) as tmp:
        for path in a.scenes:
            scene = _network_scene(path, a.settings)
            write_labels(tmp / scene.scene_id, seg.predict(scene), attrs=_label_attrs(a, scene, "stage2"))


def cmd_evaluate(a):
    import numpy as np

    from .io import read_json, read_labels, read_scene, write_json
    from .metrics import confusion, scores
    from .weak import FULL_LABEL_SECONDS

    if len(a.scenes) != len(a.labels):
        raise WeaksegError(a.out, f"{len(a.scenes)} scenes but {len(a.labels)} label groups")
    conf, annotated = 0, 0
    for scene_path, label_path in zip(a.scenes, a.labels):
        scene = read_scene(scene_path)
        pred = read_labels(label_path).label
        if len(pred) != scene.num_points:
            raise WeaksegError(label_path, f"{len(pred)} labels for a scene of {scene.num_points} points")
        conf = conf + confusion(scene.label, pred, len(a.classes))
        annotated += int((scene.label >= 0).sum())
    result = scores(np.asarray(conf), a.classes, annotated)
    seconds = [read_json(p)["annotation_seconds"] for p in a.weak] if a.weak else [FULL_LABEL_SECONDS]
    stage, _, round_ = a.stage.partition("_round")  # stage1_round2: round 2's stage-one labels
    result.update(stage=stage, round=int(round_) if round_ else None, split=a.split, scenes=len(a.scenes), experiment=a.experiment,
                  supervision=a.supervision, method=a.method, annotation_seconds=float(np.mean(seconds)))
    write_json(a.out, result)


def cmd_summary(a):
    from .summary import write_summary

    write_summary(a.metrics, a.out_md, a.out_csv)


def cmd_plots(a):
    from .plots import write_plots

    write_plots(a.summary, a.metrics, a.out_dir)


def cmd_legend(a):
    from .plots import write_legend

    write_legend(a.classes, a.out)


def _named(text):
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, path


def cmd_export(a):
    from .export import export_scene
    from .io import read_labels, read_scene

    scene = read_scene(a.scene)
    labels = {name: read_labels(path).label for name, path in a.labels}
    export_scene(scene, labels, a.final, a.out, where=a.scene)


# --------------------------------------------------------------------------- parser
def build_parser():
    p = argparse.ArgumentParser(prog="weakseg", description="Weakly supervised 3D segmentation steps (run by the Snakemake DAG).")
    sub = p.add_subparsers(dest="step", required=True)

    def step(name, fn, help):
        s = sub.add_parser(name, help=help)
        s.set_defaults(fn=fn)
        s.add_argument("--out", required=True)
        return s

    def learner(s):
        s.add_argument("--settings", type=_settings, required=True)
        s.add_argument("--classes", type=lambda t: tuple(json.loads(t)), required=True, help="class names, JSON list")
        s.add_argument("--threads", type=int, default=1)

    s = step("scene", cmd_scene, "convert (or generate) one scene of the dataset")
    s.add_argument("--scene", required=True, help="scene id")
    s.add_argument("--settings", type=_settings, required=True, help="the config's dataset section")

    s = step("weak-labels", cmd_weak_labels, "one scene's weak labels: simulated from ground truth, or the user's tags")
    s.add_argument("--scene", required=True)
    s.add_argument("--settings", type=_settings, required=True, help="kind, seed and options; or the user's tags")

    def method_needs(s, many):
        # the method's declared needs (weakseg.methods), one path per scene of the job
        for need, what in (("geometry", "geometry file"), ("projections", "projections file"),
                           ("previous", "previous round's refined label group")):
            if many:
                s.add_argument(f"--{need}", nargs="*", default=[], help=f"each scene's {what}, for a method that needs it")
            else:
                s.add_argument(f"--{need}", help=f"the scene's {what}, for a method that needs it")

    s = step("stage1-train", cmd_stage1_train, "train a stage-one method on weak labels")
    learner(s)
    s.add_argument("--scenes", nargs="+", required=True)
    s.add_argument("--weak", nargs="+", required=True)
    method_needs(s, many=True)
    s.add_argument("--init", help="a model file to start from (the previous round's, with warm_start)")

    s = step("stage1-pseudo", cmd_stage1_pseudo, "write one scene's stage-one pseudo labels")
    learner(s)
    s.add_argument("--model", required=True)
    s.add_argument("--scene", required=True)
    s.add_argument("--weak", required=True)
    method_needs(s, many=False)

    s = step("stage1-predict", cmd_stage1_predict, "segment scenes with a stage-one method's own network (one store)")
    learner(s)
    s.add_argument("--model", required=True)
    s.add_argument("--scenes", nargs="+", required=True)

    s = step("geometry", cmd_geometry, "one scene's supervoxels, supervoxel graph and PFH (HDF5)")
    s.add_argument("--settings", type=_settings, required=True, help="the config's preprocess.geometry section")
    s.add_argument("--scene", required=True)

    s = step("projections", cmd_projections, "one scene's point-pixel pairs in its RGB-D frames (HDF5)")
    s.add_argument("--settings", type=_settings, required=True, help="the config's preprocess.projections section")
    s.add_argument("--scene", required=True)

    s = step("refine", cmd_refine, "refine one scene's pseudo labels")
    s.add_argument("--settings", type=_settings, required=True)
    s.add_argument("--scene", required=True)
    s.add_argument("--weak", required=True)
    s.add_argument("--labels", required=True)
    s.add_argument("--geometry", help="the scene's geometry, for refiners that need it")

    s = step("stage2-train", cmd_stage2_train, "train the segmentation network")
    learner(s)
    s.add_argument("--scenes", nargs="+", required=True)
    s.add_argument("--labels", nargs="*", default=[], help="pseudo-label groups; none = ground truth")

    s = step("predict", cmd_predict, "predict scenes with the segmentation network into one store")
    learner(s)
    s.add_argument("--model", required=True)
    s.add_argument("--scenes", nargs="+", required=True)

    s = step("evaluate", cmd_evaluate, "score label groups against the scenes' ground truth")
    s.add_argument("--classes", type=lambda t: tuple(json.loads(t)), required=True)
    s.add_argument("--scenes", nargs="+", required=True)
    s.add_argument("--labels", nargs="+", required=True)
    s.add_argument("--stage", required=True, help="stage2, or stage1_round<r> / refined_round<r>")
    s.add_argument("--split", required=True)
    s.add_argument("--experiment", required=True)
    s.add_argument("--supervision", required=True)
    s.add_argument("--method", default="", help="the stage-one method that made the labels (none: the bound)")
    s.add_argument("--weak", nargs="*", default=[], help="weak-label files (annotation time); none = full labels")

    s = sub.add_parser("summary", help="one table across stages and experiments")
    s.set_defaults(fn=cmd_summary)
    s.add_argument("--metrics", nargs="+", required=True)
    s.add_argument("--out-md", required=True)
    s.add_argument("--out-csv", required=True)

    s = sub.add_parser("plots", help="figures of the summary and the confusion matrices (PNG and SVG)")
    s.set_defaults(fn=cmd_plots)
    s.add_argument("--summary", required=True, help="the summary CSV")
    s.add_argument("--metrics", nargs="+", required=True, help="metrics files, among them each experiment's final one")
    s.add_argument("--out-dir", required=True)

    s = step("legend", cmd_legend, "the export palette as a PNG")
    s.add_argument("--classes", type=lambda t: tuple(json.loads(t)), required=True, help="class names, JSON list")

    s = step("export", cmd_export, "one scene's input, ground truth, labels and errors as coloured PLYs (a folder)")
    s.add_argument("--scene", required=True)
    s.add_argument("--labels", nargs="*", type=_named, default=[], metavar="STAGE=GROUP",
                   help="label groups by stage name, in pipeline order")
    s.add_argument("--final", help="the stage whose labels error.ply scores")
    return p


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        args.fn(args)
    except WeaksegError as err:
        print(f"weakseg {args.step}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
