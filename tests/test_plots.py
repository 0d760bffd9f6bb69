"""The pictures of the summary (weakseg.plots), on a hand-made run: scene-tag MPRM with a stage
two, One Thing One Click in two rounds, DSP without a stage two (its own network is final) and
the fully supervised bound, on four classes."""

import numpy as np
import pytest

from weakseg.cli import main
from weakseg.classes import SCANNET20, UNLABELLED_COLOR
from weakseg.errors import WeaksegError
from weakseg.io import write_json
from weakseg.metrics import scores
from weakseg.plots import (figure_confusion, figure_legend, figure_miou_vs_cost, figure_per_class_iou, figure_rounds,
                           label_heights, read_summary, write_legend, write_plots)
from weakseg.summary import write_summary

CLASSES = ("wall", "floor", "chair", "table")
# experiment -> supervision, annotation seconds, the (stage, round, split) it was scored at
RUN = {
    "mprm": ("scene_tags", 15.0, [("stage1", 1, "train"), ("refined", 1, "train"), ("stage2", None, "train"), ("stage2", None, "val")]),
    "clicks": ("clicks", 120.0, [("stage1", 1, "train"), ("refined", 1, "train"), ("stage1", 2, "train"), ("refined", 2, "train"),
                                 ("stage2", None, "train"), ("stage1", 2, "val"), ("stage2", None, "val")]),
    "dsp": ("point_fraction", 60.0, [("stage1", 1, "train"), ("refined", 1, "train"), ("stage1", 1, "val")]),
    "fully_supervised": ("full", 22.3 * 60, [("stage2", None, "train"), ("stage2", None, "val")]),
}


def confusion(correct):
    """A 4-class confusion matrix: 100 points per class but the last (none), `correct` of them right."""
    conf = np.zeros((4, 4), np.int64)
    for c in range(3):
        conf[c, c] = correct
        conf[c, (c + 1) % 3] = 100 - correct
    return conf


@pytest.fixture
def run(tmp_path):
    """The metrics files and the summary of the hand-made run; each experiment's rows get better stage by stage."""
    paths = []
    for e, (exp, (kind, seconds, scored)) in enumerate(RUN.items()):
        for i, (stage, round_, split) in enumerate(scored):
            m = scores(confusion(40 + 10 * e + 5 * i), CLASSES, annotated=300)
            m.update(experiment=exp, supervision=kind, stage=stage, round=round_, split=split, annotation_seconds=seconds)
            name = stage + ("" if round_ is None else f"_round{round_}")
            paths.append(tmp_path / exp / "metrics" / f"{name}_{split}.json")
            write_json(paths[-1], m)
    write_summary(paths, tmp_path / "summary.md", tmp_path / "summary.csv")
    return tmp_path / "summary.csv", paths


def final_miou(paths, exp, name):
    """The mIoU (%) the summary shows for one metrics file, as plotted."""
    row = next(r for r in read_summary(paths[0].parents[2] / "summary.csv") if r["experiment"] == exp
               and f"{r['stage']}{'' if r['round'] is None else '_round%d' % r['round']}_{r['split']}" == name)
    return row["miou"]


def test_every_experiment_is_one_labelled_point_at_its_final_val_miou_and_annotation_minutes(run):
    summary, paths = run
    fig = figure_miou_vs_cost(read_summary(summary))
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["mprm (scene_tags)", "dsp (point_fraction)", "clicks (clicks)", "fully_supervised (full)"]  # by cost
    points = {label.split()[0]: tuple(c.get_offsets()[0]) for label, c in zip(labels, ax.collections)}
    # stage two where there is one (not clicks' round-2 network), else the last round's own network
    assert points == {"mprm": pytest.approx((0.25, final_miou(paths, "mprm", "stage2_val"))),
                      "clicks": pytest.approx((2.0, final_miou(paths, "clicks", "stage2_val"))),
                      "dsp": pytest.approx((1.0, final_miou(paths, "dsp", "stage1_round1_val"))),
                      "fully_supervised": pytest.approx((22.3, final_miou(paths, "fully_supervised", "stage2_val")))}
    assert ax.get_xscale() == "log" and "%" in ax.get_ylabel() and "val" in ax.get_ylabel()
    assert [ax.xaxis.get_major_formatter()(v, 0) for v in (1, 10)] == ["1", "10"]  # minutes, not powers of ten
    minor = [ax.xaxis.get_minor_formatter()(v, 0) for v in (0.2, 0.3, 0.5, 0.7, 2, 3, 5, 20, 30)]
    assert minor == ["0.2", "", "0.5", "", "2", "", "5", "20", ""]  # 1-2-5: labels that do not collide
    colors = {label.split()[0]: tuple(c.get_facecolor()[0]) for label, c in zip(labels, ax.collections)}
    assert len(set(colors.values())) == 4  # one colour per supervision kind
    assert {t.get_text(): pytest.approx(t.xy) for t in ax.texts} == points  # each point named beside it


def test_names_of_close_points_in_one_column_are_stacked_apart_and_others_stay_at_their_point():
    points = [("b", 80.0, 50.5), ("a", 80.3, 50.0), ("c", 81.0, 51.0), ("bound", 22.3, 50.2)]
    heights = {exp: h for exp, _, _, h in label_heights(points, gap=2.0)}
    assert heights == pytest.approx({"a": 50.0, "b": 52.0, "c": 54.0, "bound": 50.2})


def test_a_method_keeps_its_marker_across_label_kinds_and_two_methods_on_one_kind_differ(tmp_path):
    """One Thing One Click on clicks and on points: one marker; the point-supervised U-Net on clicks
    beside it: another, in the same colour; the bound: a star."""
    made = {"clicks_otoc": ("clicks", "otoc"), "clicks_points": ("clicks", "sparse_points"),
            "points_otoc": ("point_fraction", "otoc"), "fully_supervised": ("full", "")}
    paths = []
    for i, (exp, (kind, method)) in enumerate(made.items()):
        m = scores(confusion(50 + 10 * i), CLASSES, annotated=300)
        m.update(experiment=exp, supervision=kind, method=method, stage="stage2", round=None, split="val",
                 annotation_seconds=22.3 * 60 if kind == "full" else 60.0 * (i + 1))
        paths.append(tmp_path / exp / "metrics" / "stage2_val.json")
        write_json(paths[-1], m)
    write_summary(paths, tmp_path / "summary.md", tmp_path / "summary.csv")
    assert "| clicks_otoc | clicks | otoc |" in (tmp_path / "summary.md").read_text()
    (ax,) = figure_miou_vs_cost(read_summary(tmp_path / "summary.csv")).axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["clicks_otoc (clicks, otoc)", "clicks_points (clicks, sparse_points)",
                      "points_otoc (point_fraction, otoc)", "fully_supervised (full)"]
    shape = {label.split()[0]: c.get_paths()[0].vertices.round(6).tobytes() for label, c in zip(labels, ax.collections)}
    color = {label.split()[0]: tuple(c.get_facecolor()[0]) for label, c in zip(labels, ax.collections)}
    assert shape["clicks_otoc"] == shape["points_otoc"] != shape["clicks_points"]
    assert len(set(shape.values())) == 3  # two methods and the bound's star
    assert color["clicks_otoc"] == color["clicks_points"] != color["points_otoc"]


def test_per_class_iou_has_a_panel_per_experiment_beside_the_bound(run):
    summary, _ = run
    fig = figure_per_class_iou(read_summary(summary))
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert [t.split()[0] for t in titles] == ["clicks", "dsp", "mprm"]  # the summary's order, the bound left out
    assert all("bound" in t for t in titles)
    assert [t.get_text() for t in fig.axes[-1].get_xticklabels()] == list(CLASSES)
    # each panel: the bound's bars, then the experiment's; the class without points has none
    bound, own = fig.axes[0].patches[:4], fig.axes[0].patches[4:]
    assert len(own) == 4 and np.isnan(own[3].get_height()) and np.isnan(bound[3].get_height())


def test_confusion_rows_are_normalised_and_a_class_without_points_is_blank(run):
    _, paths = run
    import json

    m = json.loads(paths[0].read_text())
    fig = figure_confusion(m)
    image = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(np.asarray(image[:3]).sum(1), 1.0)
    assert np.ma.getmaskarray(image)[3].all() or np.isnan(np.asarray(image[3])).all()  # no points: blank
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(CLASSES)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(CLASSES)


def test_rounds_draw_each_multi_round_experiment_or_say_there_are_none(run):
    summary, _ = run
    rows = read_summary(summary)
    (ax,) = figure_rounds(rows).axes
    assert [line.get_label() for line in ax.get_lines()] == ["clicks: stage one", "clicks: refined labels"]
    assert [tuple(line.get_xdata()) for line in ax.get_lines()] == [(1, 2), (1, 2)]
    refined = sorted((r["round"], r["coverage"]) for r in rows if r["experiment"] == "clicks" and r["stage"] == "refined")
    assert [t.get_text() for t in ax.texts] == [f"{share:.0f} %" for _, share in refined]  # coverage beside each refined point
    one_round = [r for r in rows if r["experiment"] != "clicks"]
    (ax,) = figure_rounds(one_round).axes
    assert [t.get_text() for t in ax.texts] == ["no experiment has rounds"]


def test_every_figure_is_written_as_png_and_svg_and_a_rerun_writes_the_same_bytes(run, tmp_path):
    summary, paths = run
    first = write_plots(summary, paths, tmp_path / "plots")
    stems = ["miou_vs_cost", "per_class_iou", "rounds", "confusion_mprm", "confusion_clicks", "confusion_dsp", "confusion_fully_supervised"]
    assert sorted(p.name for p in first) == sorted(f"{s}.{ext}" for s in stems for ext in ("png", "svg"))
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(p.name for p in first)  # no .tmp-* left
    for p in first:
        data = p.read_bytes()
        assert data.startswith(b"\x89PNG") if p.suffix == ".png" else data.startswith(b"<?xml")
    before = {p.name: p.read_bytes() for p in first}
    again = write_plots(summary, paths, tmp_path / "again")
    assert {p.name: p.read_bytes() for p in again} == before
    assert b"<dc:date>" not in before["rounds.svg"]


def test_a_missing_or_foreign_metrics_file_is_one_message_naming_it(run, tmp_path, capsys):
    summary, paths = run
    without_dsp_final = [p for p in paths if not (p.parent.parent.name == "dsp" and p.name == "stage1_round1_val.json")]
    with pytest.raises(WeaksegError, match=r"no metrics file given for dsp's final labels \(dsp/metrics/stage1_round1_val.json\)"):
        write_plots(summary, without_dsp_final, tmp_path / "plots")
    assert not (tmp_path / "plots").exists()  # nothing drawn
    missing = tmp_path / "nowhere.json"
    rc = main(["plots", "--summary", str(summary), "--metrics", *map(str, paths), str(missing), "--out-dir", str(tmp_path / "p")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and err == [f"weakseg plots: error: {missing}: file not found"]
    (tmp_path / "foreign.csv").write_text("a,b\n1,2\n")
    with pytest.raises(WeaksegError, match="foreign.csv: not a weakseg summary"):
        write_plots(tmp_path / "foreign.csv", paths, tmp_path / "plots")


def test_the_legend_shows_every_class_colour_unlabelled_and_the_error_colours(tmp_path):
    fig = figure_legend(SCANNET20)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert set(SCANNET20) | {"unlabelled", "correct", "wrong", "not scored"} <= set(texts)
    swatches = [tuple(np.round(np.array(p.get_facecolor()[:3]) * 255).astype(int)) for p in fig.axes[0].patches]
    assert swatches[0] == (174, 199, 232) and swatches[20] == UNLABELLED_COLOR  # wall first; unlabelled after the classes
    (path,) = write_legend(SCANNET20, tmp_path / "legend.png")
    assert path == tmp_path / "legend.png" and path.read_bytes().startswith(b"\x89PNG")
