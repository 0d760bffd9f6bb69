import numpy as np

from weakseg.metrics import confusion, scores


def test_confusion_counts_annotated_points_the_prediction_labels():
    truth = [0, 0, 1, 1, -1, 1]
    pred = [0, 1, 1, 1, 0, -1]
    np.testing.assert_array_equal(confusion(truth, pred, 3), [[1, 1, 0], [0, 2, 0], [0, 0, 0]])


def test_iou_by_hand_and_absent_classes_do_not_count():
    conf = np.array([[1, 1, 0], [0, 2, 0], [0, 0, 0]])
    s = scores(conf, ["a", "b", "c"], annotated=5)
    assert s["iou"]["a"] == 0.5  # 1 / (1 + 1)
    assert abs(s["iou"]["b"] - 2 / 3) < 1e-12  # 2 / (2 + 1)
    assert s["iou"]["c"] is None  # in neither truth nor prediction
    assert abs(s["miou"] - (0.5 + 2 / 3) / 2) < 1e-12
    assert s["accuracy"] == 0.75
    assert s["coverage"] == 0.8


def test_perfect_prediction_scores_one():
    truth = np.array([0, 1, 2, 2])
    s = scores(confusion(truth, truth, 3), ["a", "b", "c"])
    assert s["miou"] == 1.0 and s["accuracy"] == 1.0
