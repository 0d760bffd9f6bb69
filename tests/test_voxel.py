import numpy as np
import torch

from weakseg.models.sparse import SparseEncoder, parent_rows
from weakseg.voxel import voxelize


def test_points_in_one_voxel_share_it_and_average_their_features():
    coord = np.array([[0.01, 0.01, 0.01], [0.04, 0.02, 0.03], [0.31, 0.0, 0.0]], np.float32)
    feat = np.array([[1.0], [3.0], [5.0]], np.float32)
    b = voxelize([coord, coord], [feat, feat], 0.05)
    assert len(b.features) == 4 and b.batch_size == 2
    assert b.inverse[0] == b.inverse[1] != b.inverse[2]
    assert b.features[b.inverse[0], 0] == 2.0
    assert (b.indices[b.voxel_offsets[1]:, 0] == 1).all()  # second scene's voxels carry batch 1


def test_parent_rows_find_each_voxels_coarse_parent(rng):
    coord = rng.uniform(0, 2, (3000, 3)).astype(np.float32)
    batch = voxelize([coord, coord[:1000]], [np.ones((3000, 7), np.float32), np.ones((1000, 7), np.float32)], 0.05)
    fine, _, coarse = SparseEncoder(7, (8, 8, 8), 1, "cpu").eval()(batch)
    rows = parent_rows(fine, coarse, 4)
    expected = fine.indices.clone()
    expected[:, 1:] //= 4
    assert torch.equal(coarse.indices[rows], expected)
