"""emokd.core.tables.markdown_table: a DataFrame as a pipe table, known answers."""

import pandas as pd

from emokd.core.tables import markdown_table


def test_markdown_table_known_answer():
    frame = pd.DataFrame({"model": ["student", "student_kd"], "CCC": ["0.310 ± 0.050", "0.320"], "n": [24, 3]},
                         index=[7, 9])  # the index is not a column of the table
    assert markdown_table(frame) == ["| model | CCC | n |", "|---|---|---|", "| student | 0.310 ± 0.050 | 24 |",
                                     "| student_kd | 0.320 | 3 |"]
    assert markdown_table(frame, right=("CCC", "n"))[1] == "|---|---:|---:|"


def test_an_empty_frame_is_its_header():
    assert markdown_table(pd.DataFrame(columns=["a", "b"])) == ["| a | b |", "|---|---|"]
