"""config.py: the config schema check with one-line errors, sweep planning, seed blocks;
settings.py: typed stage settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from minarch import config as cfg
from minarch.cost import deep_merge  # as Snakemake merges --configfile over the default
from minarch.settings import PruneSettings, QATSettings, RunSpec, TrainSettings, settings_columns

ROOT = Path(__file__).resolve().parents[2]


def load_yaml(name):
    with open(ROOT / "config" / name) as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def schema():
    return cfg.load_schema()


@pytest.fixture
def full():
    return load_yaml("config.yaml")


def test_schema_path_points_at_the_workflow_schema():
    assert cfg.SCHEMA_PATH == ROOT / "workflow" / "schemas" / "config.schema.yaml"


def test_full_config_accepted(schema, full):
    cfg.check(full, schema)


def test_quick_config_accepted(schema, full):
    quick = deep_merge(full, load_yaml("quick.yaml"))
    assert quick["train"]["max_epochs"] < full["train"]["max_epochs"] and quick["prune"] == full["prune"]
    assert set(quick["families"]) == set(full["families"]) == {"dnn", "cnn", "vit"}
    cfg.check(quick, schema)


def test_minimal_config_accepted(schema):
    cfg.check({"families": {"dnn": {"datasets": ["mnist"], "topologies": ["L1"], "widths": [2], "seeds": 1}}},
              schema)


def _set(config, dotted, value):
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node[key]
    node[last] = value


@pytest.mark.parametrize(
    "dotted, value, names",
    [
        ("colour", "blue", ["colour"]),  # unknown top-level key
        ("families.dnn.depthz", [1, 2], ["families.dnn", "depthz"]),  # unknown nested key
        ("train.lr", 0.1, ["train", "lr"]),
        ("families.dnn.widths", [1, 2, -5], ["families.dnn.widths[2]", "-5"]),
        ("families.dnn.widths", [1, 0], ["families.dnn.widths[1]"]),
        ("prune.ratios", [0.0, 0.5, 1.5], ["prune.ratios[2]", "1.5"]),
        ("families.dnn.datasets", ["mnist", "svhn"], ["families.dnn.datasets[1]", "svhn"]),
        ("families.dnn.topologies", ["L1", "L2x"], ["families.dnn.topologies[1]", "L2x"]),
        ("families.dnn.topologies", ["L5uuuu"], ["families.dnn.topologies[0]", "L5uuuu"]),
        ("families.dnn.seeds", 0, ["families.dnn.seeds"]),
        ("train.max_epochs", "many", ["train.max_epochs", "many"]),
        ("data.validation_fraction", 1.0, ["data.validation_fraction"]),
        ("regimes.max_std", -1, ["regimes.max_std"]),
        ("qat.mode", "sometimes", ["qat.mode", "sometimes"]),
    ],
)
def test_bad_values_give_one_line_error_naming_the_key(schema, full, dotted, value, names):
    _set(full, dotted, value)
    with pytest.raises(cfg.ConfigError) as info:
        cfg.check(full, schema)
    message = str(info.value)
    assert "\n" not in message
    for name in names:
        assert name in message, (name, message)


def test_unknown_key_error_lists_the_known_keys(schema, full):
    full["families"]["dnn"]["depthz"] = 3
    with pytest.raises(cfg.ConfigError, match="known keys: datasets, seeds, topologies, widths"):
        cfg.check(full, schema)


def test_missing_required_key(schema, full):
    del full["families"]["dnn"]["seeds"]
    with pytest.raises(cfg.ConfigError, match="seeds") as info:
        cfg.check(full, schema)
    assert "families.dnn" in str(info.value)
    del full["families"]
    with pytest.raises(cfg.ConfigError, match="families"):
        cfg.check(full, schema)


def test_config_error_is_a_value_error():
    assert issubclass(cfg.ConfigError, ValueError)


@pytest.mark.parametrize(
    "n_seeds, per_job, expected",
    [
        (30, 0, [list(range(30))]),
        (5, 2, [[0, 1], [2, 3], [4]]),
        (4, 2, [[0, 1], [2, 3]]),
        (3, 10, [[0, 1, 2]]),
        (1, 0, [[0]]),
        (3, 1, [[0], [1], [2]]),
    ],
)
def test_seed_blocks(n_seeds, per_job, expected):
    assert cfg.seed_blocks(n_seeds, per_job) == expected


def test_family_runs_enumerates_the_sweep():
    spec = {"datasets": ["mnist", "cifar10"], "topologies": ["L1", "L2e"], "widths": [2, 10, 50], "seeds": 3}
    runs = list(cfg.family_runs("dnn", spec))
    assert len(runs) == 2 * 2 * 3 * 3 == len(set(runs))
    assert RunSpec("cifar10", "dnn", "L2e", 50, 2) in runs
    assert all(isinstance(r.width, int) and r.arch == "dnn" for r in runs)
    assert {r.seed for r in runs} == {0, 1, 2}


def test_run_directory_layout():
    spec = RunSpec("mnist", "dnn", "L3ud", 20, 7)
    assert spec.directory == Path("results/runs/mnist/dnn/L3ud/w20/seed7")
    assert spec.columns() == {"dataset": "mnist", "arch": "dnn", "topology": "L3ud", "width": 20, "seed": 7}


def test_settings_defaults_are_the_paper_recipe():
    train = TrainSettings()
    assert (train.learning_rate, train.batch_size, train.max_epochs, train.patience) == (0.001, 100, 20, 5)
    assert train.validation_fraction == 0.1
    assert PruneSettings().ratios == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    assert QATSettings().mode == "scratch" and QATSettings().backend == "qnnpack"


def test_settings_from_dict():
    assert TrainSettings.from_dict({"max_epochs": 3}).max_epochs == 3
    assert PruneSettings.from_dict({"ratios": [0, 0.5]}).ratios == (0.0, 0.5)
    with pytest.raises(ValueError, match="lr"):
        TrainSettings.from_dict({"lr": 0.1})
    with pytest.raises(ValueError, match="colour"):
        QATSettings.from_dict({"colour": 1})


def test_settings_columns():
    columns = settings_columns("prune", PruneSettings(ratios=(0.0, 0.5)))
    assert columns == {"prune_ratios": "0.0,0.5", "prune_finetune_epochs": 0}
    assert settings_columns("train", TrainSettings())["train_learning_rate"] == 0.001


@pytest.mark.parametrize("section, cls", [("train", TrainSettings), ("prune", PruneSettings), ("qat", QATSettings)])
def test_schema_defaults_equal_settings_defaults(schema, section, cls):
    properties = schema["properties"][section]["properties"]
    defaults = cls()
    shared = [name for name in properties if hasattr(defaults, name)]
    assert shared
    for name in shared:
        expected = properties[name]["default"]
        value = getattr(defaults, name)
        assert (list(value) if isinstance(value, tuple) else value) == expected, name


@pytest.mark.parametrize("family, topology", [("cnn", "conv3x3"), ("vit", "enc2")])
def test_fixed_shape_families_run_their_one_topology(schema, family, topology):
    spec = {"datasets": ["mnist"], "widths": [1, 4], "seeds": 2}
    cfg.check({"families": {family: spec}}, schema)
    runs = list(cfg.family_runs(family, spec))
    assert {r.topology for r in runs} == {topology} and len(runs) == 4
    assert cfg.topologies_of(family, spec) == [topology]


@pytest.mark.parametrize("family", ["cnn", "vit"])
def test_fixed_shape_families_take_no_topologies(schema, family):
    section = {"datasets": ["mnist"], "topologies": ["L1"], "widths": [2], "seeds": 1}
    with pytest.raises(cfg.ConfigError, match=f"families.{family}.*known keys: datasets, seeds, widths"):
        cfg.check({"families": {family: section}}, schema)


def test_unknown_family_rejected(schema):
    with pytest.raises(cfg.ConfigError, match="known keys: cnn, dnn, vit"):
        cfg.check({"families": {"resnet": {"datasets": ["mnist"], "widths": [2], "seeds": 1}}}, schema)
