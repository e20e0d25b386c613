"""The exporter: the package is in sync with the notebooks, and `--check` catches every kind of drift."""
import json
import shutil
import subprocess
import sys

import pytest

from conftest import NOTEBOOKS_DIR


def run_export(folder, *args):
    return subprocess.run([sys.executable, str(folder / "export.py"), *args],
                          capture_output=True, text=True, timeout=60)


def test_package_is_in_sync_with_notebooks():
    result = run_export(NOTEBOOKS_DIR, "--check")
    assert result.returncode == 0, result.stderr


@pytest.fixture
def copy_of_notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for path in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"):
        shutil.copy(path, folder)
    shutil.copy(NOTEBOOKS_DIR / "export.py", folder)
    shutil.copytree(NOTEBOOKS_DIR / "rawllm", folder / "rawllm", ignore=shutil.ignore_patterns("__pycache__"))
    assert run_export(folder, "--check").returncode == 0
    return folder


def edit_first_export_cell(folder, module, edit):
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            text = "".join(cell["source"])
            if cell["cell_type"] == "code" and text.startswith(f"#| export {module}\n"):
                cell["source"] = edit(text)
                path.write_text(json.dumps(nb))
                return path
    raise AssertionError(f"no export cell for {module}")


def test_check_names_the_stale_module_and_export_repairs_it(copy_of_notebooks):
    edit_first_export_cell(copy_of_notebooks, "core", lambda t: t + "\nANSWER = 42\n")
    stale = run_export(copy_of_notebooks, "--check")
    assert stale.returncode == 1
    assert "rawllm/core.py" in stale.stderr
    assert run_export(copy_of_notebooks).returncode == 0
    assert "ANSWER = 42" in (copy_of_notebooks / "rawllm" / "core.py").read_text()
    assert run_export(copy_of_notebooks, "--check").returncode == 0


def test_check_flags_a_hand_edit_and_an_orphan_module(copy_of_notebooks):
    core = copy_of_notebooks / "rawllm" / "core.py"
    core.write_text(core.read_text() + "# hand edit\n")
    (copy_of_notebooks / "rawllm" / "orphan.py").write_text("# Generated from notebooks/99_gone.ipynb\n")
    result = run_export(copy_of_notebooks, "--check")
    assert result.returncode == 1
    assert "rawllm/core.py" in result.stderr and "rawllm/orphan.py" in result.stderr
    run_export(copy_of_notebooks)
    assert not (copy_of_notebooks / "rawllm" / "orphan.py").exists()
    assert run_export(copy_of_notebooks, "--check").returncode == 0


def test_a_module_exported_by_two_notebooks_is_an_error(copy_of_notebooks):
    first = sorted(copy_of_notebooks.glob("[0-9][0-9]_*.ipynb"))[0]
    nb = json.loads(first.read_text())
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": "#| export core\nX = 1\n"})
    (copy_of_notebooks / "98_copy.ipynb").write_text(json.dumps(nb))
    result = run_export(copy_of_notebooks)
    assert result.returncode != 0
    assert "core" in result.stderr and "98_copy.ipynb" in result.stderr


def test_generated_files_say_where_they_come_from():
    for path in (NOTEBOOKS_DIR / "rawllm").glob("*.py"):
        first = path.read_text().splitlines()[0]
        assert first.startswith("# Generated from notebooks/") and "Do not edit" in first, path.name
