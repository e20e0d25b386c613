"""The headless runner: order, selection, smoke flag, output folder, and failures that name the cell."""
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import NOTEBOOKS_DIR


def make_notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)


@pytest.fixture
def series(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(NOTEBOOKS_DIR / "run.py", folder)
    make_notebook(folder / "00_first.ipynb",
                  "import os, pathlib\nprint('cwd', pathlib.Path.cwd().name)",
                  "print('smoke', os.environ.get('RAWLLM_SMOKE'))")
    make_notebook(folder / "01_second.ipynb", "x = 1", "assert x == 2, 'x should be two'", "print('unreached')")
    return folder


def run(folder, *args):
    return subprocess.run([sys.executable, str(folder / "run.py"), *args], capture_output=True, text=True, timeout=300)


def test_runs_in_notebooks_folder_with_smoke_flag_into_output_folder(series, tmp_path):
    out = tmp_path / "out"
    result = run(series, "--only", "00", "--smoke", "--output", str(out))
    assert result.returncode == 0, result.stderr
    executed = nbformat.read(out / "00_first.ipynb", as_version=4)
    texts = [o["text"] for c in executed.cells for o in c.outputs]
    assert texts == ["cwd notebooks\n", "smoke 1\n"]
    assert not nbformat.read(series / "00_first.ipynb", as_version=4).cells[0].outputs, "source was modified"


def test_writes_outputs_back_in_place_by_default(series):
    assert run(series, "--only", "00").returncode == 0
    executed = nbformat.read(series / "00_first.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["text"] == "smoke None\n"


def test_failure_exits_nonzero_naming_notebook_and_cell(series, tmp_path):
    result = run(series, "--output", str(tmp_path / "out"))
    assert result.returncode != 0
    assert "FAILED 01_second.ipynb, cell 1" in result.stderr
    assert "AssertionError" in result.stderr and "x should be two" in result.stderr
    assert "ok 00_first.ipynb" in result.stdout


def test_text_printed_in_pieces_is_saved_as_one_output(series):
    make_notebook(series / "02_pieces.ipynb",
                  "import time\nfrom IPython.display import display\nfor piece in ['Once', ' upon', ' a time']:\n"
                  "    print(piece, end='', flush=True)\n    time.sleep(0.05)\n"
                  "print(' (done)', flush=True)\ndisplay('between')\nprint('again')")
    assert run(series, "--only", "02").returncode == 0
    outputs = nbformat.read(series / "02_pieces.ipynb", as_version=4).cells[0].outputs
    assert [o["output_type"] for o in outputs] == ["stream", "display_data", "stream"]
    assert outputs[0]["text"] == "Once upon a time (done)\n" and outputs[2]["text"] == "again\n"


def test_unknown_selection_is_an_error(series):
    result = run(series, "--only", "42")
    assert result.returncode != 0 and "no notebook matches 42" in result.stderr


def test_a_finished_progress_bar_is_saved_in_its_final_state(series):
    """A static viewer shows a widget's text/plain fallback: after the run it must be the bar's last state."""
    make_notebook(series / "00_first.ipynb",
                  "from tqdm.auto import tqdm\nfor _ in tqdm(range(7), desc='steps'):\n    pass")
    result = run(series, "--only", "00")
    assert result.returncode == 0, result.stderr
    executed = nbformat.read(series / "00_first.ipynb", as_version=4)
    texts = [o["data"]["text/plain"] for c in executed.cells for o in c.outputs
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(texts) == 1
    assert texts[0].startswith("steps: 100%|██████████| 7/7 ["), texts[0]


def test_committed_progress_bars_show_their_final_state():
    sys.path.insert(0, str(NOTEBOOKS_DIR))
    import run as runner
    stale = []
    for path in sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if runner.finalize_progress(nb):
            stale.append(path.name)
    assert stale == [], f"progress bars saved in their first state (re-run with notebooks/run.py): {stale}"
