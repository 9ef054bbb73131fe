"""config.py: the config schema check with one-line errors, sweep planning, seed blocks;
settings.py: typed stage settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from minarch import config as cfg
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
    quick = cfg.merge_layers(full, load_yaml("quick.yaml"))
    assert quick["train"]["max_epochs"] < full["train"]["max_epochs"] and quick["prune"] == full["prune"]
    assert set(quick["families"]) == set(full["families"]) == {"dnn", "cnn", "vit"}
    assert quick["topology_sweep"]["depths"] == [1, 2]  # its own phase 1, as its comment says
    cfg.check(quick, schema)


def test_minimal_config_accepted(schema):
    cfg.check({"families": {"dnn": {"datasets": ["mnist"], "topologies": ["L1"], "widths": [2], "seeds": 1}}}, schema)


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
    # W8A8, "weights and activations" (paper Sec. III-A): every activation of the ViT; and the
    # post-training baseline on 10 training batches
    assert QATSettings().scope == ("full",) and QATSettings().ptq and QATSettings().ptq_batches == 10


def test_qat_scopes_per_family():
    from minarch.settings import qat_params, qat_scopes

    assert qat_scopes("vit", ["linear", "full"]) == ("linear", "full")
    assert qat_scopes("dnn", ["linear"]) == qat_scopes("cnn", ["linear", "full"]) == ("full",)
    qat = {"mode": "scratch", "scope": ["linear", "full"], "ptq": True}
    assert qat_params(qat, "vit")["scope"] == ["linear", "full"]
    # the DNN's and CNN's QAT jobs never see the ViT's scopes: editing them does not rerun those
    assert qat_params(qat, "cnn") == {"mode": "scratch", "scope": ["full"], "ptq": True}
    assert QATSettings.from_dict({"scope": ["linear", "full"]}).scope == ("linear", "full")


def test_settings_from_dict():
    assert TrainSettings.from_dict({"max_epochs": 3}).max_epochs == 3
    assert PruneSettings.from_dict({"ratios": [0, 0.5]}).ratios == (0.0, 0.5)
    with pytest.raises(ValueError, match="lr"):
        TrainSettings.from_dict({"lr": 0.1})
    with pytest.raises(ValueError, match="colour"):
        QATSettings.from_dict({"colour": 1})


@pytest.mark.parametrize("scope", [[], ["linear", "linear"], ["norm"], "full"])
def test_bad_qat_scope_rejected(schema, scope):
    with pytest.raises(cfg.ConfigError):
        cfg.check(
            {"qat": {"scope": scope}, "families": {"vit": {"datasets": ["mnist"], "widths": [4], "seeds": 1}}}, schema
        )


def test_settings_columns():
    columns = settings_columns("prune", PruneSettings(ratios=(0.0, 0.5)))
    assert columns == {"prune_ratios": "0.0,0.5", "prune_finetune_epochs": 0}
    assert settings_columns("train", TrainSettings())["train_learning_rate"] == 0.001


@pytest.mark.parametrize("section, cls", [("train", TrainSettings), ("prune", PruneSettings), ("qat", QATSettings)])
def test_settings_defaults_are_read_from_the_schema(monkeypatch, schema, section, cls):
    # the schema is the one source: change a default there and the settings follow
    import copy

    from minarch import settings

    changed = copy.deepcopy(schema["properties"])
    key = {"train": "max_epochs", "prune": "finetune_epochs", "qat": "finetune_epochs"}[section]
    changed[section]["properties"][key]["default"] = 7
    changed["data"]["properties"]["validation_fraction"]["default"] = 0.25
    monkeypatch.setattr(settings, "_schema_sections", lambda: changed)
    assert getattr(cls(), key) == 7
    assert getattr(cls(**{key: 2}), key) == 2
    if cls is TrainSettings:
        assert cls().validation_fraction == 0.25  # from the data section


def test_every_settings_field_has_a_schema_default():
    from minarch import settings

    for cls in (TrainSettings, PruneSettings, QATSettings):
        cls()  # a field without a schema default would raise here
    with pytest.raises(KeyError, match="train.colour"):
        settings.schema_default("train", "colour")


@pytest.mark.parametrize("family, topology", [("cnn", "conv3x3"), ("vit", "enc2learned")])
def test_fixed_shape_families_run_their_one_topology(schema, family, topology):
    spec = {"datasets": ["mnist"], "widths": [1, 4], "seeds": 2}
    cfg.check({"families": {family: spec}}, schema)
    runs = list(cfg.family_runs(family, spec))
    assert {r.topology for r in runs} == {topology} and len(runs) == 4
    assert cfg.topologies_of(family, spec) == [topology]


@pytest.mark.parametrize("family, known", [("cnn", "datasets, seeds, widths"), ("vit", "datasets, positions, seeds")])
def test_fixed_shape_families_take_no_topologies(schema, family, known):
    section = {"datasets": ["mnist"], "topologies": ["L1"], "widths": [2], "seeds": 1}
    with pytest.raises(cfg.ConfigError, match=f"families.{family}.*known keys: {known}"):
        cfg.check({"families": {family: section}}, schema)


def test_vit_position_embeddings_are_topologies_of_their_own(schema):
    spec = {"datasets": ["mnist"], "widths": [4], "seeds": 2, "positions": ["learned", "sinusoidal"]}
    cfg.check({"families": {"vit": spec}}, schema)
    assert cfg.topologies_of("vit", spec) == ["enc2learned", "enc2"]
    assert {r.topology for r in cfg.family_runs("vit", spec)} == {"enc2", "enc2learned"}
    with pytest.raises(cfg.ConfigError, match="positions"):
        cfg.check({"families": {"vit": {**spec, "positions": ["rotary"]}}}, schema)


def test_unknown_family_rejected(schema):
    with pytest.raises(cfg.ConfigError, match="known keys: cnn, dnn, vit"):
        cfg.check({"families": {"resnet": {"datasets": ["mnist"], "widths": [2], "seeds": 1}}}, schema)


# ---------------------------------------------------------------------------- a user's config means what it says
DNN_ONLY = {"families": {"dnn": {"datasets": ["mnist"], "topologies": ["L1"], "widths": [4, 16], "seeds": 2}}}
CNN_ONLY = {"families": {"cnn": {"datasets": ["fashion_mnist"], "widths": [2], "seeds": 3}}}


def as_run(full, schema, *layers):
    """The config a run gets: Snakemake's key-by-key merge of the layers over the default,
    then ``prepare`` (sweep whole, numbers, check)."""
    merged = full
    for layer in layers:
        merged = cfg.deep_merge(merged, layer)
    return cfg.prepare(merged, schema, layers)


def test_load_config_merges_a_config_as_the_workflow_does(tmp_path, schema, full):
    path = tmp_path / "dnn.yaml"
    path.write_text(yaml.safe_dump(DNN_ONLY))
    config = cfg.load_config(path)
    run = as_run(full, schema, DNN_ONLY)
    assert config["families"] == run["families"] and cfg.TOPOLOGY_SWEEP not in config
    assert cfg.deep_merge({"a": {"x": 1, "y": 2}, "b": [1]}, {"a": {"y": 3}, "b": [2]}) == {
        "a": {"x": 1, "y": 3},
        "b": [2],
    }


def test_a_bad_config_is_one_line_naming_the_key(tmp_path):
    bad = {"families": {"dnn": {**DNN_ONLY["families"]["dnn"], "widths": [5.0]}}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(cfg.ConfigError, match=r"families\.dnn\.widths\[0\]"):
        cfg.load_config(path)


def test_a_config_naming_one_family_runs_only_it_without_phase_1(schema, full):
    run = as_run(full, schema, DNN_ONLY)
    assert list(run["families"]) == ["dnn"] and cfg.TOPOLOGY_SWEEP not in run
    assert set(cfg.sweeps(run)) == {"dnn"}
    assert {entry["train"] for entry in cfg.configurations(run).values()} == {2}  # not the default's 30 (phase 1's)
    assert run["train"] == full["train"]  # the other sections still merge key by key
    assert as_run(full, schema, CNN_ONLY)["families"] == CNN_ONLY["families"]


def test_a_family_section_is_replaced_whole_not_merged(schema, full):
    layer = {"families": {"dnn": {"datasets": ["mnist"], "topologies": ["L1"], "widths": [3], "seeds": 1}}}
    run = as_run(full, schema, DNN_ONLY, layer)  # the later file wins for the sweep
    assert run["families"] == layer["families"]


def test_topology_sweep_null_turns_phase_1_off(schema, full):
    quick = load_yaml("quick.yaml")
    run = as_run(full, schema, quick, {cfg.TOPOLOGY_SWEEP: None})
    assert cfg.TOPOLOGY_SWEEP not in run and run["families"] == quick["families"]
    # alone: the default's families without phase 1
    run = as_run(full, schema, {cfg.TOPOLOGY_SWEEP: None})
    assert run["families"] == full["families"] and set(cfg.sweeps(run)) == {"dnn", "cnn", "vit"}


def test_config_naming_no_sweep_keeps_the_default_sweep(schema, full):
    run = as_run(full, schema, {"train": {"max_epochs": 3}})
    assert run["families"] == full["families"] and run[cfg.TOPOLOGY_SWEEP] == full[cfg.TOPOLOGY_SWEEP]
    assert run["train"]["max_epochs"] == 3


def test_merge_layers_matches_snakemake_merge_then_prepare(schema, full):
    assert cfg.check(cfg.merge_layers(full, DNN_ONLY), schema) is None
    assert cfg.merge_layers(full, DNN_ONLY)["families"] == DNN_ONLY["families"]
    assert cfg.TOPOLOGY_SWEEP not in cfg.merge_layers(full, DNN_ONLY)


def test_numbers_written_as_strings_are_numbers(schema, full):
    # PyYAML (YAML 1.1) reads 1e-3 as a string; --config reads every nested value as one
    assert yaml.safe_load("learning_rate: 1e-3")["learning_rate"] == "1e-3"
    layer = {
        "train": {"learning_rate": "1e-3", "max_epochs": "2"},
        "prune": {"ratios": ["0", "5e-1", "1"]},
        "families": {"dnn": {"datasets": ["mnist"], "topologies": ["L1"], "widths": ["4"], "seeds": "2"}},
    }
    run = as_run(full, schema, layer)
    assert run["train"]["learning_rate"] == 0.001 and run["train"]["max_epochs"] == 2
    assert run["prune"]["ratios"] == [0.0, 0.5, 1.0]
    assert run["families"]["dnn"]["widths"] == [4] and run["families"]["dnn"]["seeds"] == 2
    assert as_run(full, schema, {cfg.TOPOLOGY_SWEEP: "null"}).get(cfg.TOPOLOGY_SWEEP) is None  # --config key=null


def test_coerce_leaves_strings_the_schema_wants_and_non_numbers(schema, full):
    assert cfg.coerce({"data": {"mirror": "123"}}, schema) == {"data": {"mirror": "123"}}
    with pytest.raises(cfg.ConfigError, match="train.learning_rate.*'fast'"):
        as_run(full, schema, {"train": {"learning_rate": "fast"}})
    with pytest.raises(cfg.ConfigError, match=r"families.dnn.widths\[0\].*'5.0'"):  # an integer key takes no "5.0"
        as_run(full, schema, {"families": {"dnn": {**DNN_ONLY["families"]["dnn"], "widths": ["5.0"]}}})


@pytest.mark.parametrize(
    "dotted, value, name",
    [
        ("families.dnn.widths", [5.0], "families.dnn.widths[0]"),
        ("families.cnn.widths", [2, 4.0], "families.cnn.widths[1]"),
        ("topology_sweep.widths", [1.0], "topology_sweep.widths[0]"),
        ("families.vit.seeds", 2.0, "families.vit.seeds"),
        ("train.max_epochs", 1.0, "train.max_epochs"),
    ],
)
def test_floats_are_not_integers(schema, full, dotted, value, name):
    _set(full, dotted, value)
    with pytest.raises(cfg.ConfigError, match="is not of type 'integer'") as info:
        cfg.check(full, schema)
    assert name in str(info.value) and "\n" not in str(info.value)


def test_prune_ratios_must_include_zero(schema, full):
    full["prune"]["ratios"] = [0.5, 1.0]
    with pytest.raises(cfg.ConfigError) as info:
        cfg.check(full, schema)
    message = str(info.value)
    assert message.startswith("config error at prune.ratios: [0.5, 1.0]") and "0.0" in message and "\n" not in message
    full["prune"]["ratios"] = [0, 1.0]  # an integer 0 is 0.0
    cfg.check(full, schema)


@pytest.mark.parametrize(
    "text, line",
    [
        ("train:\n  max_epochs: 1\nfamilies:\n  dnn: {datasets: [mnist\n", 5),  # unclosed flow sequence
        ("train:\n  max_epochs: 1\n   batch_size: 10\n", 3),  # bad indentation
        ("train: {max_epochs: 1}\n\tfamilies: {}\n", 2),  # a tab
    ],
)
def test_yaml_syntax_error_names_file_and_line(tmp_path, text, line):
    path = tmp_path / "my.yaml"
    path.write_text(text)
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load_yaml(path)
    message = str(info.value)
    assert f"{path}, line {line}," in message and "YAML" in message and "\n" not in message
    assert cfg.yaml_syntax_error(path) == message


def test_yaml_syntax_error_none_for_good_or_missing_file(tmp_path):
    assert cfg.yaml_syntax_error(ROOT / "config" / "config.yaml") is None
    assert cfg.yaml_syntax_error(tmp_path / "absent.yaml") is None


def test_plan_summary_says_what_runs(schema, full):
    run = as_run(full, schema, {**DNN_ONLY, "train": {"max_epochs": 3}})
    line = cfg.plan_summary(run)
    assert "\n" not in line
    assert "dnn [mnist; L1; widths 4, 16; 2 seeds]" in line and "no phase 1" in line and "max_epochs 3" in line
    assert line.endswith("4 training runs") and "cnn" not in line and "vit" not in line
    with_jobs = cfg.plan_summary(run, {"runs": 4, "train": 2, "prune": 1, "qat": 2})
    assert with_jobs.startswith(line) and "4 training runs in 2 train + 1 prune + 2 qat jobs" in with_jobs


def test_plan_summary_counts_phase_1_and_shared_runs(schema, full):
    quick = as_run(full, schema, load_yaml("quick.yaml"))
    line = cfg.plan_summary(quick)
    assert "phase 1 [mnist; depths 1, 2 (4 shapes); widths 5, 50; 2 seeds]" in line
    # 24 family configurations + the 4 phase-1 shapes the DNN family lacks (L2u, L2d x 2 widths)
    assert "56 training runs" in line


def test_command_line_prints_the_plan_or_one_line(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(DNN_ONLY))
    assert cfg.main([str(good)]) == 0
    assert capsys.readouterr().out.startswith("minarch plan: dnn [mnist; L1; widths 4, 16; 2 seeds], no phase 1")
    bad = tmp_path / "bad.yaml"
    bad.write_text("families:\n  dnn: {datasets: [mnist\n")
    assert cfg.main([str(good), str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"config error in {bad}, line 3,") and "line 2" in err and "\n" not in err
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("families: {dnn: {datasets: [mnist], topologies: [L1], widths: [5.0], seeds: 2}}\n")
    assert cfg.main([str(wrong)]) == 1
    assert "config error at families.dnn.widths[0]" in capsys.readouterr().err


# --------------------------------------------------------------------------- train.device without a GPU
def test_cuda_without_a_gpu_stops_in_one_line_where_jobs_run_here(monkeypatch):
    monkeypatch.setattr(cfg, "cuda_available", lambda: False)
    with pytest.raises(cfg.DeviceError) as info:
        cfg.check_device({"train": {"device": "cuda"}})
    message = str(info.value)
    assert "\n" not in message and "train.device is 'cuda'" in message and "no CUDA GPU" in message
    assert isinstance(info.value, cfg.ConfigError)  # jobs.run_job reports it as one line
    cfg.check_device({"train": {"device": "cuda"}}, local=False)  # a cluster's nodes decide there
    cfg.check_device({"train": {"device": "auto"}})
    cfg.check_device({"train": {"device": "cpu"}})
    monkeypatch.setattr(cfg, "cuda_available", lambda: True)
    cfg.check_device({"train": {"device": "cuda"}})


def test_check_device_asks_torch_only_for_cuda(monkeypatch):
    def asked():
        raise AssertionError("torch asked about CUDA for a config that does not use it")

    monkeypatch.setattr(cfg, "cuda_available", asked)
    cfg.check_device({"train": {"device": "auto"}})
    cfg.check_device({})
