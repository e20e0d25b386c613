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


def test_ci_runs_the_series_on_the_runtime_requirements_alone():
    """A runtime dependency missing from requirements.txt must fail CI: the smoke run of the series comes after
    installing requirements.txt and before the test requirements (which pull in more) are installed."""
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    smoke = ci.index("python notebooks/run.py --smoke --output")
    assert ci.index("pip install --quiet -r requirements.txt") < smoke < ci.index('bash -euo pipefail -c "$test_command"')
    assert "tests/requirements.txt" not in ci[:smoke]


def test_requirements_accept_colab_widgets():
    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    widgets = next(line for line in lines if line.startswith("ipywidgets"))
    assert ">=7.6" in widgets, "Colab ships ipywidgets 7.7.1; the range must accept it"
    assert "-r ../requirements.txt" in (REPO_ROOT / "tests" / "requirements.txt").read_text()


def is_magic(line: str) -> bool:
    line = line.lstrip()
    return line.startswith("%") or (line.startswith("!") and not line.startswith("!="))


def imported_packages() -> set:
    """Top-level packages imported by the notebooks, the rawllm package and notebooks/run.py."""
    import ast
    import json
    import sys
    sources = [p.read_text() for p in (REPO_ROOT / "notebooks" / "rawllm").glob("*.py")]
    sources.append((REPO_ROOT / "notebooks" / "run.py").read_text())
    for path in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                text = "".join(cell["source"])
                sources.append("\n".join(line for line in text.splitlines() if not is_magic(line)))
    names = set()
    for text in sources:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"rawllm", "google", "IPython"}


DISTRIBUTIONS = {"huggingface_hub": "huggingface_hub", "yaml": "pyyaml"}


def test_requirements_list_every_imported_package():
    from rawllm.core import requirement_floors
    floors = requirement_floors(REPO_ROOT / "requirements.txt")
    missing = sorted(name for name in imported_packages() if DISTRIBUTIONS.get(name, name).lower() not in floors)
    assert not missing, f"imported by the series but not in requirements.txt: {missing}"


def test_requirement_floors_match_the_apis_used():
    from packaging.version import Version
    from rawllm.core import requirement_floors
    floors = requirement_floors(REPO_ROOT / "requirements.txt")
    assert Version(floors["torch"]) >= Version("2.9"), "notebook 06 compares with torch.optim.Muon (torch 2.9)"
    assert Version(floors["transformers"]) >= Version("5.13"), \
        "notebook 05 compares with DeepseekV3TopkRouter, which returns (logits, weights, experts) from 5.13 on"


def test_tests_import_reference_libraries_plainly():
    """A missing parity library must fail the tests, not skip them silently."""
    offenders = [p.name for p in (REPO_ROOT / "tests").rglob("*.py") if "importorskip" in p.read_text()
                 and p.name != "test_repo.py"]
    assert not offenders, f"importorskip in {offenders}"
