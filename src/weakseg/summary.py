"""One table across experiments and stages: markdown for people, CSV for tools."""

from __future__ import annotations

import csv
import io as _io

from .io import atomic_path, read_json

STAGE_ORDER = {"stage1": 0, "refined": 1, "stage2": 2}


def _fmt(v, scale=100.0):
    return "" if v is None or v != v else f"{v * scale:.1f}"


def _order(m):
    """Experiment, then training split first, then round by round (stage one, refined), stage two last."""
    return (m["experiment"], m["split"] != "train", m["stage"] == "stage2", m.get("round") or 0, STAGE_ORDER.get(m["stage"], 9))


# The table's leading columns, before one IoU column per class (read back by weakseg.plots).
COLUMNS = ("experiment", "supervision", "method", "annotation_min_per_scene", "stage", "round", "split", "miou", "accuracy", "coverage")


def write_summary(metric_paths, md_path, csv_path):
    rows = sorted((read_json(p) for p in metric_paths), key=_order)
    class_names = rows[0]["class_names"] if rows else []
    header = list(COLUMNS) + list(class_names)
    table = []
    for m in rows:
        minutes = m.get("annotation_seconds")
        table.append([m["experiment"], m["supervision"], m.get("method", ""), "" if minutes is None else f"{minutes / 60:.2f}",
                      m["stage"], "" if m.get("round") is None else str(m["round"]), m["split"],
                      _fmt(m["miou"]), _fmt(m["accuracy"]), _fmt(m.get("coverage"))]
                     + [_fmt(m["iou"].get(c)) for c in class_names])
    buf = _io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header] + table)
    with atomic_path(csv_path) as tmp:
        tmp.write_text(buf.getvalue())
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r[:len(COLUMNS)]) + " |" for r in table]
    lines += ["", "mIoU, accuracy and coverage in %; coverage is the share of annotated points the",
              "labels cover (refiners may leave points unlabelled). `round`: the self-training round",
              "of stage one's and the refined labels (on the validation split: the last round's own",
              "network). Per-class IoU is in the CSV."]
    with atomic_path(md_path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
