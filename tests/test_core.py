"""rawllm.core: device and dtype choice, sizing, seeding, the cache folder, and a fast import."""
import importlib
import subprocess
import sys

import pytest
import torch

import rawllm.core as core


def test_pick_device_on_this_machine():
    device, dtype = core.pick_device()
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert device.type == expected
    assert core.pick_device("cpu") == (torch.device("cpu"), torch.float32)


def test_pick_device_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        core.pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="'cuda' was asked for but is not available"):
            core.pick_device("cuda")


@pytest.mark.parametrize("capability, expected", [((7, 5), torch.float16), ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)])
def test_autocast_dtype_follows_compute_capability(monkeypatch, capability, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert core.autocast_dtype(torch.device("cuda")) == expected
    assert core.autocast_dtype(torch.device("cpu")) == torch.float32


def test_pick_size_follows_the_smoke_flag(monkeypatch):
    monkeypatch.setattr(core, "SMOKE", True)
    assert core.pick_size(smoke=1, cpu=2, gpu=3) == 1
    monkeypatch.setattr(core, "SMOKE", False)
    assert core.pick_size(smoke=1, cpu=2, gpu=3) == (3 if torch.cuda.is_available() else 2)
    monkeypatch.setattr(core, "on_gpu", lambda: True)
    assert core.pick_size(smoke=1, cpu=2, gpu=3) == 3
    assert core.pick_size(smoke=1, cpu=2) == 2


def test_smoke_flag_and_cache_folder_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RAWLLM_SMOKE", "1")
    monkeypatch.setenv("RAWLLM_CACHE", str(tmp_path / "cache"))
    fresh = importlib.reload(core)
    try:
        assert fresh.SMOKE is True
        path = fresh.cache_path("tokenizer", "tok.json")
        assert path == tmp_path / "cache" / "tokenizer" / "tok.json" and path.parent.is_dir()
        assert (fresh.REPO_ROOT / "notebooks" / "export.py").is_file()
        assert fresh.DATA_DIR == fresh.REPO_ROOT / "data"
    finally:
        monkeypatch.delenv("RAWLLM_SMOKE")
        importlib.reload(core)


def test_seed_everything_repeats_random_draws():
    import random
    import numpy as np
    core.seed_everything(3)
    first = (random.random(), np.random.rand(), torch.rand(2))
    core.seed_everything(3)
    second = (random.random(), np.random.rand(), torch.rand(2))
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])


@pytest.mark.parametrize("module", ["rawllm.core", "rawllm.world", "rawllm.tokenizer"])
def test_import_is_fast_and_does_not_load_torch(module):
    code = (f"import sys, time; t = time.perf_counter(); import {module}; dt = time.perf_counter() - t; "
            "print(dt, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="notebooks", check=True)
    seconds, torch_loaded = out.stdout.split()
    assert float(seconds) < 0.5 and torch_loaded == "False"


def test_atomic_write_replaces_whole_files_and_keeps_the_old_one_on_failure(tmp_path):
    target = tmp_path / "sub" / "file.txt"
    core.atomic_write(target, lambda tmp: tmp.write_text("first"))
    assert target.read_text() == "first"

    def crash_halfway(tmp):
        tmp.write_text("half of the sec")
        raise KeyboardInterrupt("killed while writing")

    with pytest.raises(KeyboardInterrupt):
        core.atomic_write(target, crash_halfway)
    assert target.read_text() == "first"          # the real name still holds the complete old file
    core.atomic_write(target, lambda tmp: tmp.write_text("second"))
    assert target.read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.txt"]


def test_requirement_floors_read_the_lower_bounds(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("# comment\ntorch>=2.9   # why\nipywidgets>=7.6,<9\nnumpy\n-r other.txt\nPyYAML >= 6.0\n")
    assert core.requirement_floors(path) == {"torch": "2.9", "ipywidgets": "7.6", "pyyaml": "6.0"}


def test_outdated_requirements_name_missing_and_old_packages(tmp_path):
    path = tmp_path / "requirements.txt"
    have = core.installed_version("pytest")
    path.write_text(f"pytest>={have}\nnot-a-real-package-xyz>=1.0\ntorch>=999.0\n")
    assert core.outdated_requirements(path) == {"not-a-real-package-xyz": (None, "1.0"),
                                                "torch": (core.installed_version("torch"), "999.0")}


def test_install_requirements_upgrades_all_but_the_kept_packages(tmp_path, monkeypatch):
    import subprocess
    path = tmp_path / "requirements.txt"
    path.write_text("pytest>=0.1\nnot-a-real-package-xyz>=1.0\ntorch>=999.0\n")
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda args, check: calls.append(args))
    installed, kept_old = core.install_requirements(path)
    assert installed == ["not-a-real-package-xyz>=1.0"]          # torch is older than its floor but kept
    assert len(kept_old) == 1 and kept_old[0].startswith("torch ") and "kept as installed" in kept_old[0]
    (args,) = calls
    assert args[-2] == "-c" and "torch>=999.0" not in args
    pins = open(args[-1]).read().splitlines()
    assert f"torch=={core.installed_version('torch')}" in pins and f"numpy=={core.installed_version('numpy')}" in pins
    calls.clear()
    path.write_text("pytest>=0.1\n")
    assert core.install_requirements(path) == ([], []) and calls == []
