"""topology.py: the 40 phase-1 topologies and their hidden-layer widths (DESIGN.md §1)."""

from __future__ import annotations

import itertools
import re

import pytest

from minarch import topology as topo
from minarch.config import load_schema


def reference_widths(name: str, width: int) -> list[int]:
    """Independent reading of DESIGN.md: u doubles, d halves (floor, at least 1), e keeps."""
    widths = [width]
    for letter in name[2:]:
        previous = widths[-1]
        widths.append({"u": previous * 2, "d": max(previous // 2, 1), "e": previous}[letter])
    return widths


def test_forty_topologies_one_three_nine_twentyseven_per_depth():
    names = topo.all_topologies()
    assert len(names) == 40
    per_depth = {depth: sum(1 for n in names if topo.depth(n) == depth) for depth in range(1, 5)}
    assert per_depth == {1: 1, 2: 3, 3: 9, 4: 27}


def test_every_transition_sequence_appears_exactly_once():
    names = set(topo.all_topologies())
    expected = {f"L{d}" + "".join(steps) for d in range(1, 5) for steps in itertools.product("ude", repeat=d - 1)}
    assert names == expected
    assert len(topo.all_topologies()) == len(names)  # no duplicates


def test_max_depth_argument_limits_the_sweep():
    assert topo.all_topologies(1) == ["L1"]
    assert len(topo.all_topologies(3)) == 1 + 3 + 9


def test_names_are_path_safe_readable_and_parse_back():
    for name in topo.all_topologies():
        assert re.fullmatch(r"L[1-4][ude]{0,3}", name), name
        depth, steps = topo.parse(name)
        assert depth == len(name) - 1 and steps == name[2:]


def test_names_match_the_config_schema_pattern():
    pattern = load_schema()["properties"]["families"]["properties"]["dnn"]["properties"]["topologies"]["items"][
        "pattern"
    ]
    for name in topo.all_topologies():
        assert re.search(pattern, name), name


@pytest.mark.parametrize("depth, name", [(1, "L1"), (2, "L2e"), (3, "L3ee"), (4, "L4eee")])
def test_square_topologies(depth, name):
    assert topo.square(depth) == name
    assert name in topo.all_topologies()
    assert topo.hidden_widths(name, 30) == [30] * depth


@pytest.mark.parametrize(
    "name, width, expected",
    [
        ("L1", 5, [5]),
        ("L2u", 5, [5, 10]),
        ("L2d", 5, [5, 2]),  # floor
        ("L2e", 7, [7, 7]),
        ("L3dd", 3, [3, 1, 1]),  # floor, then at least 1
        ("L3dd", 1, [1, 1, 1]),
        ("L3ud", 3, [3, 6, 3]),
        ("L3du", 3, [3, 1, 2]),
        ("L4uuu", 1, [1, 2, 4, 8]),
        ("L4ddd", 10, [10, 5, 2, 1]),
        ("L4ddd", 1000, [1000, 500, 250, 125]),
        ("L4ued", 20, [20, 40, 40, 20]),
    ],
)
def test_hidden_widths_examples(name, width, expected):
    assert topo.hidden_widths(name, width) == expected


@pytest.mark.parametrize("width", [1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 500, 1000])
def test_hidden_widths_all_topologies_match_reference(width):
    for name in topo.all_topologies():
        widths = topo.hidden_widths(name, width)
        assert widths == reference_widths(name, width), name
        assert len(widths) == topo.depth(name)
        assert min(widths) >= 1


@pytest.mark.parametrize(
    "bad", ["", "L", "L0", "L2", "L1u", "L2x", "L2U", "l2u", "L3u", "L2ue", "X2u", " L2u", "L10", "L2u/..", "L-1"]
)
def test_bad_names_rejected(bad):
    with pytest.raises(ValueError, match="topology"):
        topo.parse(bad)
    with pytest.raises(ValueError):
        topo.hidden_widths(bad, 10)


def test_trailing_newline_rejected():
    with pytest.raises(ValueError):
        topo.parse("L2u\n")


@pytest.mark.parametrize("width", [0, -3])
def test_width_below_one_rejected(width):
    with pytest.raises(ValueError, match="width"):
        topo.hidden_widths("L2e", width)
