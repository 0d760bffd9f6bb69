"""The relation network's training signal in One Thing One Click (Liu et al., "One Thing One
Click: A Self-Training Approach for Weakly Supervised 3D Semantic Segmentation", CVPR 2021,
Sec. 3.3): a memory bank of one prototype ("key") per class, updated by momentum (Eq. 7); the
contrastive loss of supervoxel embeddings ("queries") against it (Eq. 6), on a class-balanced
sample of supervoxels; and supervoxel mean pooling (as Eq. 2).

Embeddings are L2-normalised here, by every function that takes them (`MemoryBank.logits`,
`MemoryBank.update`, `contrastive_loss`, `relation_probabilities`), so callers pass the network's
raw (pooled) output and the dot products of Eq. 6 are cosines, as the temperature assumes.
Torch only: no spconv.
"""

import numpy as np
import torch
import torch.nn.functional as F


class MemoryBank:
    """One unit-length key per class, `keys` (C, D), initialised to random unit vectors drawn from
    a torch.Generator seeded with `seed`; never part of the autograd graph."""

    def __init__(self, num_classes, dim, momentum=0.9, seed=0):
        generator = torch.Generator().manual_seed(seed)
        self.keys = F.normalize(torch.randn(num_classes, dim, generator=generator), dim=1)
        self.momentum = momentum

    def to(self, device):
        self.keys = self.keys.to(device)
        return self

    def logits(self, embeddings, temperature=0.07):
        """(M, C) f_j . k_c / tau (Eq. 6), f_j the L2-normalised embeddings (M, D)."""
        f = F.normalize(embeddings, dim=1)
        return f @ self.keys.to(f).T / temperature

    @torch.no_grad()
    def update(self, embeddings, labels):
        """Eq. 7 for each class present in `labels` (M,) (-1 ignored): k_c <- m k_c + (1 - m) mean of
        the class's L2-normalised embeddings, then k_c renormalised to unit length (MoCo-style:
        a slowly moving prototype, no gradient). Other classes' keys stay as they are."""
        labels = torch.as_tensor(labels, device=self.keys.device).long()
        f = F.normalize(embeddings.detach().to(self.keys), dim=1)
        valid = labels >= 0
        f, labels = f[valid], labels[valid]
        c = len(self.keys)
        total = torch.zeros_like(self.keys).index_add_(0, labels, f)
        count = torch.bincount(labels, minlength=c)
        present = count > 0
        mean = total[present] / count[present, None]
        moved = self.momentum * self.keys[present] + (1 - self.momentum) * mean
        self.keys[present] = F.normalize(moved, dim=1)

    def state_dict(self):
        return {"keys": self.keys.detach().cpu().clone()}

    def load_state_dict(self, state):
        keys = state["keys"]
        if keys.shape != self.keys.shape:
            raise ValueError(f"memory bank keys are {tuple(keys.shape)}, expected {tuple(self.keys.shape)}")
        self.keys = keys.detach().clone().to(self.keys)


def balanced_sample(labels, per_class, generator):
    """Indices of up to `per_class` items of each class present in `labels` (-1: unlabelled,
    never drawn), drawn at random without replacement with the numpy Generator `generator`: the
    paper's "same number of training samples s per category in every forward pass" (Sec. 3.3).

    A class with fewer than `per_class` items gives all of them, each once: repeating a few
    supervoxels would weigh each of them more, not add information, and the cap alone already
    keeps frequent classes from swamping rare ones. Grouped by class (ascending), in random order
    within a class. `labels` a numpy array or a torch tensor; the indices come back as the same
    kind (int64; a tensor on the labels' device)."""
    as_tensor = isinstance(labels, torch.Tensor)
    y = labels.detach().cpu().numpy() if as_tensor else np.asarray(labels)
    y = y.astype(np.int64).ravel()
    candidates = generator.permutation(np.flatnonzero(y >= 0))
    order = candidates[np.argsort(y[candidates], kind="stable")]  # by class, random within one
    cls = y[order]
    first = np.r_[0, np.flatnonzero(np.diff(cls)) + 1]  # where each class starts in `order`
    rank = np.arange(len(order)) - np.repeat(first, np.diff(np.r_[first, len(order)]))
    picked = order[rank < per_class]
    return torch.from_numpy(picked).to(labels.device) if as_tensor else picked


def contrastive_loss(embeddings, labels, bank, temperature=0.07):
    """Eq. 6: the mean over the given (already sampled) embeddings of the cross-entropy of the
    C-way softmax of `bank.logits` at their class (the paper: "equivalent to a c-way softmax
    classification task"). Labels -1 are ignored; with none labelled, 0 (still differentiable)."""
    labels = torch.as_tensor(labels, device=embeddings.device).long()
    if not (labels >= 0).any():
        return embeddings.sum() * 0
    return F.cross_entropy(bank.logits(embeddings, temperature), labels, ignore_index=-1)


def relation_probabilities(embeddings, bank, temperature=0.07):
    """(M, C) softmax of `bank.logits`: the relation network's class probabilities, which the
    paper multiplies with the U-Net's."""
    return torch.softmax(bank.logits(embeddings, temperature), dim=1)


def supervoxel_mean(values, supervoxel, num_supervoxels):
    """(S, D) mean of `values` (N, D) over each supervoxel's points (`supervoxel` (N,) long ids
    0..S-1), as Eq. 2 pools predictions; differentiable; a supervoxel without points gives zeros."""
    supervoxel = supervoxel.long()
    total = values.new_zeros(num_supervoxels, values.shape[1]).index_add(0, supervoxel, values)
    count = torch.bincount(supervoxel, minlength=num_supervoxels).clamp(min=1)
    return total / count.to(values)[:, None]
