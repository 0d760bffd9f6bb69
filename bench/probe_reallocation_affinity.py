"""Where DSP's intra-sample affinity looks: the share of its weight on a voxel's own class.

For finished DSP stage-one networks (each `--experiment`, its settings read from the run's
config files), on the first `--scenes` validation scenes seen without augmentation: the
self-affinity softmax_rows(F W_s F^T) at the reallocation level (within `intra_radius` where the
experiment sets one), each voxel labelled by the majority of its points' true classes. Prints
the mean weight a voxel puts on voxels of its own class, the same share for an affinity that
knows nothing (its class's share of the scene's voxels), and the effective number of keys
(exp of the attention's entropy). Reads the ground truth, which DSP never does; trains nothing:

    .venv/bin/python bench/probe_reallocation_affinity.py results/synthetic \
        --experiment dsp_1pct_isfr dsp_1pct_isfr_2m --configfile config.yaml configs/dsp.yaml
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from probe_tag_localisation import merged_config
from weakseg.classes import class_names
from weakseg.config import rounds
from weakseg.io import read_scene
from weakseg.methods import METHODS
from weakseg.methods.dsp import reallocate
from weakseg.models.sparse import parent_rows
from weakseg.train import load_model, to_voxels


@torch.no_grad()
def own_class_weight(method, scene, num_classes):
    """(mean weight on the own class, its share among the keys, effective keys) for one scene."""
    batch = to_voxels([scene], method.voxel_size, rng=None)
    skips = method.unet.encoder(batch)
    level = method.unet.decode(skips[-1], skips, 0, 1)
    rows = parent_rows(skips[0], level, 2 ** (len(skips) - 2))[batch.inverse].numpy()
    labelled = scene.label >= 0
    votes = np.zeros((len(level.features), num_classes))
    np.add.at(votes, (rows[labelled], scene.label[labelled]), 1)
    label = votes.argmax(1)
    allowed = None
    if method.intra_radius is not None:
        position = level.indices[:, 1:].float() * method.level_cell
        allowed = torch.cdist(position, position) <= method.intra_radius
    attention = reallocate(level.features, level.features, method.reallocation.intra, allowed)[1].numpy()
    same = label[:, None] == label[None, :]
    p = attention.clip(1e-12)
    return (attention * same).sum(1).mean(), same.mean(1).mean(), np.exp(-(p * np.log(p)).sum(1)).mean()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a run's results directory (results/<dataset name>)")
    parser.add_argument("--experiment", nargs="+", required=True)
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--configfile", nargs="+", default=["config.yaml"], help="the config files of the run, in order")
    a = parser.parse_args()
    config = merged_config(a.configfile)
    names = list(class_names(config["dataset"].get("label_set", "scannet20")))
    torch.set_num_threads(1)
    scenes = [s for s in map(read_scene, sorted((a.results / "scenes").glob("*.h5"))) if s.split == "val"][:a.scenes]
    for exp in a.experiment:
        settings = {"seed": config["seed"], "device": "cpu", **rounds(config["experiments"][exp])[0]}
        if settings["method"] != "dsp":
            parser.error(f"{exp} runs {settings['method']}: the probe reads dsp networks")
        method = METHODS.get("dsp")(len(names), settings, "cpu")
        load_model(a.results / exp / "stage1" / "round1" / "model.pt", method)
        method.model.eval()
        own, share, keys = np.mean([own_class_weight(method, s, len(names)) for s in scenes], axis=0)
        print(f"{exp}: weight on the own class {own:.2f} (its share of the voxels {share:.2f}), effective keys {keys:.0f}")


if __name__ == "__main__":
    main()
