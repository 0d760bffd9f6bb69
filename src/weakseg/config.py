"""What config.yaml asks for, checked before anything runs.

`validate` checks each value against the JSON schema (workflow/schemas/config.schema.yaml);
`check` checks what the schema cannot: that each method accepts its experiment's weak-label kind,
that each method and refiner exists and takes the options given (declared in their registries),
that the rounds can run, that the weak labels can be made (simulated from ground truth, or the
user's tags), and which splits can be scored. Pure Python, imported by the Snakefile at parse time.
"""

from __future__ import annotations

from .errors import WeaksegError
from .methods import METHODS, TRAINING_KEYS
from .refine import REFINERS
from .registry import check_options
from .weak import SIMULATORS

FULL = "full"  # supervision by the ground truth itself: the upper bound


def validate(config, schema_path, where="config.yaml"):
    """Raise WeaksegError naming the first problem (the most relevant one, by jsonschema's
    best_match) with its place in the config, e.g. `stage2.epochs: -3 is less than the minimum of 1`."""
    import jsonschema
    import yaml

    with open(schema_path) as f:
        schema = yaml.safe_load(f)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(config))
    # A wrong value inside an allOf also leaves its keys "unevaluated": report the value, not that.
    errors = [e for e in errors if e.validator != "unevaluatedProperties"] or errors
    if errors:
        error = _meant(errors)
        at = ".".join(map(str, error.absolute_path)) or "top level"
        # `not: {}` marks a key that does not apply in its context (a method's or a kind's own option)
        if error.validator == "not" and error.validator_value == {}:
            message = "this setting does not apply here"
        elif error.validator in ("oneOf", "anyOf") and error.context and all(e.validator == "required" for e in error.context):
            message = "needs one of " + ", ".join(f"`{k}`" for e in error.context for k in e.validator_value if k not in error.instance)
        else:
            message = error.message
        raise WeaksegError(where, f"{at}: {message}")


def _meant(errors):
    """The error to report: jsonschema's best match, except that for a value that fits none of a
    oneOf's branches it names what is wrong inside the branch the value was meant for (a mapping's
    misspelt key, a name's spelling), not its mismatch with the others (`false` expected)."""
    import jsonschema

    error = max(errors, key=jsonschema.exceptions.relevance)
    while error.validator in ("oneOf", "anyOf") and error.context:
        mismatch = [e for e in error.context if not e.relative_path and e.validator in ("const", "type", "enum")]
        if isinstance(error.instance, dict):
            inner = [e for e in error.context if e not in mismatch]
        else:
            inner = [e for e in mismatch if e.validator == "enum"]
        if not inner or all(e.validator == "required" for e in inner):  # alternatives: name them all
            break
        # as at the top: a wrong value inside an allOf also leaves its key "unevaluated"
        inner = [e for e in inner if e.validator != "unevaluatedProperties"] or inner
        error = max(inner, key=jsonschema.exceptions.relevance)
    return jsonschema.exceptions.best_match([error])


def supervision(experiment):
    """An experiment's supervision as a dict with `kind` and the kind's options."""
    s = experiment["supervision"]
    return {"kind": s} if isinstance(s, str) else dict(s)


def rounds(experiment):
    """The stage-one settings of each self-training round, first to last: `rounds: N` repeats
    `stage1`; a list of mappings gives one round each, each overriding keys of `stage1`."""
    given = experiment.get("rounds", 1)
    overrides = [{}] * given if isinstance(given, int) else given
    return [{**experiment["stage1"], **o} for o in overrides]


def retrains(experiment):
    """Whether the experiment has a stage two (dense retraining); `stage2: false` leaves it out."""
    return experiment.get("stage2", {}) is not False


def enabled_experiments(config):
    return {name: exp for name, exp in config["experiments"].items() if exp.get("enabled", True)}


def check(config, scenes, user_tags=None, where="config.yaml"):
    """Raise WeaksegError for a config that cannot run on these scenes (see `scenes()` of a
    dataset type); return the splits that can be evaluated (every scene of them labelled)."""
    experiments = enabled_experiments(config)
    if not experiments:
        raise WeaksegError(where, "every experiment is disabled (enabled: false); nothing to run")
    train = [s for s, info in scenes.items() if info["split"] == "train"]
    if not train:
        raise WeaksegError(where, "the dataset has no training scenes")
    unlabelled = sorted(s for s in train if not scenes[s]["labelled"])
    for name, exp in experiments.items():
        kind = supervision(exp)["kind"]
        if kind == FULL:
            if unlabelled:
                raise WeaksegError(where, f"experiment {name!r}: full supervision needs ground truth, "
                                          f"and {len(unlabelled)} training scene(s) have none (e.g. {unlabelled[0]})")
            continue
        if kind not in SIMULATORS:
            raise WeaksegError(where, f"experiment {name!r}: unknown weak-label kind {kind!r}; known: {', '.join(SIMULATORS)}")
        method = exp["stage1"]["method"]
        accepts = METHODS.metadata(method, where)["accepts"]
        if kind not in accepts:
            raise WeaksegError(where, f"experiment {name!r}: method {method!r} cannot learn from {kind!r} "
                                      f"(it accepts {', '.join(sorted(accepts))})")
        _check_stage1(name, exp, where)
        for i, spec in enumerate(exp.get("refiners", [])):  # an unknown name or option fails here, not in a job
            check_options(spec, REFINERS.metadata(spec["name"], where)["options"], ("name",),
                          f"experiments.{name}.refiners[{i}]", f"refiner {spec['name']!r}", where)
        given = user_tags or {}
        missing = [s for s in unlabelled if s not in given]
        if kind != "scene_tags" and unlabelled:
            raise WeaksegError(where, f"experiment {name!r}: {kind!r} is simulated from ground truth, and "
                                      f"{len(unlabelled)} training scene(s) have none (e.g. {unlabelled[0]})")
        if missing:
            raise WeaksegError(where, f"experiment {name!r}: scene {missing[0]!r} has neither ground truth "
                                      "nor tags in the dataset's tags_csv")
    return [split for split in ("train", "val")
            if any(info["split"] == split for info in scenes.values())
            and all(info["labelled"] for info in scenes.values() if info["split"] == split)]


def _check_stage1(name, exp, where):
    method = exp["stage1"]["method"]
    meta = METHODS.metadata(method, where)
    check_options(exp["stage1"], meta["options"], TRAINING_KEYS, f"experiments.{name}.stage1", f"method {method!r}", where)
    given = exp.get("rounds", 1)
    if isinstance(given, list):
        for i, override in enumerate(given):
            at = f"experiments.{name}.rounds[{i}]"
            if "method" in override:
                raise WeaksegError(where, f"{at}: every round trains the experiment's method; 'method' cannot change")
            check_options(override, meta["options"], TRAINING_KEYS, at, f"method {method!r}", where)
    if exp.get("stage2", {}) is False and not meta.get("predicts"):
        raise WeaksegError(where, f"experiment {name!r}: method {method!r} cannot segment a scene on its own, "
                                  "so its final model is stage two (stage2: false is not possible)")
    if any(r.get("warm_start") for r in rounds(exp)) and "previous" not in meta["needs"]:
        raise WeaksegError(where, f"experiment {name!r}: warm_start continues the previous round's networks, and "
                                  f"method {method!r} runs one round")
    if len(rounds(exp)) > 1 and "previous" not in meta["needs"]:
        raise WeaksegError(where, f"experiment {name!r}: method {method!r} does not learn from a previous round's "
                                  "labels, so it runs one round (rounds: 1)")


def export_scenes(config, scenes, where="config.yaml"):
    """The scenes to export as coloured PLYs (`export.scenes`), each checked against the dataset's
    listing (`scenes()` of a dataset type). Not given: the first two validation scenes, or the
    first two training scenes of a dataset without a validation split."""
    given = (config.get("export") or {}).get("scenes")
    by_split = {split: sorted(s for s, info in scenes.items() if info["split"] == split) for split in ("val", "train")}
    if given is None:
        return (by_split["val"] or by_split["train"])[:2]
    for scene in given:
        if scene not in scenes:
            examples = (by_split["val"] + by_split["train"])[:3]
            raise WeaksegError(where, f"export.scenes: {scene!r} is not a scene of the dataset "
                                      f"(it has {len(scenes)}, e.g. {', '.join(examples)})")
    return list(given)
