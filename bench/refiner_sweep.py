"""Score refiner chains on pseudo labels a run already wrote, without rerunning the DAG.

    python bench/refiner_sweep.py RESULTS EXPERIMENT ROUND SCENES CHAINS_JSON

RESULTS is a run's results/<dataset>/ folder; the chains apply to EXPERIMENT's stage-one pseudo
labels of ROUND on the first SCENES training scenes (with their weak labels and geometry), and
each chain is scored against the ground truth as the DAG's evaluation does (mIoU and accuracy
over the labelled points, coverage). CHAINS_JSON is a list of chains, each a list of refiner
specs as config.yaml writes them; the first row is the pseudo labels themselves. Used to choose
among refiner settings on training scenes (never the validation split): docs/RESULTS.md.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from weakseg.io import read_geometry, read_json, read_labels, read_scene
from weakseg.metrics import confusion, scores
from weakseg.refine import REFINERS


def main(results, experiment, round_, count, chains):
    results = Path(results)
    store = results / f"{experiment}/stage1/round{round_}/pseudo.zarr"
    names = sorted(p.name for p in store.glob("*") if (p / "zarr.json").exists())[:count]
    data = [(read_scene(results / f"scenes/{s}.h5"), read_json(results / f"{experiment}/weak/{s}.json"),
             read_labels(store / s), read_geometry(results / f"pre/geometry/{s}.h5")) for s in names]
    classes = list(data[0][0].class_names)
    print(f"{len(names)} scenes of {store}")
    for chain in [[]] + chains:
        conf, annotated, t0 = 0, 0, time.perf_counter()
        for scene, weak, labels, geometry in data:
            prob = labels.prob
            for spec in chain:
                spec = dict(spec)
                name = spec.pop("name")
                given = {"geometry": geometry, "features": labels.features}
                prob = REFINERS.get(name)(**spec)(scene, weak, prob, **{n: given[n] for n in REFINERS.metadata(name)["needs"]})
            pred = prob.argmax(1)
            pred[prob.max(1) <= 0] = -1
            conf = conf + confusion(scene.label, pred, len(classes))
            annotated += int((scene.label >= 0).sum())
        r = scores(np.asarray(conf), classes, annotated)
        print(f"mIoU {100 * r['miou']:5.1f}  coverage {100 * r['coverage']:5.1f}  accuracy {100 * r['accuracy']:5.1f}"
              f"  {time.perf_counter() - t0:5.1f} s  {json.dumps(chain)}")


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5]))
