"""Markdown tables, written one way for every report (splits, diagnosis, errors, tags,
comparisons). By hand, not with a library: a pipe table is one line of code a row, and the
reports keep their cells exactly as each module formats them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_table(header: Sequence[object], rows: Iterable[Sequence[object]], align: str = "") -> list[str]:
    """The lines of a table: ``header``, its rule, then ``rows`` (cells as ``str`` gives them).
    ``align`` holds a letter a column, ``l`` or ``r`` (numbers); columns past it are left-aligned."""
    rule = "|" + "".join("---:|" if a == "r" else "---|" for a in align.ljust(len(header), "l"))
    return [_row(header), rule, *(_row(row) for row in rows)]


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"
