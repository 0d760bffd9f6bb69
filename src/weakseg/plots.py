"""Pictures of the results, from the summary table and the metrics files (matplotlib, Agg).

Each figure is written as PNG and SVG (`write_plots`), byte for byte the same on a rerun:
- `miou_vs_cost`: each experiment's final mIoU against its annotation minutes per scene (log
  scale), coloured by supervision kind, one marker per method, each point named, the fully
  supervised bound among them;
- `per_class_iou`: one panel per experiment, its final per-class IoU beside the bound's;
- `confusion_<exp>`: the row-normalised confusion matrix of the experiment's final labels;
- `rounds`: the pseudo labels' mIoU round by round, for experiments with self-training rounds,
  the refined labels' coverage beside them.
An experiment's final labels are on the validation split when it is scored (else the training
split): stage two's predictions, or, without a stage two, the last round's (on validation, its
network's predictions; on training, the refined labels). `write_legend` draws the export palette.
"""

from __future__ import annotations

import contextlib
import csv
import math
from pathlib import Path

import matplotlib
import matplotlib.style
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter

from .classes import UNLABELLED_COLOR, palette
from .config import FULL
from .errors import WeaksegError
from .export import ERROR_COLORS
from .io import atomic_path, read_json
from .summary import COLUMNS, STAGE_ORDER

FORMATS = ("png", "svg")
DPI = 120
# One colour per supervision kind, fixed so that a kind keeps its colour across figures and runs.
KIND_COLORS = {"scene_tags": "#1f77b4", "subcloud_tags": "#17becf", "clicks": "#ff7f0e",
               "point_fraction": "#2ca02c", FULL: "#000000"}
OTHER_KIND_COLOR = "#9467bd"
# One marker per stage-one method, whatever the label kind; the bound has its own.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
BOUND_MARKER = "*"


# --------------------------------------------------------------------------- reading
def _number(text):
    return float(text) if text != "" else math.nan


def read_summary(path):
    """The summary CSV's rows as dicts: experiment, supervision, method (the stage-one method;
    blank for the bound), minutes (None if blank), stage, round (None for stage two), split,
    miou, accuracy, coverage (%, NaN if blank), and `iou` {class: % or NaN}."""
    path = Path(path)
    if not path.is_file():
        raise WeaksegError(path, "summary file not found")
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    if not lines or tuple(lines[0][:len(COLUMNS)]) != COLUMNS:
        raise WeaksegError(path, f"not a weakseg summary: its columns must start with {', '.join(COLUMNS)}")
    header, classes = lines[0], lines[0][len(COLUMNS):]
    rows = []
    for number, fields in enumerate(lines[1:], 2):
        if len(fields) != len(header):
            raise WeaksegError(f"{path}:{number}", f"{len(fields)} fields; the header has {len(header)}")
        r = dict(zip(header, fields))
        try:
            rows.append({"experiment": r["experiment"], "supervision": r["supervision"], "method": r["method"],
                         "minutes": float(r["annotation_min_per_scene"]) if r["annotation_min_per_scene"] else None,
                         "stage": r["stage"], "round": int(r["round"]) if r["round"] else None, "split": r["split"],
                         "miou": _number(r["miou"]), "accuracy": _number(r["accuracy"]), "coverage": _number(r["coverage"]),
                         "iou": {c: _number(r[c]) for c in classes}})
        except ValueError as err:
            raise WeaksegError(f"{path}:{number}", f"not a number ({err})") from None
    if not rows:
        raise WeaksegError(path, "the summary has no rows")
    return rows


def read_metrics(path):
    m = read_json(path)
    missing = [k for k in ("experiment", "supervision", "stage", "round", "split", "miou", "confusion", "class_names") if k not in m]
    if missing:
        raise WeaksegError(path, f"not a weakseg metrics file: no {', '.join(missing)}")
    return m


# --------------------------------------------------------------------------- which labels are final
def _lateness(r):
    """Stage two last; else the last round, its refined labels after its stage-one labels."""
    return r["stage"] == "stage2", r["round"] or 0, STAGE_ORDER.get(r["stage"], -1)


def final_split(rows):
    return "val" if any(r["split"] == "val" for r in rows) else "train"


def finals(rows):
    """{experiment: its final row} on `final_split(rows)`, in the rows' order of experiments."""
    split = final_split(rows)
    out = {}
    for r in rows:
        if r["split"] == split and (r["experiment"] not in out or _lateness(r) > _lateness(out[r["experiment"]])):
            out[r["experiment"]] = r
    return out


def stage_label(stage, round_):
    names = {"stage1": "stage one", "refined": "refined labels", "stage2": "stage two"}
    return names.get(stage, stage) + ("" if round_ is None else f", round {round_}")


def kind_color(kind):
    return KIND_COLORS.get(kind, OTHER_KIND_COLOR)


def _bound(final):
    """The first fully supervised experiment's final row, or None."""
    return next((r for r in final.values() if r["supervision"] == FULL), None)


# --------------------------------------------------------------------------- figures
def _one_two_five(value, _):
    """A minor tick's label on a log axis: 0.2, 0.5, 2, 5, 20 as plain numbers; the others stay
    unlabelled, so that two decades of ticks do not run into each other."""
    leading = value / 10 ** math.floor(math.log10(value) + 1e-9) if value > 0 else 0
    return f"{value:g}" if round(leading, 6) in (2, 5) else ""


COLUMN = 0.1  # decades of annotation minutes within which points stand in one column of names


def label_heights(points, gap):
    """[(experiment, minutes, mIoU, height of its name)] for `points` [(experiment, minutes,
    mIoU)]: each name at its point's height, raised where it would come within `gap` (mIoU
    units) of the name below it in its column (points within COLUMN decades of minutes)."""
    columns = []
    for point in sorted(points, key=lambda p: p[1]):
        if columns and abs(math.log10(point[1] / columns[-1][0][1])) < COLUMN:
            columns[-1].append(point)
        else:
            columns.append([point])
    out = []
    for column in columns:
        below = -math.inf
        for exp, x, y in sorted(column, key=lambda p: p[2]):
            below = max(y, below + gap)
            out.append((exp, x, y, below))
    return out


def figure_miou_vs_cost(rows):
    final = finals(rows)
    split = final_split(rows)
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    markers = {}  # method -> its marker, given out in the order of the x axis
    skipped = []
    # cheapest first: the legend reads in the order of the x axis
    for exp, r in sorted(final.items(), key=lambda item: (item[1]["minutes"] or 0, item[0])):
        if r["minutes"] is None or r["minutes"] <= 0 or math.isnan(r["miou"]):
            skipped.append(exp)
            continue
        kind = r["supervision"]
        if kind == FULL:
            marker, size = BOUND_MARKER, 160
            ax.axhline(r["miou"], color=kind_color(kind), linestyle=":", linewidth=0.8, zorder=1)
        else:
            method = r["method"] or exp  # metrics written before they named the method: one marker per experiment
            marker, size = markers.setdefault(method, MARKERS[len(markers) % len(MARKERS)]), 60
        # translucent: two experiments at the same cost and mIoU (one label set, two methods) both show
        ax.scatter([r["minutes"]], [r["miou"]], s=size, marker=marker, color=kind_color(kind), edgecolor="white",
                   linewidth=0.5, alpha=0.75, zorder=3, label=f"{exp} ({', '.join(filter(None, (kind, r['method'])))})")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # 1, 10 rather than 10^1
    ax.xaxis.set_minor_formatter(FuncFormatter(_one_two_five))
    ax.tick_params(axis="x", which="both", labelsize=8)
    ax.set_xlabel("annotation time per scene (minutes, log scale)")
    ax.set_ylabel(f"final mIoU on {split} (%)")
    top = max([r["miou"] for r in final.values() if not math.isnan(r["miou"])], default=0)
    ax.set_ylim(0, min(100, top * 1.15 + 2))
    # each point named beside it too (two experiments of one method and kind share marker and
    # colour): on the right of it, on the left in the costliest column, so the name stays inside
    shown = [(exp, r["minutes"], r["miou"]) for exp, r in final.items() if exp not in skipped]
    last = max((x for _, x, _ in shown), default=1)
    for exp, x, y, height in label_heights(shown, gap=0.03 * ax.get_ylim()[1]):
        left = math.log10(last / x) < COLUMN
        ax.annotate(exp, (x, y), xytext=(-7 if left else 7, height), textcoords=("offset points", "data"),
                    ha="right" if left else "left", va="center", fontsize=7, zorder=4)
    ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
    ax.set_title("mIoU against annotation cost (dotted: the fully supervised bound)", fontsize=10)
    if ax.collections:
        ax.legend(title="experiment (supervision, method)", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    if skipped:
        ax.text(0.01, 0.01, "not shown (no annotation time or no mIoU): " + ", ".join(skipped), transform=ax.transAxes, fontsize=7)
    return fig


def figure_per_class_iou(rows):
    final = finals(rows)
    split = final_split(rows)
    classes = list(rows[0]["iou"])
    bound = _bound(final)
    panels = [r for r in final.values() if r is not bound] or [bound]
    fig = Figure(figsize=(10, 1.5 * len(panels) + 1.6), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    x = np.arange(len(classes))
    for ax, r in zip(axes, panels):
        title = f"{r['experiment']} ({r['supervision']}, {stage_label(r['stage'], r['round'])}): mIoU {r['miou']:.1f}"
        if bound is not None and r is not bound:
            ax.bar(x, [bound["iou"][c] for c in classes], width=0.8, color="#c8c8c8", zorder=1)
            title += f"; bound {bound['miou']:.1f}"
        ax.bar(x, [r["iou"][c] for c in classes], width=0.5, color=kind_color(r["supervision"]), zorder=2)
        ax.set_title(title, fontsize=8, loc="left")
        ax.set_ylim(0, 100)
        ax.set_yticks([0, 50, 100])
        ax.tick_params(labelsize=7)
        ax.grid(True, axis="y", linewidth=0.3, alpha=0.5)
        ax.set_ylabel("IoU (%)", fontsize=7)
    axes[-1].set_xticks(x, classes, rotation=90, fontsize=7)
    axes[-1].set_xlim(-0.6, len(classes) - 0.4)
    handles = [Patch(color=kind_color(k), label=k) for k in dict.fromkeys(r["supervision"] for r in panels)]
    if bound is not None and any(r is not bound for r in panels):
        handles.append(Patch(color="#c8c8c8", label=f"bound: {bound['experiment']}"))
    fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 6), fontsize=8,
               title=f"Per-class IoU of each experiment's final labels on {split}", title_fontsize=10)
    return fig


def figure_confusion(metrics):
    """Rows: the true class, normalised to 1; a class with no points left blank."""
    conf = np.asarray(metrics["confusion"], np.float64)
    names = metrics["class_names"]
    totals = conf.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(totals > 0, conf / totals, np.nan)
    fig = Figure(figsize=(8.5, 7.5), layout="constrained")
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["Blues"].with_extremes(bad="white")
    image = ax.imshow(share, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, names, rotation=90, fontsize=7)
    ax.set_yticks(ticks, names, fontsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (rows without points: blank)")
    miou = metrics["miou"]
    score = "" if miou is None or math.isnan(miou) else f", mIoU {100 * miou:.1f}"
    ax.set_title(f"{metrics['experiment']} ({metrics['supervision']}): {stage_label(metrics['stage'], metrics['round'])} "
                 f"on {metrics['split']}{score}", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class's points")
    return fig


def figure_rounds(rows):
    curves = {}
    for r in rows:
        if r["split"] == "train" and r["stage"] in ("stage1", "refined") and r["round"] is not None:
            curves.setdefault(r["experiment"], {}).setdefault(r["stage"], []).append((r["round"], r["miou"], r["coverage"]))
    curves = {exp: c for exp, c in curves.items() if max(p[0] for points in c.values() for p in points) > 1}
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    if not curves:
        ax.axis("off")
        ax.text(0.5, 0.5, "no experiment has rounds", ha="center", va="center", fontsize=12, transform=ax.transAxes)
        return fig
    colors = matplotlib.colormaps["tab10"].colors
    for i, (exp, c) in enumerate(curves.items()):
        for stage, style, marker in (("stage1", "-", "o"), ("refined", "--", "s")):
            if stage in c:
                rounds, miou, coverage = zip(*sorted(c[stage]))
                ax.plot(rounds, miou, style, marker=marker, color=colors[i % len(colors)], label=f"{exp}: {stage_label(stage, None)}")
                if stage == "refined":  # refined labels cover more each round: their mIoU alone reads as a fall
                    for x, y, share in zip(rounds, miou, coverage):
                        if not math.isnan(share):
                            ax.annotate(f"{share:.0f} %", (x, y), xytext=(0, 6), textcoords="offset points", ha="center",
                                        fontsize=7, color=colors[i % len(colors)])
    last = max(p[0] for c in curves.values() for points in c.values() for p in points)
    ax.set_xticks(range(1, last + 1))
    ax.set_xlabel("self-training round")
    ax.set_ylabel("mIoU on train (%)")
    ax.grid(True, linewidth=0.3, alpha=0.5)
    ax.margins(x=0.08, y=0.12)  # room for the coverage above the top point
    ax.set_title("Pseudo labels by round (solid: stage one; dashed: refined, % covered)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def figure_legend(class_names):
    """Swatches of the class palette (and the unlabelled colour) beside the error map's colours."""
    colors = palette(class_names)
    if colors is None:
        raise WeaksegError("--classes", f"no palette for the class table {list(class_names)}")
    columns = [("labels", [*zip(class_names, colors), ("unlabelled", UNLABELLED_COLOR)]),
               ("error.ply", list(ERROR_COLORS.items()))]
    rows = max(len(entries) for _, entries in columns)
    fig = Figure(figsize=(5.5, 0.25 * rows + 0.7))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 2)
    ax.set_ylim(rows + 0.5, -1)
    ax.axis("off")
    for column, (title, entries) in enumerate(columns):
        x = 0.08 + column * 1.1
        ax.text(x, -0.4, title, fontsize=9, fontweight="bold", va="center")
        for row, (name, rgb) in enumerate(entries, 1):
            ax.add_patch(Rectangle((x, row - 0.35), 0.15, 0.7, facecolor=np.array(rgb) / 255, edgecolor="#444444", linewidth=0.5))
            ax.text(x + 0.22, row, name, fontsize=8, va="center")
    return fig


# --------------------------------------------------------------------------- writing
@contextlib.contextmanager
def _reproducible():
    """Matplotlib's defaults (not the user's matplotlibrc) and SVG ids from a fixed salt, so a rerun
    writes the same bytes."""
    with matplotlib.style.context("default"), matplotlib.rc_context({"svg.hashsalt": "weakseg"}):
        yield


def save(fig, stem, formats=FORMATS):
    """Write `fig` as `<stem>.<format>` for each format, atomically; return the paths."""
    FigureCanvasAgg(fig)  # raster output through Agg, whatever backend matplotlib would pick
    paths = []
    for fmt in formats:
        path = Path(f"{stem}.{fmt}")
        with _reproducible(), atomic_path(path, f".{fmt}") as tmp:
            # no creation date in the file: reruns are byte-identical
            fig.savefig(tmp, format=fmt, dpi=DPI, metadata={"Date": None} if fmt == "svg" else None)
        paths.append(path)
    return paths


def write_plots(summary_path, metric_paths, out_dir):
    """Every figure of the module docstring into `out_dir`; return the paths written. The
    confusion matrices need the metrics file of each experiment's final labels among `metric_paths`."""
    rows = read_summary(summary_path)
    metrics = {}
    for path in metric_paths:
        m = read_metrics(path)
        metrics[(m["experiment"], m["stage"], m["round"], m["split"])] = m
    confusions = {}  # every input checked before anything is drawn
    for exp, r in finals(rows).items():
        confusions[exp] = metrics.get((exp, r["stage"], r["round"], r["split"]))
        if confusions[exp] is None:
            name = r["stage"] + ("" if r["round"] is None else f"_round{r['round']}")
            raise WeaksegError(summary_path, f"no metrics file given for {exp}'s final labels ({exp}/metrics/{name}_{r['split']}.json)")
    out_dir = Path(out_dir)
    written = []
    with _reproducible():
        written += save(figure_miou_vs_cost(rows), out_dir / "miou_vs_cost")
        written += save(figure_per_class_iou(rows), out_dir / "per_class_iou")
        written += save(figure_rounds(rows), out_dir / "rounds")
        for exp, m in confusions.items():
            written += save(figure_confusion(m), out_dir / f"confusion_{exp}")
    return written


def write_legend(class_names, path):
    """The export palette as one PNG."""
    with _reproducible():
        return save(figure_legend(class_names), Path(path).with_suffix(""), formats=("png",))
