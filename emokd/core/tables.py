"""A DataFrame as a Markdown (GitHub) pipe table, with no package beyond pandas' own objects.

``pandas.DataFrame.to_markdown`` needs tabulate, which emokd does not depend on, and pads every
cell; :func:`markdown_table` writes each cell as it is (``str``), so a table's lines are
short and stable under diffs::

    markdown_table(pd.DataFrame({"model": ["student"], "CCC": ["0.31 ± 0.05"]}), right=("CCC",))
    # ['| model | CCC |', '|---|---:|', '| student | 0.31 ± 0.05 |']

Format the numbers first (a column of strings): the table shows what the frame holds.
"""

from __future__ import annotations

__all__ = ["markdown_table"]


def markdown_table(frame, *, right=()) -> list[str]:
    """The lines of a pipe table: the header (``frame``'s column names), the separator (``---:`` for the
    columns named in ``right``, which Markdown aligns right) and one line per row; the index is left out."""
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    sep = "|" + "".join("---:|" if c in right else "---|" for c in frame.columns)
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return [head, sep, *rows]
