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
    operating system does in one step. A run killed mid-write leaves only a stray `.tmp` file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)
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
