"""DistributedDataParallel with a mixture of experts whose experts sit idle (one rank in a process of its own, two under
torchrun on an empty cache), the process group's backend, and the series tokenizer built by rank 0 alone."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file

import rawllm.train
from rawllm.moe import MoEConfig, MoETransformer
from rawllm.train import TrainConfig, distributed_backend, init_distributed, series_tokenizer, train

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


ONE_RANK_DDP = """
import json, sys, torch, torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from rawllm.moe import MoEConfig, MoETransformer
dispatch, store = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
model = MoETransformer(MoEConfig(vocab_size=32, d_model=16, n_layers=1, n_heads=2, d_ff=16, n_experts=4, top_k=2))
model.set_dispatch(dispatch)
dist.init_process_group("gloo", init_method="file://" + store, rank=0, world_size=1)
ddp = DistributedDataParallel(model)
for step in range(3):                                  # one token, top-2 of 4: two experts idle each step
    ddp(torch.tensor([[step + 1]])).sum().backward()
del ddp
dist.destroy_process_group()
used = sorted(set(model.routings()[0].experts.flatten().tolist()))
grads = [all(p.grad is not None for p in expert.parameters()) for expert in model.moe_layers()[0].experts]
print(json.dumps({"used": used, "grads": grads}))
"""


@pytest.mark.parametrize("dispatch", ["sorted", "loop"])
def test_one_rank_ddp_survives_experts_without_tokens(dispatch, tmp_path):
    # A process of its own: a process group lives for the whole process, and one left behind by an earlier test
    # (or a DDP reducer collected late) must not make this one wait.
    result = subprocess.run([sys.executable, "-c", ONE_RANK_DDP, dispatch, str(tmp_path / "store")],
                            capture_output=True, text=True, timeout=120,
                            env=os.environ | {"PYTHONPATH": str(NOTEBOOKS), "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(out["used"]) == 2                               # two of four experts saw the last token
    assert all(out["grads"])                                   # idle in the last step: zero, accumulated earlier


def test_idle_experts_get_zero_gradients():
    torch.manual_seed(0)
    model = MoETransformer(MoEConfig(vocab_size=32, d_model=16, n_layers=1, n_heads=2, d_ff=16, n_experts=8,
                                     top_k=1))
    for dispatch in ("sorted", "loop"):
        model.zero_grad(set_to_none=True)
        model.set_dispatch(dispatch)
        model(torch.tensor([[5]])).sum().backward()
        used = model.routings()[0].experts.item()
        for e, expert in enumerate(model.moe_layers()[0].experts):
            grads = [p.grad for p in expert.parameters()]
            assert all(g is not None for g in grads)
            assert all(g.abs().sum() > 0 for g in grads) if e == used else all((g == 0).all() for g in grads)


def test_two_ranks_with_idle_experts_on_an_empty_cache_equal_one_process(tmp_path):
    common = ["--vocab_size", "4096", "--d_model", "16", "--n_layers", "1", "--n_heads", "2", "--max_seq_len", "16",
              "--seq_len", "8", "--batch_size", "2", "--max_steps", "2", "--warmup_steps", "1",
              "--eval_interval", "5", "--eval_steps", "1", "--seed", "0", "--data", "stories", "--max_tokens", "3000",
              "--device", "cpu", "--n_experts", "16", "--top_k", "1", "--scoring", "sigmoid", "--correction_bias",
              "--aux_loss_coef", "0", "--seq_aux_loss_coef", "0.1", "--bias_update_rate", "0.01", "--quiet"]
    cache = tmp_path / "empty-cache"                          # no tokenizer, no token files: rank 0 builds them
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "-m", "rawllm.train", *common, "--checkpoint_dir", str(tmp_path / "two")],
                            cwd=NOTEBOOKS, capture_output=True, text=True, timeout=300,
                            env=os.environ | {"PYTHONPATH": str(NOTEBOOKS), "OMP_NUM_THREADS": "1",
                                              "RAWLLM_CACHE": str(cache), "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list(cache.glob("tokenizer/*/rawllm-bpe.json"))) == 1
    args = rawllm.train.argument_parser().parse_args([*common, "--grad_accum_steps", "2", "--checkpoint_dir",
                                                      str(tmp_path / "one")])
    config = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__}
    model = {k: v for k, v in vars(args).items() if k in MoEConfig.__dataclass_fields__ and k != "model_type"}
    train(TrainConfig(model=MoEConfig(**model), **config), progress=False)     # one process, two micro-batches
    one = load_file(tmp_path / "one" / "step-000002" / "model.safetensors")
    two = load_file(tmp_path / "two" / "step-000002" / "model.safetensors")
    assert one.keys() == two.keys() and any("e_score_correction_bias" in name for name in one)
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("device, cuda, backend", [("cpu", True, "gloo"), (None, True, "nccl"), ("cuda", True, "nccl"),
                                                    (None, False, "gloo"), ("mps", False, "gloo")])
def test_the_backend_follows_the_runs_device(monkeypatch, device, cuda, backend):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert distributed_backend(device) == backend
    joined = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda name, **kw: joined.append(name))
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    assert init_distributed(device)[:2] == (1, 2) and joined == [backend]


@pytest.mark.parametrize("rank, order", [(0, ["load", "barrier"]), (1, ["barrier", "load"])])
def test_rank_0_builds_the_series_tokenizer_while_the_others_wait(monkeypatch, rank, order):
    events = []
    monkeypatch.setattr(rawllm.train, "barrier", lambda world_size: events.append("barrier"))
    monkeypatch.setattr(rawllm.train, "load_series_tokenizer", lambda: events.append("load") or "tokenizer")
    assert series_tokenizer(rank, 2) == "tokenizer" and events == order
