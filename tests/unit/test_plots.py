"""plots.py: the quantization panel of a family figure shows QAT per scope and PTQ."""

from __future__ import annotations

import pandas as pd
import pytest

from minarch import plots
from minarch.regimes import summarize


def _rows(scopes=("linear", "full"), ptq=True, spread=1.0):
    train, prune, qat = [], [], []
    for width in (4, 8):
        key = {"dataset": "mnist", "arch": "vit", "topology": "enc2learned", "width": width}
        for seed in (0, 1):
            acc = 80.0 + width + spread * seed
            train.append(
                {**key, "seed": seed, "kind": "final", "n_params": 100 * width, "test_acc": acc, "train_acc": acc}
            )
            prune += [{**key, "seed": seed, "ratio": r, "test_acc": acc - 10 * r} for r in (0.0, 0.5, 1.0)]
            for i, scope in enumerate(scopes):
                row = {**key, "seed": seed, "qat_scope": scope, "float_test_acc": acc, "int8_test_acc": acc - 1 - i}
                if ptq:
                    row["ptq_int8_test_acc"] = acc - 5
                qat.append(row)
    return summarize(pd.DataFrame(train)), pd.DataFrame(prune), pd.DataFrame(qat)


@pytest.fixture
def drawn(monkeypatch):
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig))
    return figures


def _quant_panel(figures):
    [fig] = figures
    return fig.axes[2]


def test_vit_panel_has_qat_per_scope_and_ptq(drawn, tmp_path):
    regimes, prune, qat = _rows()
    plots.family_figure("vit", regimes, prune, qat, tmp_path / "fig5_vit.png")
    ax = _quant_panel(drawn)
    styles = sorted(line.get_linestyle() for line in ax.get_lines() if len(line.get_xdata()) == 2)
    assert styles == sorted(["-", "--", "-.", ":"])  # float32, QAT full, QAT linear, PTQ
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == [
        "learned positions",
        "float32",
        "int8 QAT (full scope)",
        "int8 QAT (linear scope)",
        "int8 PTQ (full scope)",
    ]
    ptq = next(line for line in ax.get_lines() if line.get_linestyle() == ":")
    assert list(ptq.get_ydata()) == [80.0 + 4 + 0.5 - 5, 80.0 + 8 + 0.5 - 5]  # mean over seeds


def test_vit_panel_of_every_scope_over_several_widths(drawn, tmp_path):
    # the attention scope's dash pattern is a tuple, no format string: a curve of several
    # widths once failed to draw it (a recorded run's fig5_vit.png)
    regimes, prune, qat = _rows(scopes=("linear", "attention", "full"))
    plots.family_figure("vit", regimes, prune, qat, tmp_path / "fig5_vit.png")
    ax = _quant_panel(drawn)
    curves = [line for line in ax.get_lines() if len(line.get_xdata()) == 2]
    assert len(curves) == 5  # float32, QAT per scope, PTQ
    means = sorted(tuple(line.get_ydata()) for line in curves)
    # PTQ (-5), QAT full (-3), attention (-2), linear (-1), float32, at widths 4 and 8
    assert means == [(84.5 + offset, 88.5 + offset) for offset in (-5, -3, -2, -1, 0)]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "int8 QAT (attention scope)" in labels


def test_panel_of_one_scope_without_ptq(drawn, tmp_path):
    regimes, prune, qat = _rows(scopes=("full",), ptq=False)
    plots.family_figure("vit", regimes, prune, qat, tmp_path / "fig5_vit.png")
    ax = _quant_panel(drawn)
    assert sorted(line.get_linestyle() for line in ax.get_lines() if len(line.get_xdata()) == 2) == ["-", "--"]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["learned positions", "float32", "int8 QAT"]


def test_panel_of_rows_written_before_scopes(drawn, tmp_path):
    regimes, prune, qat = _rows(scopes=("linear",), ptq=False)
    plots.family_figure("vit", regimes, prune, qat.drop(columns="qat_scope"), tmp_path / "fig5_vit.png")
    ax = _quant_panel(drawn)
    assert "-." in {line.get_linestyle() for line in ax.get_lines()}  # the ViT's linear-layer QAT


def test_pruning_panel_says_when_a_curve_has_no_stable_width(drawn, tmp_path):
    # seeds 3 pp apart: a std over regimes.max_std at every width, so the curve has no stable
    # width and the panel shows its widest, which the legend must not pass off as stable
    regimes, prune, qat = _rows(spread=3.0)
    assert regimes["min_stable_params"].isna().all()
    plots.family_figure("vit", regimes, prune, qat, tmp_path / "fig5_vit.png")
    [fig] = drawn
    labels = [text.get_text() for text in fig.axes[1].get_legend().get_texts()]
    assert labels[0] == "learned positions w8 (θ=800; widest, none stable)"


def test_pruning_panel_names_the_smallest_stable_width(drawn, tmp_path):
    regimes, prune, qat = _rows()
    plots.family_figure("vit", regimes, prune, qat, tmp_path / "fig5_vit.png")
    [fig] = drawn
    labels = [text.get_text() for text in fig.axes[1].get_legend().get_texts()]
    stable = regimes.loc[regimes["n_params"] == regimes["min_stable_params"]].iloc[0]
    assert labels[0] == f"learned positions w{stable.width} (θ={int(stable.n_params):,})"
