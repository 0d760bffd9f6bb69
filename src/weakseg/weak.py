"""Weak labels simulated from ground truth, with the annotation time they would cost."""

from __future__ import annotations

import numpy as np

from .classes import IGNORE

# Seconds of annotator time (MPRM and OTOC report about 15 s to list a scene's classes).
SCENE_TAG_SECONDS = 15.0
# Labelling every point of a ScanNet scene: 22.3 min (ScanNet's annotation statistics, via MPRM).
FULL_LABEL_SECONDS = 22.3 * 60


def scene_tags(scene):
    """The classes present in the scene's annotated points."""
    present = np.unique(scene.label[scene.label != IGNORE])
    return {
        "kind": "scene_tags",
        "scene_id": scene.scene_id,
        "tags": [int(c) for c in present],
        "tag_names": [scene.class_names[c] for c in present],
        "annotation_seconds": SCENE_TAG_SECONDS,
    }


SIMULATORS = {"scene_tags": scene_tags}
