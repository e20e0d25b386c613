"""The shape of every notebook as a reader meets it: short code cells, and every exercise list with its solutions."""
import json
import statistics

import pytest

from conftest import NOTEBOOKS_DIR

TEACHING = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def code_cells(path):
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_the_teaching_notebooks_are_all_here():
    assert len(TEACHING) == 13


@pytest.mark.parametrize("path", TEACHING, ids=lambda p: p.name[:2])
def test_code_cells_are_short(path):
    lengths = [len(source.splitlines()) for source in code_cells(path)]
    assert statistics.median(lengths) <= 11, f"{path.name}: median code cell {statistics.median(lengths)} lines"


@pytest.mark.parametrize("path", TEACHING, ids=lambda p: p.name[:2])
def test_exercises_come_with_solutions(path):
    markdown = [("".join(c["source"])) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]
    exercises = [i for i, text in enumerate(markdown) if "## Exercises" in text]          # ## or ###
    assert exercises, f"{path.name} has no exercises"
    assert any("<summary>Solution" in text for text in markdown[exercises[0]:]), f"{path.name}: exercises without solutions"
