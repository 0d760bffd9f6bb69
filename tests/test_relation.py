"""The relation network's training signal (One Thing One Click, Eq. 6-7): memory bank, balanced
sampling, contrastive loss, relation probabilities and supervoxel mean pooling."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from weakseg.relation import (MemoryBank, balanced_sample, contrastive_loss, relation_probabilities,
                              supervoxel_mean)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tensors of a few numbers: a thread pool only adds hand-offs, slow on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


# --------------------------------------------------------------------------- memory bank
def test_keys_are_seeded_random_unit_vectors():
    bank = MemoryBank(5, 16, seed=3)
    assert bank.keys.shape == (5, 16) and bank.keys.dtype == torch.float32
    torch.testing.assert_close(bank.keys.norm(dim=1), torch.ones(5))
    assert torch.equal(bank.keys, MemoryBank(5, 16, seed=3).keys)
    assert not torch.equal(bank.keys, MemoryBank(5, 16, seed=4).keys)


def test_the_key_moves_toward_its_class_and_only_its_class():
    bank = MemoryBank(5, 16, momentum=0.8)
    others = bank.keys[[0, 1, 3, 4]].clone()
    e = unit(16, seed=1)
    cos = [float(bank.keys[2] @ e)]
    for _ in range(30):
        bank.update(e.repeat(4, 1) * 3, torch.tensor([2, 2, 2, -1]))  # scale: normalised; -1: ignored
        cos.append(float(bank.keys[2] @ e))
    assert (np.diff(cos[:15]) > 0).all() and (np.diff(cos) >= 0).all() and cos[-1] > 0.9999  # then at 1 in float32
    torch.testing.assert_close(bank.keys.norm(dim=1), torch.ones(5))
    assert torch.equal(bank.keys[[0, 1, 3, 4]], others)


def test_momentum_zero_takes_the_batch_mean_and_one_keeps_the_key():
    f = torch.randn(6, 8, generator=torch.Generator().manual_seed(2))
    labels = torch.tensor([1, 1, 1, 0, 0, -1])
    bank = MemoryBank(3, 8, momentum=0.0)
    bank.update(f, labels)
    torch.testing.assert_close(bank.keys[1], F.normalize(F.normalize(f[:3], dim=1).mean(0), dim=0))
    torch.testing.assert_close(bank.keys[0], F.normalize(F.normalize(f[3:5], dim=1).mean(0), dim=0))
    assert torch.equal(bank.keys[2], MemoryBank(3, 8).keys[2])  # no embedding of class 2
    bank = MemoryBank(3, 8, momentum=1.0)
    bank.update(f, labels)
    torch.testing.assert_close(bank.keys, MemoryBank(3, 8).keys)


def test_the_update_needs_no_gradient_and_leaves_the_graph_alone():
    f = torch.randn(4, 8, requires_grad=True)
    bank = MemoryBank(3, 8, momentum=0.5)
    bank.update(f, torch.tensor([0, 1, 1, 2]))
    assert not bank.keys.requires_grad and f.grad is None


def test_the_state_round_trips_bit_identically(tmp_path):
    bank = MemoryBank(4, 8, momentum=0.5, seed=1)
    bank.update(torch.randn(10, 8), torch.arange(10) % 4)
    torch.save(bank.state_dict(), tmp_path / "bank.pt")
    other = MemoryBank(4, 8, momentum=0.5, seed=2)
    other.load_state_dict(torch.load(tmp_path / "bank.pt", weights_only=True))
    assert torch.equal(other.keys, bank.keys)
    f = torch.randn(3, 8)
    assert torch.equal(other.logits(f), bank.logits(f))
    with pytest.raises(ValueError, match="memory bank keys"):
        MemoryBank(5, 8).load_state_dict(bank.state_dict())


# --------------------------------------------------------------------------- sampling
def test_balanced_sample_caps_each_class_and_skips_the_unlabelled():
    labels = np.r_[np.zeros(50), np.ones(5), np.full(30, 2), np.full(20, -1)].astype(np.int64)
    np.random.default_rng(0).shuffle(labels)
    idx = balanced_sample(labels, 20, np.random.default_rng(1))
    assert idx.dtype == np.int64 and len(np.unique(idx)) == len(idx)  # without replacement
    assert np.bincount(labels[idx], minlength=3).tolist() == [20, 5, 20]  # a small class: all of it
    assert (labels[idx] >= 0).all()
    np.testing.assert_array_equal(idx, balanced_sample(labels, 20, np.random.default_rng(1)))
    assert not np.array_equal(idx, balanced_sample(labels, 20, np.random.default_rng(2)))
    assert len(balanced_sample(np.full(4, -1), 20, np.random.default_rng(0))) == 0


def test_balanced_sample_of_a_tensor_gives_a_tensor():
    labels = torch.tensor([3, 3, 3, -1, 0])
    idx = balanced_sample(labels, 2, np.random.default_rng(0))
    assert isinstance(idx, torch.Tensor) and idx.dtype == torch.int64
    assert sorted(labels[idx].tolist()) == [0, 3, 3]


# --------------------------------------------------------------------------- loss and probabilities
def test_the_loss_is_the_softmax_cross_entropy_of_the_scaled_cosines():
    bank = MemoryBank(4, 8)
    f, labels = torch.randn(5, 8), torch.tensor([0, 1, 2, 3, 1])
    expected = F.cross_entropy(F.normalize(f, dim=1) @ bank.keys.T / 0.1, labels)
    torch.testing.assert_close(contrastive_loss(f, labels, bank, 0.1), expected)
    torch.testing.assert_close(contrastive_loss(f * 7, labels, bank, 0.1), expected)  # normalised here


def test_the_loss_falls_as_an_embedding_moves_toward_its_key():
    bank = MemoryBank(4, 8)
    start = unit(1, 8, seed=5)
    losses = []
    for t in np.linspace(0, 1, 11):
        f = ((1 - t) * start + t * bank.keys[2]).requires_grad_()
        loss = contrastive_loss(f, torch.tensor([2]), bank, 0.07)
        losses.append(float(loss.detach()))
    assert (np.diff(losses) < 0).all()
    loss.backward()
    assert f.grad is not None and torch.isfinite(f.grad).all()


def test_no_labelled_embedding_gives_zero_loss_with_a_gradient():
    f = torch.randn(3, 8, requires_grad=True)
    loss = contrastive_loss(f, torch.tensor([-1, -1, -1]), MemoryBank(4, 8))
    loss.backward()
    assert loss.detach().item() == 0 and (f.grad == 0).all()


def test_relation_probabilities_prefer_the_nearest_key():
    bank = MemoryBank(6, 8)
    f = bank.keys[[4, 1, 1]] + 0.05 * torch.randn(3, 8)
    p = relation_probabilities(f, bank, 0.07)
    torch.testing.assert_close(p.sum(1), torch.ones(3))
    assert p.argmax(1).tolist() == [4, 1, 1]


# --------------------------------------------------------------------------- pooling
def test_supervoxel_mean_pools_and_passes_the_gradient():
    values = torch.tensor([[1.0, 2.0], [3.0, 4.0], [10.0, 0.0], [5.0, 6.0]], requires_grad=True)
    supervoxel = torch.tensor([0, 0, 2, 0])
    mean = supervoxel_mean(values, supervoxel, 4)
    torch.testing.assert_close(mean, torch.tensor([[3.0, 4.0], [0.0, 0.0], [10.0, 0.0], [0.0, 0.0]]))
    mean[0].sum().backward()
    torch.testing.assert_close(values.grad, torch.tensor([[1 / 3] * 2, [1 / 3] * 2, [0.0, 0.0], [1 / 3] * 2]))
