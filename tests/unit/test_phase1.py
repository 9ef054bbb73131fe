"""Phase 1: topology generation by depth, the sweep's runs shared with phase 2, the topology
table, the shape-invariance table and Fig. 2b."""

from __future__ import annotations

import pandas as pd
import pytest

from minarch import config as cfg
from minarch import topology as topo
from minarch.phase1 import decade, invariance, topology_table
from minarch.plots import topology_figure


@pytest.mark.parametrize("depth, count", [(1, 1), (2, 3), (3, 9), (4, 27)])
def test_of_depth_counts_and_names(depth, count):
    names = topo.of_depth(depth)
    assert len(names) == len(set(names)) == count
    assert all(topo.depth(name) == depth for name in names)
    assert topo.square(depth) in names


def test_forty_topologies_with_the_papers_width_rules():
    names = topo.all_topologies()
    assert len(names) == 40 and names == [n for d in range(1, 5) for n in topo.of_depth(d)]
    assert topo.hidden_widths("L4udu", 5) == [5, 10, 5, 10]
    assert topo.hidden_widths("L3dd", 3) == [3, 1, 1]  # floor, at least 1
    assert topo.hidden_widths("L2e", 7) == [7, 7]


def sweep_config(dnn_seeds=2, sweep_seeds=3):
    return {
        "families": {
            "dnn": {"datasets": ["mnist"], "topologies": ["L1", "L2e"], "widths": [5], "seeds": dnn_seeds},
            "cnn": {"datasets": ["mnist"], "widths": [2], "seeds": 4},
        },
        "topology_sweep": {"datasets": ["mnist"], "depths": [1, 2], "widths": [5, 50], "seeds": sweep_seeds},
    }


def test_sweep_square_runs_are_the_phase2_runs(tmp_path):
    config = sweep_config()
    sweeps = cfg.sweeps(config)
    assert sweeps["topology_sweep"]["arch"] == "dnn"
    assert sweeps["topology_sweep"]["topologies"] == ["L1", "L2u", "L2d", "L2e"]
    phase1 = {r.directory for r in cfg.family_runs("dnn", sweeps["topology_sweep"])}
    phase2 = {r.directory for r in cfg.family_runs("dnn", sweeps["dnn"])}
    assert phase2 <= phase1  # every square phase-2 run is a phase-1 run: the same files
    assert len(phase1 | phase2) == 4 * 2 * 3  # square runs counted once
    # a square run of both phases is trained for the larger seed count, pruned and quantised
    # for the family's
    square = cfg.configurations(config)[("mnist", "dnn", "L1", 5)]
    assert (square["train"], square["staged"], square["sweeps"]) == (3, 2, ["dnn", "topology_sweep"])
    del config["topology_sweep"]
    assert "topology_sweep" not in cfg.sweeps(config)
    assert cfg.configurations(config)[("mnist", "dnn", "L1", 5)] == {"train": 2, "staged": 2, "sweeps": ["dnn"]}


def test_schema_checks_the_sweep_section():
    schema = cfg.load_schema()
    cfg.check(sweep_config(), schema)
    bad = sweep_config()
    bad["topology_sweep"]["depths"] = [5]
    with pytest.raises(cfg.ConfigError, match=r"topology_sweep\.depths\[0\]"):
        cfg.check(bad, schema)


def finals_frame(means: dict[tuple[str, int], list[float]], n_params: dict[tuple[str, int], int]) -> pd.DataFrame:
    rows = []
    for (topology, width), accs in means.items():
        for seed, acc in enumerate(accs):
            rows.append(
                {
                    "kind": "final",
                    "dataset": "mnist",
                    "arch": "dnn",
                    "topology": topology,
                    "width": width,
                    "seed": seed,
                    "n_params": n_params[(topology, width)],
                    "test_acc": acc,
                    "train_acc": acc + 0.5,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def table():
    accs = {
        ("L1", 2): [60.0, 70.0],
        ("L1", 50): [95.0, 95.2],
        ("L2u", 2): [40.0, 45.0],
        ("L2u", 50): [95.5, 95.7],
        ("L2d", 2): [30.0, 50.0],
        ("L2d", 50): [94.9, 95.3],
    }
    params = {
        ("L1", 2): 1600,
        ("L1", 50): 39760,
        ("L2u", 2): 1610,
        ("L2u", 50): 44860,
        ("L2d", 2): 1597,
        ("L2d", 50): 41285,
    }
    return topology_table(finals_frame(accs, params))


def test_topology_table(table):
    assert list(table.columns[:4]) == ["dataset", "arch", "topology", "depth"]
    assert len(table) == 6 and set(table["depth"]) == {1, 2}
    row = table[(table["topology"] == "L2u") & (table["width"] == 50)].iloc[0]
    assert row["test_acc_mean"] == pytest.approx(95.6) and row["n_params"] == 44860
    assert row["regime"] == "learning"
    assert set(table.loc[table["width"] == 2, "regime"]) == {"unstable"}


def test_decade():
    assert decade([9, 10, 999, 1000, 39760]).tolist() == [0, 1, 2, 3, 4]


def test_invariance_spreads_per_depth_and_decade(table):
    spread = invariance(table, tolerance=1.0).set_index(["depth", "decade"])
    small, large = spread.loc[(2, 3)], spread.loc[(2, 4)]
    assert small["spread_pp"] == pytest.approx(42.5 - 40.0)
    assert (small["best_topology"], small["worst_topology"]) == ("L2u", "L2d")
    assert large["spread_pp"] == pytest.approx(95.6 - 95.1)
    assert large["n_topologies"] == 2 and large["params_from"] == 10_000
    assert bool(large["shape_invariant"]) and not bool(small["shape_invariant"])
    # depth 1 has a single topology: nothing to compare
    assert not spread.loc[(1, 4), "shape_invariant"] and spread.loc[(1, 4), "spread_pp"] == 0
    assert not invariance(table, tolerance=0.1).loc[lambda t: t["depth"] == 2, "shape_invariant"].any()


def test_topology_figure_writes_a_png(tmp_path, table):
    path = tmp_path / "fig2b.png"
    topology_figure(table, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
