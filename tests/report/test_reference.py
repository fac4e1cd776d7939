"""The paper's reference numbers have one home, and the report layer imports downward only."""

import ast
from pathlib import Path

from mvlib.report import figure2, prose, reference, tables

MVLIB = Path(__file__).resolve().parents[2] / "mvlib"
REPORT = MVLIB / "report"


def test_paper_numbers_live_in_reference_and_are_the_same_objects_everywhere():
    assert figure2.PAPER_TABLE2 is reference.PAPER_TABLE2
    assert prose.PAPER_TABLE1 is reference.PAPER_TABLE1
    for f in sorted(MVLIB.rglob("*.py")):  # one home: no other module defines or re-exports them
        if f != REPORT / "reference.py":
            for node in ast.parse(f.read_text()).body:
                if isinstance(node, ast.Assign):
                    names = {t.id for t in node.targets if isinstance(t, ast.Name)}
                    assert not names & {"PAPER_TABLE1", "PAPER_TABLE2"}, f
                    if "__all__" in names:
                        listed = {getattr(e, "value", None) for e in node.value.elts}
                        assert not listed & {"PAPER_TABLE1", "PAPER_TABLE2"}, f
    assert reference.PAPER_TABLE1["multiview (best)"] == (0.633, 0.735)
    assert set(reference.PAPER_TABLE1) == set(tables.table1_rows("x"))
    assert set(reference.PAPER_TABLE2) <= set(tables.table2_rows())
    assert "2510.02500" in reference.PAPER


def test_report_imports_mvlib_at_module_top_and_never_a_higher_layer():
    for f in sorted(REPORT.glob("*.py")):
        tree = ast.parse(f.read_text())
        top = set(id(n) for n in tree.body)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mvlib"):
                assert id(node) in top, f"{f.name}:{node.lineno}: function-level mvlib import"
                assert not node.module.startswith(
                    ("mvlib.sweep", "mvlib.workflow", "mvlib.cli", "mvlib.compare")
                ), f"{f.name}:{node.lineno}: report imports {node.module}"
                names = {a.name for a in node.names}
                assert node.module != "mvlib" or not names & {"sweep", "workflow", "cli"}, f.name
        assert len(f.read_text().splitlines()) <= 600, f"{f.name} is over 600 lines"
