"""What config.yaml asks for, checked before anything runs.

`validate` checks each value against the JSON schema (workflow/schemas/config.schema.yaml);
`check` checks what the schema cannot: that each method accepts its experiment's weak-label kind,
that each refiner exists, that the weak labels can be made (simulated from ground truth, or the
user's tags), and which splits can be scored. Pure Python, imported by the Snakefile at parse time.
"""

from __future__ import annotations

from .errors import WeaksegError
from .methods import METHODS
from .refine import REFINERS
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
        error = jsonschema.exceptions.best_match(errors)
        at = ".".join(map(str, error.absolute_path)) or "top level"
        # `not: {}` marks a key that does not apply in its context (a method's or a kind's own option)
        message = "this setting does not apply here" if error.validator == "not" and error.validator_value == {} else error.message
        raise WeaksegError(where, f"{at}: {message}")


def supervision(experiment):
    """An experiment's supervision as a dict with `kind` and the kind's options."""
    s = experiment["supervision"]
    return {"kind": s} if isinstance(s, str) else dict(s)


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
        for spec in exp.get("refiners", []):
            REFINERS.metadata(spec["name"], where)  # an unknown name fails here, not in a job
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
