"""The one trainer: seeds, batches, AdamW with a one-cycle schedule, hooks, per-epoch atomic
checkpoints, resume.

A learner has `model` and `loss(batch, rng)`, and may have (each optional):
- `batches(examples, batch_size, rng)`: the epoch's batches, lists of examples, as many as
  ceil(len(examples) / batch_size) (a method that pairs scenes chooses its own);
- hooks `before_epoch(epoch, examples, rng)`, `after_step(epoch, step)`, `after_epoch(epoch, history)`;
- `extra_state()` / `load_extra_state(state)`: the method's state beyond the model's weights
  (a memory bank, an EMA teacher, K-means centroids), a dict of tensors and plain values saved in
  every checkpoint and in the final model file.

Determinism: the shuffle and augmentation of epoch e come from `default_rng([seed, e])` and the
torch generator is reseeded per epoch, so a run resumed from the checkpoint of epoch e makes the
same updates as one that never stopped (bit-identical on CPU), the method's extra state included.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .io import atomic_path, settings_hash
from .voxel import augment, point_features, voxelize

log = logging.getLogger("weakseg")


@dataclass
class Example:
    """One training scene: its points and the method's target (tags, per-point labels, ...)."""

    scene_id: str
    coord: np.ndarray
    color: np.ndarray
    normal: np.ndarray
    target: np.ndarray


def to_voxels(examples, voxel_size, rng, elastic=()):
    """Voxelise a batch of examples; augment when `rng` is given (training), with the elastic
    distortions `elastic` ((granularity, magnitude) pairs, voxel.augment)."""
    coords, feats = [], []
    for e in examples:
        coord, normal, color = (e.coord, e.normal, e.color) if rng is None else augment(e.coord, e.normal, e.color, rng, elastic)
        coords.append(coord)
        feats.append(point_features(coord, color, normal))
    return voxelize(coords, feats, voxel_size)


def seed_everything(seed):
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def _hook(learner, name, *args):
    fn = getattr(learner, name, None)
    if fn is not None:
        fn(*args)


def _random_batches(examples, batch_size, rng):
    order = rng.permutation(len(examples))
    return [[examples[i] for i in order[s:s + batch_size]] for s in range(0, len(examples), batch_size)]


def fit(learner, examples, settings, checkpoint, desc="train"):
    """Train `learner.model` on `examples` with `learner.loss(batch, rng)` (hooks: module docstring).

    settings: epochs, batch_size, lr, weight_decay, seed. `checkpoint` is written after every
    epoch and resumed from when it was made with the same settings and examples.
    """
    model = learner.model
    epochs, batch_size, seed = settings["epochs"], settings["batch_size"], settings["seed"]
    steps_per_epoch = math.ceil(len(examples) / batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings["lr"], total_steps=max(1, epochs * steps_per_epoch), pct_start=0.1)
    # The parameters' names and shapes too: a checkpoint of another architecture is not resumed.
    layout = [(name, list(t.shape)) for name, t in model.state_dict().items()]
    fingerprint = settings_hash({"settings": settings, "scenes": [e.scene_id for e in examples], "model": layout})
    start = 0
    checkpoint = Path(checkpoint)
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            if state.get("extra") is not None:
                learner.load_extra_state(state["extra"])
            start = state["epoch"]
            log.info("resuming %s from %s at epoch %d/%d", desc, checkpoint, start, epochs)
        else:
            log.info("ignoring %s: made with other settings", checkpoint)
    batches = getattr(learner, "batches", _random_batches)
    history = []
    bar = tqdm(range(start, epochs), desc=desc, initial=start, total=epochs, mininterval=5, disable=None)
    for epoch in bar:
        rng = np.random.default_rng([seed, epoch])
        torch.manual_seed(seed * 100003 + epoch)
        model.train()
        _hook(learner, "before_epoch", epoch, examples, rng)
        plan = batches(examples, batch_size, rng)
        if len(plan) != steps_per_epoch:  # the schedule was laid out for that many steps
            raise ValueError(f"{desc}: {len(plan)} batches in epoch {epoch + 1}, the schedule has {steps_per_epoch}")
        losses, t0 = [], time.perf_counter()
        for step, batch in enumerate(plan):
            loss = learner.loss(batch, rng)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            _hook(learner, "after_step", epoch, step)
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": time.perf_counter() - t0})
        _hook(learner, "after_epoch", epoch, history)
        bar.set_postfix(loss=f"{history[-1]['loss']:.4f}")
        log.info("%s epoch %d/%d loss %.4f (%.1f s)", desc, epoch + 1, epochs, history[-1]["loss"], history[-1]["seconds"])
        save_checkpoint(checkpoint, {
            "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "extra": extra_state(learner), "epoch": epoch + 1, "fingerprint": fingerprint,
        })
    return history


def extra_state(learner):
    """The learner's state beyond its model's weights (`extra_state()`), or None."""
    fn = getattr(learner, "extra_state", None)
    return None if fn is None else fn()


def save_checkpoint(path, state):
    with atomic_path(path, ".pt") as tmp:
        torch.save(state, tmp)


def save_model(path, learner, history):
    """The trained model file: weights, the method's extra state and the training history."""
    save_checkpoint(path, {"model": learner.model.state_dict(), "extra": extra_state(learner), "history": json.dumps(history)})


def load_model(path, learner):
    """Load a model file written by `save_model` into `learner` (its weights and extra state)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    learner.model.load_state_dict(state["model"])
    if state.get("extra") is not None:
        learner.load_extra_state(state["extra"])
    return state
