import numpy as np
import torch

from weakseg.models.sparse import SparseEncoder, parent_rows
from weakseg.voxel import voxelize

from conftest import make_scene


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
    fine, _, coarse = SparseEncoder(7, (8, 8, 8), 1, "cpu", norm="scene").eval()(batch)
    rows = parent_rows(fine, coarse, 4)
    expected = fine.indices.clone()
    expected[:, 1:] //= 4
    assert torch.equal(coarse.indices[rows], expected)


def test_scene_norm_gives_each_scene_of_a_batch_zero_mean_and_unit_variance(rng):
    import spconv.pytorch as spconv

    from weakseg.models.sparse import SceneNorm

    coord = rng.uniform(0, 2, (3000, 3)).astype(np.float32)
    b = voxelize([coord, coord[:1000]], [rng.normal(0, 1, (3000, 3)).astype(np.float32),
                                         rng.normal(5, 3, (1000, 3)).astype(np.float32)], 0.1)
    out = SceneNorm(3)(spconv.SparseConvTensor(b.features, b.indices, b.spatial_shape, b.batch_size))
    for scene in (0, 1):
        f = out.features[out.indices[:, 0] == scene]
        torch.testing.assert_close(f.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
        torch.testing.assert_close(f.var(0, unbiased=False), torch.ones(3), atol=1e-4, rtol=0)


def test_the_unet_segments_a_scene_the_same_alone_batched_training_or_inference(rng):
    # Scenes of very different colour statistics: batched, each is normalised over its own voxels
    # as when alone, and eval() changes nothing (no running averages to drift from training).
    from weakseg.models.sparse import SparseUNet

    def scene(n, shift):
        return rng.uniform(0, 2, (n, 3)).astype(np.float32), rng.normal(shift, 1.0, (n, 7)).astype(np.float32)

    (ca, fa), (cb, fb) = scene(2000, 0.0), scene(1500, 5.0)
    torch.manual_seed(0)
    net = SparseUNet(7, 4, (8, 16), 1, "cpu")
    both = voxelize([ca, cb], [fa, fb], 0.1)
    with torch.no_grad():
        out_train = net.train()(both)
        out_eval = net.eval()(both)
        alone = net(voxelize([cb], [fb], 0.1))
    torch.testing.assert_close(out_train, out_eval)
    torch.testing.assert_close(out_eval[both.voxel_offsets[1]:], alone, rtol=1e-4, atol=1e-4)


def test_segmentation_loss_is_the_class_weighted_cross_entropy_of_the_labelled_points(rng):
    # Computed per voxel from its points' class counts: the same number as over the points.
    import torch.nn.functional as F

    from weakseg.segmentation import Segmenter
    from weakseg.train import Example, to_voxels

    coord = rng.uniform(0, 2, (4000, 3)).astype(np.float32)
    labels = rng.integers(-1, 5, 4000)  # -1: unlabelled, not in the loss
    example = Example("s", coord, rng.integers(0, 255, (4000, 3)).astype(np.uint8), np.zeros((4000, 3), np.float32), labels)
    torch.manual_seed(0)
    seg = Segmenter(5, {"voxel_size": 0.2, "channels": (8, 16), "blocks": 1, "class_balance": 0.5}, "cpu")
    seg.balance([example])
    loss = seg.loss([example], np.random.default_rng(1))
    batch = to_voxels([example], 0.2, np.random.default_rng(1))  # the same augmentation
    expected = F.cross_entropy(seg.model(batch)[batch.inverse], torch.from_numpy(labels), weight=seg.class_weights, ignore_index=-1)
    torch.testing.assert_close(loss, expected)


def test_soft_targets_give_the_points_soft_cross_entropy_and_one_hot_ones_the_hard_loss(rng):
    # Stage two's `soft_targets`: each point's target is a class distribution; rows of zeros
    # (no label) do not count; a one-hot row is the same as its class id.
    from weakseg.segmentation import Segmenter, soft_targets
    from weakseg.train import Example, to_voxels

    coord = rng.uniform(0, 2, (4000, 3)).astype(np.float32)
    labels = rng.integers(-1, 5, 4000)
    prob = rng.dirichlet(np.ones(5), 4000).astype(np.float32) * 3  # unnormalised scores
    prob[labels < 0] = 0
    target = soft_targets(prob)
    color, normal = rng.integers(0, 255, (4000, 3)).astype(np.uint8), np.zeros((4000, 3), np.float32)
    soft, hard = Example("s", coord, color, normal, target), Example("s", coord, color, normal, labels)
    one_hot = Example("s", coord, color, normal, np.where(labels[:, None] >= 0, np.eye(5, dtype=np.float32)[labels], 0))
    torch.manual_seed(0)
    seg = Segmenter(5, {"voxel_size": 0.2, "channels": (8, 16), "blocks": 1, "class_balance": 0.5}, "cpu")
    seg.balance([soft])
    weights = seg.class_weights
    batch = to_voxels([soft], 0.2, np.random.default_rng(1))
    log_p = torch.log_softmax(seg.model(batch)[batch.inverse], 1)
    q = torch.from_numpy(target) * weights
    torch.testing.assert_close(seg.loss([soft], np.random.default_rng(1)), -(q * log_p).sum() / q.sum())
    torch.testing.assert_close(seg.loss([one_hot], np.random.default_rng(1)), seg.loss([hard], np.random.default_rng(1)))
    assert np.allclose(target[labels >= 0].sum(1), 1) and not target[labels < 0].any()


def test_scene_norm_accepts_a_scene_of_one_voxel():
    # A small scene can shrink to one voxel at the coarsest level, in training and at inference.
    import spconv.pytorch as spconv

    from weakseg.models.sparse import SceneNorm

    b = voxelize([np.zeros((3, 3), np.float32)], [np.ones((3, 4), np.float32)], 0.1)
    out = SceneNorm(4)(spconv.SparseConvTensor(b.features, b.indices, b.spatial_shape, b.batch_size))
    torch.testing.assert_close(out.features, torch.zeros(1, 4))


def test_one_test_view_is_the_scene_itself_and_four_turns_are_quarter_turns_about_z():
    from weakseg.voxel import prediction_views

    coord = np.array([[1.0, 0.0, 0.5], [0.0, 2.0, 1.0]], np.float32)
    normal = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
    [(c, n)] = prediction_views(coord, normal)
    assert np.array_equal(c, coord) and np.array_equal(n, normal)
    views = list(prediction_views(coord, normal, rotations=4, scales=(0.5, 2.0)))
    assert len(views) == 8
    np.testing.assert_allclose(views[2][0][0], [0.0, 0.5, 0.25], atol=1e-6)  # a quarter turn, halved
    np.testing.assert_allclose(views[3][0][1], [-4.0, 0.0, 2.0], atol=1e-6)  # a quarter turn, doubled
    np.testing.assert_allclose(views[3][1], [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], atol=1e-6)  # normals turn, never scale
    np.testing.assert_allclose(views[4][0][0], [-0.5, 0.0, 0.25], atol=1e-6)  # half a turn


def test_a_prediction_over_test_views_is_the_mean_of_the_views_predictions(rng):
    from weakseg.segmentation import Segmenter
    from weakseg.voxel import prediction_views

    scene = make_scene(rng.uniform(0, 3, (3000, 3)).astype(np.float32), np.zeros(3000, np.int64),
                       color=rng.integers(0, 255, (3000, 3)).astype(np.uint8),
                       normal=rng.normal(size=(3000, 3)).astype(np.float32))
    params = {"voxel_size": 0.2, "channels": (8, 16), "blocks": 1}
    torch.manual_seed(0)
    averaged = Segmenter(4, {**params, "test_views": {"rotations": 2, "scales": [0.9, 1.1]}}, "cpu")
    single = Segmenter(4, params, "cpu")
    single.model.load_state_dict(averaged.model.state_dict())
    prob = averaged.predict(scene)
    views = [single.predict(make_scene(c, scene.label, color=scene.color, normal=n))
             for c, n in prediction_views(scene.coord, scene.normal, 2, (0.9, 1.1))]
    np.testing.assert_allclose(prob, np.mean(views, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(prob.sum(1), 1.0, rtol=1e-5)
    assert not np.allclose(views[0], views[1], atol=1e-3)  # the views do differ


def test_elastic_distortion_bends_space_smoothly_by_about_its_magnitude(rng):
    """Neighbours 1 cm apart move together; a field four times stronger moves points four times
    as far; the same generator state gives the same distortion."""
    from weakseg.voxel import elastic_distortion

    coord = rng.uniform(0, 4, (4000, 3)).astype(np.float32)
    neighbour = coord + np.float32(0.01)
    both = np.concatenate([coord, neighbour])
    weak = elastic_distortion(both, 0.8, 0.4, np.random.default_rng(7)) - both
    strong = elastic_distortion(both, 0.8, 1.6, np.random.default_rng(7)) - both
    np.testing.assert_allclose(strong, 4 * weak, rtol=1e-4, atol=1e-6)
    shift = np.linalg.norm(weak[:4000], axis=1)
    assert 0.01 < shift.mean() < 0.4  # centimetres to decimetres, never metres
    assert np.linalg.norm(weak[:4000] - weak[4000:], axis=1).mean() < 0.05 * shift.mean()


def test_training_augmentation_distorts_only_when_asked_and_stays_deterministic(rng):
    from weakseg.voxel import augment

    coord = rng.uniform(0, 4, (2000, 3)).astype(np.float32)
    normal = np.tile(np.float32([0, 0, 1]), (2000, 1))
    color = rng.integers(0, 255, (2000, 3)).astype(np.uint8)
    plain = augment(coord, normal, color, np.random.default_rng(3))
    bent = augment(coord, normal, color, np.random.default_rng(3), [(0.2, 0.4), (0.8, 1.6)])
    again = augment(coord, normal, color, np.random.default_rng(3), [(0.2, 0.4), (0.8, 1.6)])
    np.testing.assert_array_equal(bent[0], again[0])
    np.testing.assert_array_equal(bent[1], plain[1])  # normals and colours as without distortion
    np.testing.assert_array_equal(bent[2], plain[2])
    moved = np.linalg.norm(bent[0] - plain[0], axis=1)
    assert 0.01 < moved.mean() < 0.5
    # a rigid turn keeps distances; the distortion does not
    pair_plain = np.linalg.norm(plain[0][:1000] - plain[0][1000:], axis=1)
    pair_coord = np.linalg.norm(coord[:1000] - coord[1000:], axis=1)
    scale = np.median(pair_plain / pair_coord)
    np.testing.assert_allclose(pair_plain, scale * pair_coord, rtol=1e-4)
    assert not np.allclose(np.linalg.norm(bent[0][:1000] - bent[0][1000:], axis=1), pair_plain, rtol=1e-3)


def test_the_networks_see_signed_vertical_or_no_normals_and_the_choice_commutes_with_augmentation(rng):
    """`input_normals`: `signed` is the scene itself; `vertical` keeps only |n_z|, so a normal and
    its flip look alike; `none` is zeros. Augmentation turns about z, mirrors in x and scales,
    none of which changes |n_z|: choosing before augmenting equals choosing after."""
    from weakseg.voxel import augment, network_scene

    normal = rng.normal(size=(500, 3)).astype(np.float32)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    scene = make_scene(rng.uniform(0, 3, (500, 3)), np.zeros(500, int), normal=normal)
    assert network_scene(scene, "signed") is scene
    vertical = network_scene(scene, "vertical").normal
    np.testing.assert_array_equal(vertical[:, :2], 0)
    np.testing.assert_array_equal(vertical[:, 2], np.abs(normal[:, 2]))
    flipped = make_scene(scene.coord, scene.label, normal=-normal)
    np.testing.assert_array_equal(network_scene(flipped, "vertical").normal, vertical)
    np.testing.assert_array_equal(network_scene(scene, "none").normal, 0)
    np.testing.assert_array_equal(scene.normal, normal)  # the scene read stays as it was
    _, augmented, _ = augment(scene.coord, normal, scene.color, np.random.default_rng(5), [(0.2, 0.4)])
    _, chosen_first, _ = augment(scene.coord, vertical, scene.color, np.random.default_rng(5), [(0.2, 0.4)])
    np.testing.assert_allclose(np.abs(augmented[:, 2]), chosen_first[:, 2], atol=1e-6)
    np.testing.assert_allclose(chosen_first[:, :2], 0, atol=1e-6)
