"""Exceptions raised in one engine module and handled in another, defined below both so that
neither imports the other for them (``quantize`` raises ``NonFiniteRows``, ``train`` catches it)."""

from __future__ import annotations


class NonFiniteRows(ArithmeticError):
    """Seeds (rows of a stack) whose values reached a fake-quant point non-finite."""

    def __init__(self, rows: list[int]):
        super().__init__(f"non-finite values in stacked rows {rows}")
        self.rows = rows
