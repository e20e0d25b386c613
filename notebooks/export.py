"""Regenerate the `rawllm` package from the notebooks, and keep the notebooks' shared cells in step.

    python notebooks/export.py           write notebooks/rawllm/ from the `#| export <module>` cells
    python notebooks/export.py --check   exit 1, naming each stale module, if rawllm/ differs
    python notebooks/export.py --stamp   rewrite every notebook's setup cell and Colab badge from
                                         the template below (after changing GITHUB_REPO, say)

A code cell whose first line is `#| export <module>` is copied verbatim (without that line) into
`notebooks/rawllm/<module>.py`. A module belongs to exactly one notebook; a notebook may feed several.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

NOTEBOOKS_DIR = Path(__file__).resolve().parent
PACKAGE_DIR = NOTEBOOKS_DIR / "rawllm"

# The one place that names the repository. A fork changes this line and runs `export.py --stamp`.
GITHUB_REPO = "rawllm/rawllm"
REPO_URL = f"https://github.com/{GITHUB_REPO}"

SETUP_CELL = f'''\
# Setup: the same cell opens every notebook (template in notebooks/export.py).
import os, subprocess, sys
REPO_URL = "{REPO_URL}"
if "google.colab" in sys.modules and not os.path.isdir("rawllm"):
    if not os.path.isdir("/content/rawllm"):
        subprocess.run(["git", "clone", "--depth=1", REPO_URL, "/content/rawllm"], check=True)
    os.chdir("/content/rawllm/notebooks")
from rawllm.core import REPO_ROOT, SMOKE, install_requirements, outdated_requirements, pick_device, seed_everything
if "google.colab" in sys.modules:           # install what is missing or too old; never torch, numpy, ipywidgets
    installed, kept_old = install_requirements(REPO_ROOT / "requirements.txt")
    print("installed:", ", ".join(installed) or "nothing (Colab has every requirement)", *kept_old, sep="\\n  ")
elif outdated := outdated_requirements(REPO_ROOT / "requirements.txt"):
    print("missing or too old:", ", ".join(outdated), "- run: pip install -r requirements.txt")
DEVICE, AMP_DTYPE = pick_device()
seed_everything(1337)
print(f"device: {{DEVICE}}, autocast dtype: {{AMP_DTYPE}}, smoke run: {{SMOKE}}")'''

SETUP_MARKER = "# Setup: the same cell opens every notebook"
EXPORT_LINE = re.compile(r"^#\|\s*export\s+([A-Za-z_][A-Za-z0-9_]*)\s*$")
GENERATED = "# Generated from notebooks/{notebook} by notebooks/export.py. Do not edit: change the notebook and re-export.\n"
BADGE = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def colab_url(notebook_name: str) -> str:
    return f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/main/notebooks/{notebook_name}"


def badge(notebook_name: str) -> str:
    return BADGE.format(url=colab_url(notebook_name))


def series() -> list[Path]:
    """The notebooks of the series, in order: `NN_name.ipynb` in notebooks/."""
    return sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def load(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise SystemExit(f"{path.name}: not valid notebook JSON ({e})")


def collect_modules(notebooks: list[Path]) -> dict[str, str]:
    """Map `rawllm/<module>.py` file names to the text the notebooks say they should hold."""
    bodies: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for path in notebooks:
        for cell in load(path)["cells"]:
            if cell["cell_type"] != "code":
                continue
            first, _, body = cell_source(cell).partition("\n")
            match = EXPORT_LINE.match(first)
            if not match:
                continue
            module = match.group(1)
            if owner.setdefault(module, path.name) != path.name:
                raise SystemExit(f"module {module!r} is exported by both {owner[module]} and {path.name}; "
                                 "a module belongs to one notebook")
            bodies.setdefault(module, []).append(body.strip("\n"))
    files = {f"{m}.py": GENERATED.format(notebook=owner[m]) + "\n" + "\n\n\n".join(b) + "\n"
             for m, b in bodies.items()}
    listing = "\n".join(f"    rawllm.{m:<12} notebooks/{owner[m]}" for m in sorted(bodies))
    files["__init__.py"] = (GENERATED.format(notebook="*.ipynb") +
                            f'"""RawLLM: a language model from raw torch ops, built in the notebooks.\n\n'
                            f"Each module comes from one notebook:\n\n{listing}\n\"\"\"\n")
    return files


def is_generated(path: Path) -> bool:
    with path.open(encoding="utf-8") as f:
        return f.readline().startswith("# Generated from notebooks/")


def stale_modules(expected: dict[str, str]) -> list[str]:
    problems = []
    for name, text in sorted(expected.items()):
        path = PACKAGE_DIR / name
        if not path.exists():
            problems.append(f"rawllm/{name} is missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"rawllm/{name} differs from its notebook")
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        if path.name not in expected:
            problems.append(f"rawllm/{path.name} is exported by no notebook")
    return problems


def write_modules(expected: dict[str, str]) -> None:
    PACKAGE_DIR.mkdir(exist_ok=True)
    for path in PACKAGE_DIR.glob("*.py"):
        if path.name not in expected and is_generated(path):
            path.unlink()
            print(f"removed rawllm/{path.name}")
    for name, text in expected.items():
        path = PACKAGE_DIR / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote   rawllm/{name}")


def stamp(path: Path) -> bool:
    """Rewrite the setup cell and the title's Colab badge of one notebook; True when it changed."""
    nb = load(path)
    changed = False
    setup = [c for c in nb["cells"] if c["cell_type"] == "code" and cell_source(c).startswith(SETUP_MARKER)]
    if len(setup) != 1:
        raise SystemExit(f"{path.name}: expected one setup cell starting with {SETUP_MARKER!r}, found {len(setup)}")
    if cell_source(setup[0]) != SETUP_CELL:
        setup[0]["source"] = SETUP_CELL.splitlines(keepends=True)
        changed = True
    title = nb["cells"][0]
    old = cell_source(title)
    new = re.sub(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)", lambda _: badge(path.name), old)
    if new != old:
        title["source"] = new.splitlines(keepends=True)
        changed = True
    if changed:
        path.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if rawllm/ is stale; write nothing")
    parser.add_argument("--stamp", action="store_true", help="rewrite setup cells and Colab badges from the template")
    args = parser.parse_args(argv)
    notebooks = series()
    if args.stamp:
        for path in notebooks:
            if stamp(path):
                print(f"stamped {path.name}")
    expected = collect_modules(notebooks)
    if args.check:
        problems = stale_modules(expected)
        for p in problems:
            print(f"stale: {p}", file=sys.stderr)
        if problems:
            print("run `python notebooks/export.py` and commit the result", file=sys.stderr)
            return 1
        print(f"rawllm/ is in sync with {len(notebooks)} notebooks")
        return 0
    write_modules(expected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
