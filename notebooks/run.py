"""Execute the series headless, in order, with `notebooks/` as the kernel's working directory.

    python notebooks/run.py                    run every notebook, write outputs back into it
    python notebooks/run.py --smoke            RAWLLM_SMOKE=1: every run shrunk to seconds
    python notebooks/run.py --only 01          run one notebook (a number prefix; repeatable)
    python notebooks/run.py --output out/      write executed copies there; leave the sources alone

Exits non-zero on the first failure, naming the notebook and the cell.
"""
from __future__ import annotations

import argparse
import html
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from tqdm.auto import tqdm

NOTEBOOKS_DIR = Path(__file__).resolve().parent


def select(only: list[str] | None) -> list[Path]:
    notebooks = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not only:
        return notebooks
    chosen = [nb for nb in notebooks if any(nb.name.startswith(prefix) for prefix in only)]
    unknown = [p for p in only if not any(nb.name.startswith(p) for nb in notebooks)]
    if unknown:
        names = ", ".join(nb.name for nb in notebooks)
        raise SystemExit(f"no notebook matches {', '.join(unknown)}; the series has: {names}")
    return chosen


def describe(cell_index: int, cell) -> str:
    first_line = next((line for line in cell.source.splitlines() if line.strip()), "")
    return f"cell {cell_index} ({first_line[:60]!r})"


def coalesce_streams(nb) -> None:
    """Merge each run of consecutive stdout (or stderr) outputs of a cell into one, as Jupyter does when it saves:
    text printed piece by piece (a streamed story) then reads as one block on GitHub too."""
    for cell in nb.cells:
        merged = []
        for output in cell.get("outputs", []):
            previous = merged[-1] if merged else None
            if (output.output_type == "stream" and previous is not None and previous.output_type == "stream"
                    and previous.name == output.name):
                previous.text += output.text
            else:
                merged.append(output)
        if cell.cell_type == "code":
            cell.outputs = merged


def final_progress_text(state: dict, model_id: str) -> str | None:
    """The text a tqdm bar showed when it finished, rebuilt from the saved widget state (`None`: not a tqdm bar).

    tqdm.auto draws a widget in a notebook, and the plain-text fallback saved with it is the bar's *first* state
    ("0%|          | 0/1300"): what GitHub and other static viewers show. The widget state at the end of the run
    holds the final label, progress and counts, so the fallback can say what the run did."""
    box = state.get(model_id, {})
    children = box.get("state", {}).get("children", []) if box.get("model_name") == "HBoxModel" else []
    models = [state.get(c.removeprefix("IPY_MODEL_"), {}) for c in children]
    if [m.get("model_name") for m in models] != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    left, bar, right = (m["state"] for m in models)
    total, value = bar.get("max") or 0, bar.get("value") or 0
    filled = min(10, int(10 * value / total)) if total else 0
    text = f"{html.unescape(left.get('value', ''))}|{'█' * filled}{' ' * (10 - filled)}|{html.unescape(right.get('value', ''))}"
    return text.replace("\u2007", " ")


def finalize_progress(nb) -> int:
    """Replace each tqdm widget's plain-text fallback by its final state; returns how many were rewritten."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    rewritten = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            text = final_progress_text(state, view["model_id"]) if view else None
            if text is not None and output["data"].get("text/plain") != text:
                output["data"]["text/plain"] = text
                rewritten += 1
    return rewritten


def execute(path: Path, out_path: Path | None, timeout: int) -> float:
    """Run one notebook; write it to `out_path` (None: back in place). Returns seconds taken."""
    nb = nbformat.read(path, as_version=4)
    code_cells = sum(c.cell_type == "code" for c in nb.cells)
    bar = tqdm(total=code_cells, desc=path.name, unit="cell", file=sys.stderr, leave=True)
    current = {"index": None}

    def on_cell_start(cell, cell_index):
        current["index"] = cell_index

    def on_cell_executed(cell, cell_index, execute_reply):
        bar.update(1)

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
                            on_cell_start=on_cell_start, on_cell_executed=on_cell_executed)
    start = time.perf_counter()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        bar.close()
        where = describe(current["index"], nb.cells[current["index"]]) if current["index"] is not None else "start-up"
        reason = getattr(err, "ename", None) or type(err).__name__
        message = getattr(err, "evalue", None) or str(err).strip().splitlines()[-1]
        if out_path is not None:
            nbformat.write(nb, out_path)
        raise SystemExit(f"FAILED {path.name}, {where}: {reason}: {message}")
    bar.close()
    coalesce_streams(nb)
    finalize_progress(nb)
    nbformat.write(nb, out_path or path)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="set RAWLLM_SMOKE=1 (tiny runs, for tests)")
    parser.add_argument("--only", action="append", metavar="NN", help="run only notebooks whose name starts with NN")
    parser.add_argument("--output", type=Path, metavar="DIR", help="write executed notebooks here instead of in place")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds one cell may take (default 3600)")
    args = parser.parse_args(argv)
    if args.smoke:
        os.environ["RAWLLM_SMOKE"] = "1"
    if args.output is not None:
        args.output.mkdir(parents=True, exist_ok=True)
    for path in select(args.only):
        out_path = args.output / path.name if args.output is not None else None
        seconds = execute(path, out_path, args.timeout)
        print(f"ok {path.name} in {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
