# Generated from notebooks/00_raw_ops.ipynb by notebooks/export.py. Do not edit: change the notebook and re-export.

import os
import random
from pathlib import Path

def find_repo_root(start: Path) -> Path:
    """The first folder at or above `start` holding `notebooks/export.py`; `start` itself if none does."""
    for folder in (start, *start.parents):
        if (folder / "notebooks" / "export.py").is_file():
            return folder
    return start


# As a module, search from this file; run inside the notebook (no __file__), from the working directory.
REPO_ROOT = Path(os.environ.get("RAWLLM_ROOT") or
                 find_repo_root(Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()))
DATA_DIR = REPO_ROOT / "data"
CACHE_DIR = Path(os.environ.get("RAWLLM_CACHE", REPO_ROOT / ".cache"))
SMOKE = os.environ.get("RAWLLM_SMOKE", "") not in ("", "0")


def cache_path(*parts: str) -> Path:
    """A path under the cache folder, its parent folder created: `cache_path("tokenizer", "tok.json")`."""
    path = CACHE_DIR.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path, write) -> Path:
    """Write a file so that readers see the old version or the new one, never half of one.

    `write(tmp)` fills a temporary file beside `path`; `os.replace` then renames it onto `path`, which the
    operating system does in one step. The temporary name is unique to the process and the call, so processes
    writing the same file at once (ranks of a `torchrun`) never rename each other's half-written files.
    A run killed mid-write leaves only a stray `.tmp` file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{random.SystemRandom().getrandbits(32):08x}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def on_gpu() -> bool:
    import torch
    return torch.cuda.is_available()


def pick_size(smoke, cpu, gpu=None):
    """The size of a run: `smoke` under RAWLLM_SMOKE=1, `gpu` on CUDA (defaults to `cpu`), else `cpu`."""
    if SMOKE:
        return smoke
    if gpu is not None and on_gpu():
        return gpu
    return cpu


def pick_device(prefer: str | None = None):
    """Return `(device, autocast_dtype)`: cuda > mps > cpu, bf16 on sm_80+, fp16 on older GPUs, fp32 elsewhere.

    `prefer` ("cpu", "cuda", "mps") overrides the choice; asking for a missing device is an error.
    """
    import torch
    available = {"cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
                 "cpu": True}
    if prefer is not None:
        if prefer not in available:
            raise ValueError(f"unknown device {prefer!r}; choose one of {sorted(available)}")
        if not available[prefer]:
            raise RuntimeError(f"device {prefer!r} was asked for but is not available on this machine")
        name = prefer
    else:
        name = next(d for d in ("cuda", "mps", "cpu") if available[d])
    device = torch.device(name)
    return device, autocast_dtype(device)


def autocast_dtype(device):
    """bf16 where the GPU has native bf16 (compute capability >= 8.0), fp16 on older GPUs, fp32 otherwise."""
    import torch
    if device.type == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        return torch.bfloat16 if major >= 8 else torch.float16
    return torch.float32


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (all devices) so runs repeat."""
    import numpy as np
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


KEEP_INSTALLED = ("torch", "numpy", "ipywidgets",       # Colab's builds match its CUDA and its widget front end
                  "jupyter", "nbclient", "nbformat", "ipykernel")   # the headless runner's; Colab has its own kernel


def requirement_floors(path) -> dict:
    """{package: minimum version} from the `name>=version` lines of a requirements file."""
    import re
    floors = {}
    for line in Path(path).read_text().splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)", line.split("#", 1)[0])
        if match:
            floors[match.group(1).lower()] = match.group(2)
    return floors


def installed_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def outdated_requirements(path) -> dict:
    """{package: (installed version or None, floor)} for every requirement missing or older than its floor."""
    from packaging.version import Version
    have = {name: installed_version(name) for name in requirement_floors(path)}
    return {name: (have[name], floor) for name, floor in requirement_floors(path).items()
            if have[name] is None or Version(have[name]) < Version(floor)}


def install_requirements(path, keep=KEEP_INSTALLED) -> tuple[list, list]:
    """pip-install every requirement of `path` that is missing or below its floor, except the packages in `keep`,
    whose installed versions are pinned so that pip cannot replace them as a dependency either.
    Returns (specs installed, messages about kept packages older than their floor)."""
    import subprocess
    import sys
    import tempfile
    outdated = outdated_requirements(path)
    todo = [f"{name}>={floor}" for name, (_, floor) in outdated.items() if name not in keep]
    kept_old = [f"{name} {have} is older than the series' floor {floor}; kept as installed"
                for name, (have, floor) in outdated.items() if name in keep and have is not None]
    if todo:
        pins = [f"{name}=={installed_version(name)}\n" for name in keep if installed_version(name)]
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
            constraints.write("".join(pins))
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *todo, "-c", constraints.name], check=True)
    return todo, kept_old
