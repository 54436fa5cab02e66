"""The one markdown table writer of every report."""

from detkit.markdown import markdown_table


def test_a_table_has_its_header_rule_alignment_and_cells_as_given():
    lines = markdown_table(["class", "AP", ""], [["cat", "0.500", 3], ["dog", "—", ""]], "lr")
    assert lines == ["| class | AP |  |", "|---|---:|---|", "| cat | 0.500 | 3 |", "| dog | — |  |"]
    assert markdown_table(["a"], []) == ["| a |", "|---|"], "no rows: header and rule"
