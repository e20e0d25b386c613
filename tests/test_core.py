"""rawllm.core: device and dtype choice, sizing, seeding, the cache folder, and a fast import."""
import importlib
import json
import subprocess
import sys

import pytest
import torch

import rawllm.core as core


@pytest.mark.parametrize("cuda, mps, expected", [
    (True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_pick_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    dtype = {"cuda": torch.bfloat16, "mps": torch.float32, "cpu": torch.float32}[expected]
    assert core.pick_device() == (torch.device(expected), dtype)
    assert core.pick_device("cpu") == (torch.device("cpu"), torch.float32)
    for name, available in (("cuda", cuda), ("mps", mps)):
        if available:
            assert core.pick_device(name) == (torch.device(name), dtype if name == expected else torch.float32)
        else:
            with pytest.raises(RuntimeError, match=f"'{name}' was asked for but is not available"):
                core.pick_device(name)


def test_pick_device_gives_fp16_on_a_gpu_older_than_sm80(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    assert core.pick_device() == (torch.device("cuda"), torch.float16)


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


@pytest.mark.parametrize("module, allowed", [("rawllm.core", set()), ("rawllm.world", set()),
                                             ("rawllm.tokenizer", {"regex"})])
def test_import_does_not_load_torch_or_other_heavy_packages(module, allowed):
    """What the import pulls in, not how long it takes (a wall-clock bound is flaky on a loaded machine): every
    module it loads is the standard library's, rawllm's, or in `allowed`, so torch, numpy, matplotlib and friends
    wait until a function needs them."""
    code = ("import json, sys; before = set(sys.modules); import " + module + "; "
            "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="notebooks", check=True)
    loaded = set(json.loads(out.stdout))
    assert "rawllm" in loaded
    assert not {"torch", "numpy", "matplotlib", "ipywidgets", "transformers", "tokenizers", "pandas"} & loaded
    assert loaded - set(sys.stdlib_module_names) - {"rawllm"} <= allowed, sorted(loaded)


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
