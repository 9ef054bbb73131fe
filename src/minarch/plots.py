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

from minarch.data import DATASETS  # noqa: E402
from minarch.io import atomic_path  # noqa: E402
from minarch.regimes import shown_width  # noqa: E402
from minarch.settings import vit_position_kind  # noqa: E402
from minarch.tables import ARCH_TITLES  # noqa: E402

WIDTH_LABEL = {"dnn": "nodes in first hidden layer", "cnn": "conv channels", "vit": "hidden dimension"}


def curve_label(arch: str, topology: str) -> str:
    """A curve's name in a legend: the DNN's topology, the ViT's position embedding."""
    return f"{vit_position_kind(topology)} positions" if arch == "vit" else topology


def _band(ax, x, mean, std, label, color, linestyle="-"):
    """Mean with a +-1 std band; a curve of one width gets an error bar (a band of one point
    would not show)."""
    if len(x) == 1:  # int8 (dashed) a little to the right of float32, hollow, so neither hides the other
        dashed = linestyle == "--"
        ax.errorbar(
            np.asarray(x, float) * (1.04 if dashed else 1.0),
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
    ax.plot(x, mean, linestyle, marker="o", markersize=3, color=color, label=label)
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
    datasets = [d for d in DATASETS if d in set(regimes["dataset"])]
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
                    f"{label} w{width} (θ={params:,})",
                    color,
                )
            quant = qat_rows[(qat_rows["dataset"] == dataset) & (qat_rows["topology"] == topology)]
            if len(quant):
                float_stats, int8_stats = (
                    _stats(quant, "width", "float_test_acc"),
                    _stats(quant, "width", "int8_test_acc"),
                )
                _band(ax_quant, float_stats.index, float_stats["mean"], float_stats["std"], label, color)
                _band(ax_quant, int8_stats.index, int8_stats["mean"], int8_stats["std"], None, color, "--")
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
        title = DATASETS[dataset].title
        # one entry per curve, and the line styles once: solid float32, dashed int8
        handles, _ = ax_quant.get_legend_handles_labels()
        styles = [
            Line2D([], [], color="0.3", marker="o", markersize=4, label="float32"),
            Line2D([], [], color="0.3", ls="--", marker="o", markersize=4, markerfacecolor="white", label="int8"),
        ]
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
            ax.set_xlabel(WIDTH_LABEL[arch])
            if len(widths) == 1:  # one width: a window around it (autoscaling would hug the point)
                ax.set_xlim(widths[0] / 1.6, widths[0] * 1.6)
        ax_prune.set_xlabel("pruning ratio (%)")
    pruned = "smallest stable width per depth" if arch == "dnn" else "smallest stable width"
    fig.suptitle(f"{ARCH_TITLES[arch]}: convergence, pruning ({pruned}) and 8-bit QAT")
    _save(fig, path)


def topology_figure(table: pd.DataFrame, path) -> None:
    """Paper Fig. 2b: per dataset, one panel per depth with test accuracy (mean +- std over
    seeds) against learnable parameters for every topology; dotted lines mark decades."""
    datasets = [d for d in DATASETS if d in set(table["dataset"])]
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
            ax.set_title(f"{DATASETS[dataset].title}: {depth} hidden layer{'s' if depth > 1 else ''}")
            ax.set_xlabel("learnable parameters")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6 if len(names) <= 9 else 4.5, ncol=1 if len(names) <= 9 else 3)
        axes[row][0].set_ylabel("test accuracy (%)")
    fig.suptitle("DNN topologies (phase 1): test accuracy vs parameters, one curve per shape")
    _save(fig, path)
