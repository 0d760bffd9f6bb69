"""The one metric path: confusion matrix -> IoU, mIoU, accuracy."""

from __future__ import annotations

import numpy as np

from .classes import IGNORE


def confusion(truth, pred, num_classes):
    """(C, C) counts, rows = truth, columns = prediction, over points whose truth is annotated.

    Points the prediction leaves unlabelled (-1) are not counted; `coverage` in `scores` says
    how many there were.
    """
    truth = np.asarray(truth, np.int64)
    pred = np.asarray(pred, np.int64)
    keep = (truth != IGNORE) & (pred != IGNORE)
    return np.bincount(truth[keep] * num_classes + pred[keep], minlength=num_classes**2).reshape(num_classes, num_classes)


def scores(conf, class_names, annotated=None):
    """mIoU averages the classes present in truth or prediction (absent from both: no IoU)."""
    conf = np.asarray(conf, np.int64)
    tp = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    total = conf.sum()
    out = {
        "miou": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"),
        "accuracy": float(tp.sum() / total) if total else float("nan"),
        "iou": {name: (None if np.isnan(v) else float(v)) for name, v in zip(class_names, iou)},
        "confusion": conf.tolist(),
        "class_names": list(class_names),
        "points": int(total),
    }
    if annotated is not None:
        out["coverage"] = float(total / annotated) if annotated else float("nan")
    return out
