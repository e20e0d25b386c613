"""Shared fixtures: the repository's paths, and the notebooks of the series."""
import json
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))

sys.path.insert(0, str(NOTEBOOKS_DIR))  # for `import export` and `import run`


def load_notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Artifacts written by tests go to a throwaway cache folder, never the user's `.cache/`."""
    cache = tmp_path_factory.getbasetemp() / "rawllm-cache"
    monkeypatch.setenv("RAWLLM_CACHE", str(cache))
    import rawllm.core
    monkeypatch.setattr(rawllm.core, "CACHE_DIR", cache)
    return cache
