"""DNN hidden-layer shapes (docs/design.md §1, phase 1).

A topology name is ``L<depth>`` followed by one letter per transition between consecutive
hidden layers: ``u`` doubles the next layer, ``d`` halves it (floor, at least 1), ``e`` keeps
it. The width grid value is the first hidden layer. Square networks (phase 2) are the
``e``-only names, so they share runs with the phase-1 sweep.
"""

from __future__ import annotations

import itertools
import re

TRANSITIONS = {"u": lambda w: 2 * w, "d": lambda w: max(1, w // 2), "e": lambda w: w}
_NAME = re.compile(r"^L([1-9])([ude]*)$")


def parse(topology: str) -> tuple[int, str]:
    match = _NAME.fullmatch(topology)
    if not match or len(match.group(2)) != int(match.group(1)) - 1:
        raise ValueError(f"bad DNN topology {topology!r}: expected L<depth> and depth-1 letters of u/d/e, e.g. L3ud")
    return int(match.group(1)), match.group(2)


def hidden_widths(topology: str, width: int) -> list[int]:
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    _, steps = parse(topology)
    widths = [width]
    for step in steps:
        widths.append(TRANSITIONS[step](widths[-1]))
    return widths


def of_depth(depth: int) -> list[str]:
    """The 3**(depth-1) topologies with ``depth`` hidden layers."""
    return [f"L{depth}" + "".join(steps) for steps in itertools.product("ude", repeat=depth - 1)]


def all_topologies(max_depth: int = 4) -> list[str]:
    """Every topology of depth 1..max_depth: 1 + 3 + 9 + 27 = 40 for depth 4."""
    return [name for depth in range(1, max_depth + 1) for name in of_depth(depth)]


def square(depth: int) -> str:
    return f"L{depth}" + "e" * (depth - 1)


def depth(topology: str) -> int:
    return parse(topology)[0]
