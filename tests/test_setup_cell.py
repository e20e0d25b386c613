"""Every notebook opens the same way: a title with its own Colab badge, the setup cell, the parameters."""
import re

import pytest

import export
from conftest import NOTEBOOKS, REPO_ROOT, load_notebook, source

assert NOTEBOOKS, "the series has no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_with_title_setup_and_parameters(path):
    cells = load_notebook(path)["cells"]
    title = cells[0]
    assert title["cell_type"] == "markdown" and source(title).startswith("# ")
    assert export.colab_url(path.name) in source(title), "title lacks its own Colab badge"
    code = [c for c in cells if c["cell_type"] == "code"]
    assert source(code[0]) == export.SETUP_CELL, "setup cell differs from the template: run export.py --stamp"
    assert "parameters" in code[1].get("metadata", {}).get("tags", []), "second code cell must be tagged parameters"


def test_setup_template_clones_the_one_repository_url():
    assert f'REPO_URL = "{export.REPO_URL}"' in export.SETUP_CELL
    assert export.REPO_URL == f"https://github.com/{export.GITHUB_REPO}"
    compile(export.SETUP_CELL, "<setup>", "exec")


def test_readme_links_every_notebook_to_colab():
    readme = (REPO_ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert export.colab_url(path.name) in readme, f"README lacks the Colab link of {path.name}"
    assert "GITHUB_REPO" in readme, "README must say where to change the repository for a fork"


def test_stamp_repairs_a_drifted_setup_cell(tmp_path, monkeypatch):
    path = tmp_path / NOTEBOOKS[0].name
    nb_text = NOTEBOOKS[0].read_text().replace("seed_everything(1337)", "seed_everything(7)")
    nb_text = re.sub(r"colab\.research\.google\.com/github/[^/]+/[^/]+/", "colab.research.google.com/github/x/y/", nb_text, count=1)
    path.write_text(nb_text)
    assert export.stamp(path) is True
    cells = load_notebook(path)["cells"]
    assert source([c for c in cells if c["cell_type"] == "code"][0]) == export.SETUP_CELL
    assert export.colab_url(path.name) in source(cells[0])
    assert export.stamp(path) is False
