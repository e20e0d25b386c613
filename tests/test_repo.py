"""The repository's shape: the layout of DESIGN.md, and CI running exactly the README's test command."""
import subprocess

from conftest import REPO_ROOT


def test_top_level_layout():
    for name in ("README.md", "requirements.txt", "notebooks", "data", "assets", "tests", ".ci/run", ".gitignore",
                 "notebooks/export.py", "notebooks/run.py", "notebooks/rawllm", "tests/requirements.txt"):
        assert (REPO_ROOT / name).exists(), name


def test_ci_runs_the_readme_test_command():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    extracted = subprocess.run(["sed", "-n", "/<!-- test-command -->/{n;n;p;q;}", "README.md"], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    assert extracted.startswith("pip install -r tests/requirements.txt") and "pytest" in extracted
    assert extracted in (REPO_ROOT / "README.md").read_text()
    assert "set -euo pipefail" in ci and "<!-- test-command -->" in ci
    assert ci.index("torch==2.13.0") < ci.index("-r requirements.txt"), "CPU torch must be installed first"


def test_requirements_accept_colab_widgets():
    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    widgets = next(line for line in lines if line.startswith("ipywidgets"))
    assert ">=7.6" in widgets, "Colab ships ipywidgets 7.7.1; the range must accept it"
    assert "-r ../requirements.txt" in (REPO_ROOT / "tests" / "requirements.txt").read_text()
