"""registry.py: the built-in families and datasets, registering more, plugins, and what the
config schema and the Snakefile derive from it."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import pytest

from minarch import config, registry, settings


@pytest.fixture
def toy(monkeypatch):
    """A family 'toy' and a dataset 'toy4', registered for this test only."""
    family = dataclasses.replace(registry.family("cnn"), name="toy", figure="fig9_toy", title="Toy")
    dataset = dataclasses.replace(registry.dataset("mnist"), name="toy4", title="Toy-4", image_shape=(1, 4, 4))
    monkeypatch.setitem(registry.families(), "toy", family)
    monkeypatch.setitem(registry.datasets(), "toy4", dataset)
    return family, dataset


def test_the_built_in_entries_in_the_papers_order():
    assert list(registry.families())[:3] == ["dnn", "cnn", "vit"]
    assert list(registry.datasets())[:3] == ["mnist", "fashion_mnist", "cifar10"]
    assert [f.figure for f in list(registry.families().values())[:3]] == ["fig3_dnn", "fig4_cnn", "fig5_vit"]
    assert registry.family("vit").input_shape((3, 32, 32)) == (3, 28, 28)
    assert registry.family("cnn").input_shape((3, 32, 32)) == (3, 32, 32)
    assert registry.dataset("cifar10").expected_shapes == {"x_train": (50000, 32, 32, 3), "x_test": (10000, 32, 32, 3)}
    assert registry.dataset("mnist").images == 70_000


def test_unknown_names_and_a_second_entry_of_a_name_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown architecture 'mlp'; known: dnn, cnn, vit"):
        registry.family("mlp")
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        registry.dataset("svhn")
    with pytest.raises(ValueError, match="a family named 'dnn' is registered already"):
        registry.register_family(dataclasses.replace(registry.family("dnn"), title="Other"))
    registry.register_family(registry.family("dnn"))  # the same entry again (a module imported twice) is fine
    with pytest.raises(ValueError, match="named fig<number>_x"):
        dataclasses.replace(registry.family("dnn"), name="x")
    with pytest.raises(ValueError, match=r"stack_max_width keys .* not \['qat.lineer'\]"):
        dataclasses.replace(registry.family("vit"), stack_max_width={"train": 8, "qat.lineer": 12})


def test_wildcard_pattern_matches_exactly_the_names():
    pattern = registry.wildcard_pattern(["mnist", "fashion_mnist", "cifar10"])
    assert all(re.fullmatch(pattern, name) for name in ("mnist", "fashion_mnist", "cifar10"))
    assert not re.fullmatch(pattern, "emnist")


def test_the_schema_names_registered_datasets_and_gives_a_new_family_a_section(toy):
    schema = settings.load_schema()
    assert schema["definitions"]["dataset"]["enum"][-1] == "toy4"
    section = schema["properties"]["families"]["properties"]["toy"]
    assert section["required"] == ["datasets", "widths", "seeds"]
    layer = {"families": {"toy": {"datasets": ["toy4"], "widths": [2], "seeds": 1}}}
    checked = config.prepare(config.merge_layers({}, layer), schema, [layer])
    assert config.sweeps(checked)["toy"]["topologies"] == ["conv3x3"]  # its entry's topologies


def test_with_defaults_fills_the_schema_defaults_at_every_level():
    schema = settings.load_schema()
    layer = {"families": {"vit": {"datasets": ["mnist"], "widths": [2], "seeds": 1}}}
    filled = config.with_defaults(config.prepare(config.merge_layers({}, layer), schema, [layer]), schema)
    assert filled["families"]["vit"]["positions"] == ["learned"]
    assert filled["train"]["max_epochs"] == settings.schema_default("train", "max_epochs")
    assert filled["cluster"]["gpu"] == {"gpu_model": None, "gres": None, "slurm_partition": None}


def run_with_plugins(plugins: str, code: str) -> subprocess.CompletedProcess:
    env = {"MINARCH_PLUGINS": plugins, "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_a_plugin_named_in_the_environment_registers_its_entries(tmp_path):
    (tmp_path / "my_family.py").write_text(
        "import dataclasses\n"
        "from minarch import registry\n"
        "registry.register_family(dataclasses.replace(registry.family('dnn'), name='mine', figure='fig7_mine'))\n"
    )
    env_path = f"{tmp_path}:" + ":".join(sys.path)
    env = {"MINARCH_PLUGINS": "my_family", "PATH": "/usr/bin:/bin", "PYTHONPATH": env_path}
    code = "from minarch import registry; print(list(registry.families()))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.stdout.split() == ["['dnn',", "'cnn',", "'vit',", "'mine']"], result.stderr
    missing = run_with_plugins("no_such_plugin", code)
    assert "MINARCH_PLUGINS names 'no_such_plugin', which is not importable" in missing.stderr
