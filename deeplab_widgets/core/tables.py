"""The one way the package renders a table as text: fixed-width for terminals, or Markdown for notebooks.

Callers turn their rows into strings; these two functions only lay the cells out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def text_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, left: Collection[int] = (0,), rule: bool = True
) -> str:
    """A fixed-width table: a header line, a dashed rule (unless `rule=False`), then one line per row.

    Columns are as wide as their widest cell and two spaces apart; the columns whose indexes are in `left`
    are left-aligned (text), the others right-aligned (numbers). Trailing blanks are stripped.

    Args:
        header: The column titles.
        rows: The cells, as text, one sequence per row.
        left: Indexes of the left-aligned columns.
        rule: Draw the dashed rule under the header.
    """
    cells = [list(header), *(list(r) for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        parts = [c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(parts).rstrip()

    ruler = ["  ".join("-" * w for w in widths)] if rule else []
    return "\n".join([line(cells[0]), *ruler, *(line(r) for r in cells[1:])])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table (for notebooks and documentation).

    Args:
        header: The column titles.
        rows: The cells, as text, one sequence per row.
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
