"""Drawn figures: every one embedded in its notebook equals its drawing in assets/, and redrawing works."""
import base64
import json
import subprocess
import sys

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "assets"))
import figures  # noqa: E402


def test_embedded_figures_match_their_sources():
    assert figures.stale() == []


def test_the_check_command_fails_on_a_stale_figure(tmp_path, monkeypatch):
    name, (notebooks, _) = next(iter(figures.FIGURES.items()))
    for notebook in {nb for shown_in, _ in figures.FIGURES.values() for nb in shown_in}:
        nb = json.loads((figures.NOTEBOOKS / notebook).read_text())
        if notebook == notebooks[0]:
            cell = figures.attachment_cells(nb, name)[0]
            cell["attachments"][f"{name}.png"]["image/png"] = base64.b64encode(b"not the figure").decode()
        (tmp_path / notebook).write_text(json.dumps(nb))
    monkeypatch.setattr(figures, "NOTEBOOKS", tmp_path)
    assert figures.stale() == [f"{notebooks[0]}: {name}.png"]


def test_every_figure_draws(tmp_path, monkeypatch):
    monkeypatch.setattr(figures, "ASSETS", tmp_path)
    for name in figures.FIGURES:
        path = figures.draw(name)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_check_command_exit_status():
    assert subprocess.run([sys.executable, str(REPO_ROOT / "assets" / "figures.py"), "--check"]).returncode == 0


def test_every_notebook_shows_at_least_four_drawn_figures():
    counts = {}
    for name, (notebooks, _) in figures.FIGURES.items():
        for notebook in notebooks:
            counts[notebook] = counts.get(notebook, 0) + 1
    series = sorted(p.name for p in figures.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert len(series) == 13
    assert {nb: counts.get(nb, 0) for nb in series if counts.get(nb, 0) < 4} == {}


def test_every_attachment_in_a_notebook_is_a_registered_figure():
    """A picture pasted into a notebook by hand has no source in assets/: every attachment must be drawn here."""
    registered = {(nb, f"{name}.png") for name, (notebooks, _) in figures.FIGURES.items() for nb in notebooks}
    for path in sorted(figures.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for c in json.loads(path.read_text())["cells"]:
            for attachment in c.get("attachments", {}):
                assert (path.name, attachment) in registered, f"{path.name}: {attachment} has no source in assets/"
