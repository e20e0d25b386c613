"""Training throughput of rawllm.train's loop against a plain loop of torch.optim.AdamW, on the CPU.

    python tests/benchmarks/bench_train.py [--repeat 3] [--steps 12] [--d-model 128] [--n-layers 4]

The model is the CPU default of notebook 06 (width 128, 4 layers, 4 heads, tied embeddings, vocabulary 4096),
the batches 16 x 128 tokens of the bundled stories from the same stateless sampler. Ours is `train()` itself:
our AdamW (or Muon + AdamW), the schedule, clipping, the guards and the history. The plain loop is forward,
cross-entropy, backward, `clip_grad_norm_`, `torch.optim.AdamW.step()`, on the same model and batches. Each
figure is the median tokens/s of the timed steps (the first two of a run are warm-up), the best of `--repeat`
runs; the contenders run in turns. Printed: tokens/s of each and the ratio ours / plain (target: at least 0.95).
"""
import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "notebooks"))

from rawllm.model import ModelConfig  # noqa: E402
from rawllm.tokenizer import load_series_tokenizer  # noqa: E402
from rawllm.train import BatchSampler, TrainConfig, build_model, open_tokens, prepare_tokens, train  # noqa: E402


def plain_loop(model, sampler, steps: int, lr: float) -> list[float]:
    """tokens/s of each step of the textbook loop with torch.optim.AdamW."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    speeds = []
    for step in range(steps):
        start = time.perf_counter()
        x, y = sampler.batch(step)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()
        speeds.append(x.numel() / (time.perf_counter() - start))
    return speeds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender; the best median counts")
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per run")
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--n-layers", type=int, default=4)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    tokenizer = load_series_tokenizer()
    tokens = open_tokens(prepare_tokens("stories", "train", tokenizer), tokenizer)
    model_config = ModelConfig(vocab_size=tokenizer.vocab_size, d_model=args.d_model, n_layers=args.n_layers,
                               n_heads=4, max_seq_len=128, tie_embeddings=True)
    base = build_model(model_config)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads on {os.cpu_count()} CPU cores; "
          f"{base.num_parameters() / 1e6:.2f}M parameters, 16 x 128 tokens per step, {args.steps} steps, "
          f"best of {args.repeat}\n")
    best = {}
    for _ in range(args.repeat):
        for name in ("plain torch.optim.AdamW", "ours, adamw", "ours, muon"):
            model = copy.deepcopy(base)
            if name.startswith("plain"):
                speeds = plain_loop(model, BatchSampler(tokens, 128, 16, seed=1337), args.steps, 3e-3)
            else:
                config = TrainConfig(model=model_config, seq_len=128, batch_size=16, max_steps=args.steps,
                                     warmup_steps=2, lr=3e-3, optimizer=name.split(", ")[1], eval_interval=10 ** 6,
                                     eval_steps=1, data="stories", device="cpu")
                speeds = train(config, model, progress=False)["tokens_per_s"]
            best[name] = max(best.get(name, 0.0), statistics.median(speeds[2:]))
    plain = best["plain torch.optim.AdamW"]
    for name, speed in best.items():
        print(f"{name:28s} {speed:10,.0f} tokens/s   ratio to plain {speed / plain:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
