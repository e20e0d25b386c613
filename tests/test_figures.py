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
