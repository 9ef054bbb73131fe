"""Paper figures: per family, one row per dataset with convergence, pruning and
quantization panels (Figs. 3-5). Means with +-1 std bands over seeds."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
from pathlib import Path  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullLocator  # noqa: E402

from minarch import registry  # noqa: E402
from minarch.io import atomic_path  # noqa: E402
from minarch.regimes import representatives, shown_width  # noqa: E402
from minarch.tables import SCOPE_ORDER, arch_title, dataset_title, headline_qat_rows, with_scope  # noqa: E402

# The quantization panel's int8 curves: QAT per scope (``qat.scope``), and post-training
# quantization (of the headline scope, ``tables.headline_qat_rows``); float32 is solid.
DASH_DOT_DOT = (0, (4, 1.5, 1, 1.5, 1, 1.5))
QAT_STYLE = {"full": "--", "attention": DASH_DOT_DOT, "linear": "-."}
PTQ_STYLE = ":"
# a curve of one width: its points side by side, so that none hides another
_NUDGE = {"-": 1.0, "--": 1.04, DASH_DOT_DOT: 1.06, "-.": 1.08, ":": 0.96}


def curve_label(arch: str, topology: str) -> str:
    """A curve's name in a legend (``Family.curve_label``): the DNN's topology, the ViT's
    position embedding."""
    return registry.family(arch).curve_label(topology)


def _band(ax, x, mean, std, label, color, linestyle="-"):
    """Mean with a +-1 std band; a curve of one width gets an error bar (a band of one point
    would not show)."""
    if len(x) == 1:  # int8 curves a little beside float32, hollow, so that none hides another
        dashed = linestyle != "-"
        ax.errorbar(
            np.asarray(x, float) * _NUDGE.get(linestyle, 1.0),
            mean,
            yerr=std.fillna(0),
            fmt="o",
            markersize=4,
            capsize=4,
            color=color,
            markerfacecolor="white" if dashed else color,
            label=label,
        )
        return
    # a keyword: a dash pattern (a tuple, as DASH_DOT_DOT) is no format string
    ax.plot(x, mean, linestyle=linestyle, marker="o", markersize=3, color=color, label=label)
    ax.fill_between(x, mean - std.fillna(0), mean + std.fillna(0), color=color, alpha=0.2, linewidth=0)


def _save(fig, path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=120)
    plt.close(fig)


def _stats(frame: pd.DataFrame, by: str, column: str) -> pd.DataFrame:
    return frame.groupby(by)[column].agg(["mean", "std"]).sort_index()


CI_LABEL = "bar: 95% CI over seeds"


def _interval_bar(ax, low, high, color, row: int, label: str | None = None) -> None:
    """A confidence interval as a short bar near the panel's bottom, one row per curve: the
    curves are high where the intervals lie (stable widths, safe ratios), so bars there do
    not hide them. An interval of one value shows as its end marks alone."""
    if pd.isna(low):
        return
    bottom, top = ax.get_ylim()
    y = bottom + (row + 1) * 0.05 * (top - bottom)
    right = ax.get_xlim()[1] if pd.isna(high) else high  # no upper bound: runs off the panel
    ax.plot([low, right], [y, y], color=color, linewidth=3, alpha=0.6, marker="|", markersize=9, label=label)


def family_figure(
    arch: str,
    regimes: pd.DataFrame,
    prune_rows: pd.DataFrame,
    qat_rows: pd.DataFrame,
    path,
    intervals: pd.DataFrame | None = None,
) -> None:
    """``intervals`` (optional; one row per dataset and topology): bootstrap intervals of the
    curve's smallest stable width (``width_ci_low/high``) and of its safe pruning ratio in %
    (``safe_pruning_pct_ci_low/high``), drawn as bars along the panels' tops."""
    regimes = regimes[regimes["arch"] == arch]
    datasets = [d for d in registry.datasets() if d in set(regimes["dataset"])]
    fig, axes = plt.subplots(len(datasets), 3, figsize=(13, 3.4 * len(datasets)), squeeze=False)
    colors = plt.get_cmap("tab10")
    for row, dataset in enumerate(datasets):
        ax_conv, ax_prune, ax_quant = axes[row]
        curves = regimes[regimes["dataset"] == dataset]
        for i, (topology, curve) in enumerate(curves.groupby("topology", sort=True)):
            color = colors(i)
            curve = curve.sort_values("width")
            label = curve_label(arch, topology)
            _band(ax_conv, curve["width"], curve["test_acc_mean"], curve["test_acc_std"], label, color)
            width = int(shown_width(curve))
            params = int(curve.loc[curve["width"] == width, "n_params"].iloc[0])
            # a curve without a stable width shows its widest, which the panel's title
            # (smallest stable width) would otherwise claim as stable
            stable = not representatives(curve).empty
            shown = (
                f"{label} w{width} (θ={params:,})"
                if stable
                else f"{label} w{width} (θ={params:,}; widest, none stable)"
            )
            runs = prune_rows[
                (prune_rows["dataset"] == dataset)
                & (prune_rows["topology"] == topology)
                & (prune_rows["width"] == width)
            ]
            if len(runs):
                stats = _stats(runs, "ratio", "test_acc")
                _band(
                    ax_prune,
                    100 * stats.index,
                    stats["mean"],
                    stats["std"],
                    shown,
                    color,
                )
            quant = qat_rows[(qat_rows["dataset"] == dataset) & (qat_rows["topology"] == topology)]
            if len(quant):
                _quantization_curves(ax_quant, quant, label, color)
        if intervals is not None:
            for i, (topology, _) in enumerate(curves.groupby("topology", sort=True)):
                found = intervals[(intervals["dataset"] == dataset) & (intervals["topology"] == topology)]
                for _, bounds in found.iterrows():
                    label = CI_LABEL if i == 0 else None
                    _interval_bar(ax_conv, bounds["width_ci_low"], bounds["width_ci_high"], colors(i), i, label)
                    _interval_bar(
                        ax_prune,
                        bounds["safe_pruning_pct_ci_low"],
                        bounds["safe_pruning_pct_ci_high"],
                        colors(i),
                        i,
                        label,
                    )
        title = dataset_title(dataset)
        # one entry per curve, and the line styles once: solid float32, int8 QAT (per scope), PTQ
        handles, _ = ax_quant.get_legend_handles_labels()
        styles = _style_legend(qat_rows[qat_rows["dataset"] == dataset])
        for ax, what in ((ax_conv, "convergence"), (ax_prune, "pruning"), (ax_quant, "quantization")):
            ax.set_title(f"{title}: {what}")
            ax.set_ylabel("test accuracy (%)")
            ax.grid(alpha=0.3)
            ax.legend(handles=handles + styles if ax is ax_quant else None, fontsize=7)
        widths = sorted(curves["width"].unique())
        for ax in (ax_conv, ax_quant):
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(FixedLocator(widths))
            ax.xaxis.set_major_formatter(FormatStrFormatter("%d"))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xlabel(registry.family(arch).width_label)
            if len(widths) == 1:  # one width: a window around it (autoscaling would hug the point)
                ax.set_xlim(widths[0] / 1.6, widths[0] * 1.6)
        ax_prune.set_xlabel("pruning ratio (%)")
    pruned = registry.family(arch).pruning_label
    fig.suptitle(f"{arch_title(arch)}: convergence, pruning ({pruned}) and 8-bit QAT and PTQ")
    _save(fig, path)


def _has_ptq(rows: pd.DataFrame) -> bool:
    return "ptq_int8_test_acc" in rows and rows["ptq_int8_test_acc"].notna().any()


def _quantization_curves(ax, quant: pd.DataFrame, label: str, color) -> None:
    """One curve's quantization panel: float32, int8 after QAT under each scope it ran, and
    int8 after post-training quantization (headline scope), each against width."""
    quant = with_scope(quant)
    headline = headline_qat_rows(quant)
    stats = _stats(headline, "width", "float_test_acc")
    _band(ax, stats.index, stats["mean"], stats["std"], label, color)
    for scope in SCOPE_ORDER:
        rows = quant[quant["qat_scope"] == scope]
        if len(rows):
            stats = _stats(rows, "width", "int8_test_acc")
            _band(ax, stats.index, stats["mean"], stats["std"], None, color, QAT_STYLE[scope])
    if _has_ptq(headline):
        stats = _stats(headline.dropna(subset=["ptq_int8_test_acc"]), "width", "ptq_int8_test_acc")
        _band(ax, stats.index, stats["mean"], stats["std"], None, color, PTQ_STYLE)


def _style_legend(qat_rows: pd.DataFrame) -> list[Line2D]:
    """The line styles of a quantization panel, once each: float32, int8 QAT (named by scope
    where the panel has several), int8 PTQ."""

    def style(linestyle: str, label: str) -> Line2D:
        hollow = {"markerfacecolor": "white"} if linestyle != "-" else {}
        return Line2D([], [], color="0.3", ls=linestyle, marker="o", markersize=4, label=label, **hollow)

    rows = with_scope(qat_rows)
    scopes = [s for s in SCOPE_ORDER if len(rows) and s in set(rows["qat_scope"])] or ["full"]
    styles = [style("-", "float32")]
    for scope in scopes:
        styles.append(style(QAT_STYLE[scope], "int8 QAT" + (f" ({scope} scope)" if len(scopes) > 1 else "")))
    if _has_ptq(rows):
        styles.append(style(PTQ_STYLE, "int8 PTQ" + (f" ({scopes[0]} scope)" if len(scopes) > 1 else "")))
    return styles


def topology_figure(table: pd.DataFrame, path) -> None:
    """Paper Fig. 2b: per dataset, one panel per depth with test accuracy (mean +- std over
    seeds) against learnable parameters for every topology; dotted lines mark decades."""
    datasets = [d for d in registry.datasets() if d in set(table["dataset"])]
    depths = sorted(table["depth"].unique())
    fig, axes = plt.subplots(
        len(datasets), len(depths), figsize=(4.2 * len(depths), 3.6 * len(datasets)), squeeze=False, sharey="row"
    )
    for row, dataset in enumerate(datasets):
        for column, depth in enumerate(depths):
            ax = axes[row][column]
            curves = table[(table["dataset"] == dataset) & (table["depth"] == depth)]
            names = sorted(curves["topology"].unique())
            colors = plt.get_cmap("viridis" if len(names) > 10 else "tab10")
            for i, topology in enumerate(names):
                curve = curves[curves["topology"] == topology].sort_values("n_params")
                color = colors(i / max(len(names) - 1, 1)) if len(names) > 10 else colors(i)
                _band(ax, curve["n_params"], curve["test_acc_mean"], curve["test_acc_std"], topology, color)
            ax.set_xscale("log")
            low, high = curves["n_params"].min(), curves["n_params"].max()
            for power in range(int(np.floor(np.log10(low))) + 1, int(np.ceil(np.log10(high)))):
                ax.axvline(10**power, color="grey", linestyle=":", linewidth=1)
            ax.set_title(f"{dataset_title(dataset)}: {depth} hidden layer{'s' if depth > 1 else ''}")
            ax.set_xlabel("learnable parameters")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6 if len(names) <= 9 else 4.5, ncol=1 if len(names) <= 9 else 3)
        axes[row][0].set_ylabel("test accuracy (%)")
    fig.suptitle("DNN topologies (phase 1): test accuracy vs parameters, one curve per shape")
    _save(fig, path)
