# Generated from notebooks/06_pretraining.ipynb by notebooks/export.py. Do not edit: change the notebook and re-export.

"""Pretraining: token files, samplers, AdamW and Muon, schedules, the training loop, checkpoints, DDP (notebook 06)."""
import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from rawllm.core import atomic_write, autocast_dtype, cache_path, pick_device
from rawllm.model import ModelConfig, Transformer, check_checkpoint, checkpoint_tensors, training_flops_per_token
from rawllm.tokenizer import BPETokenizer, load_series_tokenizer


TOKEN_FILE_FORMAT = "rawllm-tokens"
EOT = "<|endoftext|>"


def tokenizer_fingerprint(tokenizer: BPETokenizer) -> str:
    """A short hash of what decides the ids a tokenizer produces: merges, special tokens, split pattern."""
    data = json.dumps([tokenizer.merges, sorted(tokenizer.special_tokens.items()), tokenizer.pattern])
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits in 16 bits, else uint32."""
    return np.dtype(np.uint16) if vocab_size <= 2 ** 16 else np.dtype(np.uint32)


def write_token_file(path, texts, tokenizer: BPETokenizer, source: str, max_tokens: int | None = None,
                     chunk: int = 512) -> dict:
    """Tokenize an iterable of texts into `path` (.bin): <|endoftext|> d1 <|endoftext|> d2 ..., stopping after
    `max_tokens` tokens (whole documents) if given; then the sidecar `path.json`. Returns the sidecar dict."""
    path, dtype, eot = Path(path), token_dtype(tokenizer.vocab_size), tokenizer.special_tokens[EOT]
    counts = {"tokens": 0, "documents": 0}

    def write(tmp):
        with open(tmp, "wb") as f:
            for batch in batched(texts, chunk):
                for ids in tokenizer.encode_batch(batch, allowed_special="none"):
                    if max_tokens is not None and counts["tokens"] >= max_tokens:
                        return                                  # the cap is reached: no further document
                    np.asarray([eot, *ids], dtype=dtype).tofile(f)
                    counts["tokens"] += len(ids) + 1
                    counts["documents"] += 1

    atomic_write(path.with_suffix(".bin"), write)
    header = {"format": TOKEN_FILE_FORMAT, "dtype": dtype.name, "vocab_size": tokenizer.vocab_size,
              "tokenizer": tokenizer_fingerprint(tokenizer), "eot_id": eot, "num_tokens": counts["tokens"],
              "num_documents": counts["documents"], "source": source}
    atomic_write(path.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps(header, indent=1) + "\n"))
    return header


def batched(items, n: int):
    """Lists of n consecutive items (the last one shorter) from any iterable, a stream included."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def open_tokens(path, tokenizer: BPETokenizer | None = None) -> np.memmap:
    """The token ids of a file written by `write_token_file`, memory-mapped (read-only), shape (num_tokens,).
    With a tokenizer, a ValueError names every way the sidecar disagrees with it (or with the file's size)."""
    path = Path(path).with_suffix(".bin")
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        raise FileNotFoundError(f"{path.name} has no sidecar {sidecar.name}: write it with write_token_file")
    header = json.loads(sidecar.read_text())
    problems = []
    if header.get("format") != TOKEN_FILE_FORMAT:
        problems.append(f"format is {header.get('format')!r}, not {TOKEN_FILE_FORMAT!r}")
    if tokenizer is not None:
        expected = {"vocab_size": tokenizer.vocab_size, "tokenizer": tokenizer_fingerprint(tokenizer),
                    "eot_id": tokenizer.special_tokens.get(EOT), "dtype": token_dtype(tokenizer.vocab_size).name}
        problems += [f"{key}: file {header.get(key)!r}, tokenizer {value!r}"
                     for key, value in expected.items() if header.get(key) != value]
    size = path.stat().st_size if path.is_file() else None
    if size != header.get("num_tokens", -1) * np.dtype(header.get("dtype", "uint16")).itemsize:
        problems.append(f"the file holds {size} bytes, the sidecar promises {header.get('num_tokens')} "
                        f"{header.get('dtype')} tokens")
    if problems:
        raise ValueError(f"token file {path.name} does not match: " + "; ".join(problems) +
                         ". Delete it (and its .json) to rebuild it with this tokenizer.")
    return np.memmap(path, dtype=header["dtype"], mode="r")


def read_header(path) -> dict:
    """The sidecar of a token file."""
    return json.loads(Path(path).with_suffix(".json").read_text())


SOURCES = {"stories": None, "tinystories": "roneneldan/TinyStories"}


def stream_texts(source: str, split: str):
    """The texts of `source` ("stories": data/stories_{split}.jsonl, "tinystories": the hub) for split
    "train" or "val", streamed one at a time through `datasets`."""
    import datasets
    if source not in SOURCES:
        raise ValueError(f"unknown data source {source!r}; choose one of {sorted(SOURCES)}")
    if source == "stories":
        from rawllm.world import corpus_path
        stream = datasets.load_dataset("json", data_files=str(corpus_path(split)), split="train", streaming=True)
    else:
        stream = datasets.load_dataset(SOURCES[source], split="validation" if split == "val" else split,
                                       streaming=True)
    return (row["text"] for row in stream)


def prepare_tokens(source: str, split: str, tokenizer: BPETokenizer, max_tokens: int | None = None) -> Path:
    """The token file of (source, split) in the cache, written on first use (at most max_tokens tokens); its path."""
    name = f"{source}-{split}-{tokenizer_fingerprint(tokenizer)}" + (f"-{max_tokens}" if max_tokens else "")
    path = cache_path("tokens", name + ".bin")
    if not path.with_suffix(".json").is_file():
        write_token_file(path, stream_texts(source, split), tokenizer, source, max_tokens)
    open_tokens(path, tokenizer)
    return path


class BatchSampler:
    """Batches of windows of a token array: `sampler.batch(step)` -> (x, y), each (rows, seq_len) int64 tensors,
    the rows of this rank's share of the global batch of `step`; y is x shifted by one token."""

    def __init__(self, tokens: np.ndarray, seq_len: int, batch_size: int, seed: int = 0,
                 bos_token_id: int | None = None, rank: int = 0, world_size: int = 1, data: dict | None = None,
                 document_start_id: int | None = None):
        if batch_size % world_size:
            raise ValueError(f"batch_size={batch_size} is not divisible by world_size={world_size}")
        if len(tokens) < seq_len + 1:
            raise ValueError(f"the token array has {len(tokens)} tokens, fewer than seq_len + 1 = {seq_len + 1}")
        self.tokens, self.seq_len, self.batch_size, self.seed = tokens, seq_len, batch_size, seed
        self.rank, self.world_size, self.data = rank, world_size, data      # data: the file's data_fingerprint
        self.document_start_id = document_start_id          # set: position ids restart at each document
        # None: any offset; else the allowed window starts
        self.starts = None if bos_token_id is None else bos_window_starts(tokens, seq_len, bos_token_id)

    def offsets(self, step: int) -> np.ndarray:
        """The start offsets of the whole global batch of `step`, (batch_size,)."""
        rng = np.random.default_rng([self.seed, step])
        if self.starts is None:
            return rng.integers(0, len(self.tokens) - self.seq_len, size=self.batch_size)
        return self.starts[rng.integers(0, len(self.starts), size=self.batch_size)]

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.batch_size // self.world_size
        offsets = self.offsets(step)[self.rank * rows:(self.rank + 1) * rows]
        windows = self.tokens[offsets[:, None] + np.arange(self.seq_len + 1)]       # (rows, seq_len + 1)
        windows = torch.from_numpy(windows.astype(np.int64))
        return windows[:, :-1], windows[:, 1:]

    def position_ids(self, x: torch.Tensor) -> torch.Tensor | None:
        """None (positions 0 .. T-1 in every row), or with document_start_id, document_positions(x, that id)."""
        return None if self.document_start_id is None else document_positions(x, self.document_start_id)

    def state_dict(self) -> dict:
        return {"seed": self.seed, "seq_len": self.seq_len, "batch_size": self.batch_size,
                "bos_aligned": self.starts is not None, "data": self.data}


def bos_window_starts(tokens: np.ndarray, seq_len: int, bos_token_id: int) -> np.ndarray:
    """The offsets of bos_token_id in `tokens` that leave room for a window of seq_len + 1 ids."""
    starts = np.flatnonzero(np.asarray(tokens) == bos_token_id)
    starts = starts[starts <= len(tokens) - seq_len - 1]
    if not len(starts):
        raise ValueError(f"no <|endoftext|> (id {bos_token_id}) leaves room for a window of {seq_len + 1}")
    return starts


def document_positions(x: torch.Tensor, document_start_id: int) -> torch.Tensor:
    """position_ids (rows, T) of packed windows x (rows, T): 0 at every document_start_id (the token file puts
    <|endoftext|> before each document) and counting up from there; a window's first tokens count from 0 too."""
    columns = torch.arange(x.shape[1], device=x.device).expand_as(x)                   # (rows, T)
    starts = torch.where(x == document_start_id, columns, torch.zeros_like(columns))
    return columns - starts.cummax(dim=1).values                                        # minus the last start so far


def check_implementation(name: str, **flags) -> None:
    """Refuse implementation flags (fused=True, ...) that our from-scratch optimizers do not have."""
    asked = [flag for flag, value in flags.items() if value]
    if asked:
        raise NotImplementedError(f"{name}: {', '.join(f'{f}=True' for f in asked)} is not implemented here; "
                                  f"use torch.optim.{name} for that implementation, or leave the flag at its default")


def adamw_update(params, grads, states, group) -> None:
    """The AdamW equations, one tensor at a time (params, grads: lists of tensors; states: their state dicts)."""
    beta1, beta2 = group["betas"]
    lr, eps, weight_decay = float(group["lr"]), group["eps"], group["weight_decay"]
    for param, grad, state in zip(params, grads, states):
        grad = -grad if group["maximize"] else grad
        state["step"] += 1
        t = state["step"].item()
        param.mul_(1 - lr * weight_decay)                                   # decoupled weight decay
        state["exp_avg"].lerp_(grad, 1 - beta1)                             # m = b1 m + (1 - b1) g
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)   # v = b2 v + (1 - b2) g^2
        v = state["exp_avg_sq"]
        if group["amsgrad"]:
            v = torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        denom = (v.sqrt() / math.sqrt(1 - beta2 ** t)).add_(eps)            # sqrt(v_hat) + eps
        param.addcdiv_(state["exp_avg"], denom, value=-lr / (1 - beta1 ** t))


def adamw_update_foreach(params, grads, states, group) -> None:
    """The same equations on whole lists of tensors (one torch._foreach_* call per operation)."""
    beta1, beta2 = group["betas"]
    lr, eps, weight_decay = float(group["lr"]), group["eps"], group["weight_decay"]
    grads = torch._foreach_neg(grads) if group["maximize"] else grads
    m, v = [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]
    torch._foreach_add_([s["step"] for s in states], 1)
    t = [s["step"].item() for s in states]
    torch._foreach_mul_(params, 1 - lr * weight_decay)
    torch._foreach_lerp_(m, grads, 1 - beta1)
    torch._foreach_mul_(v, beta2)
    torch._foreach_addcmul_(v, grads, grads, 1 - beta2)
    if group["amsgrad"]:
        v = [s["max_exp_avg_sq"] for s in states]
        torch._foreach_maximum_(v, [s["exp_avg_sq"] for s in states])
    denom = torch._foreach_sqrt(v)
    torch._foreach_div_(denom, [math.sqrt(1 - beta2 ** k) for k in t])
    torch._foreach_add_(denom, eps)
    torch._foreach_addcdiv_(params, m, denom, [-lr / (1 - beta1 ** k) for k in t])


def closure_loss(closure):
    """The loss a `step(closure)` returns: closure() evaluated with gradients enabled, or None without a closure."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def check_nonnegative(**values) -> None:
    for name, value in values.items():
        if not 0.0 <= value:
            raise ValueError(f"invalid {name}: {value} (must be >= 0)")


def adamw_state(param: torch.Tensor, amsgrad: bool) -> dict:
    """A fresh AdamW state, under PyTorch's names: step 0, zero moments of param's shape."""
    state = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
             "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format)}
    if amsgrad:
        state["max_exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
    return state


class AdamW(torch.optim.Optimizer):
    """AdamW from its equations, with the arguments and defaults of torch.optim.AdamW."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        check_implementation("AdamW", capturable=capturable, differentiable=differentiable, fused=fused)
        check_nonnegative(lr=lr, eps=eps, weight_decay=weight_decay)
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"invalid betas {betas}: each must be in [0, 1)")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, foreach=foreach))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure_loss(closure)
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if p.grad.is_sparse:
                    raise RuntimeError("AdamW does not support sparse gradients")
                self.state[p] = self.state[p] or adamw_state(p, group["amsgrad"])
            foreach = group["foreach"]
            if foreach is None:                          # PyTorch's default: foreach when every tensor is on a GPU
                foreach = all(p.is_cuda for p in params)
            update = adamw_update_foreach if foreach else adamw_update
            update(params, [p.grad for p in params], [self.state[p] for p in params], group)
        return loss


def decays(name: str, param: torch.Tensor) -> bool:
    """Weight decay for matmul weights (2-D or more); none for norms, biases (1-D) and embeddings."""
    return param.ndim >= 2 and "embed" not in name


def parameter_groups(model: torch.nn.Module, weight_decay: float, params=None) -> list[dict]:
    """Two AdamW groups, each with "params" and "names": decayed matmul weights, then the rest with no decay.

    `params` (names -> tensors) restricts the groups to those tensors; by default all trainable ones.
    A tensor shared under two names (a tied lm_head) appears once, under its first name."""
    params = dict(model.named_parameters()) if params is None else params
    groups = [{"params": [], "names": [], "weight_decay": weight_decay},
              {"params": [], "names": [], "weight_decay": 0.0}]
    for name, param in params.items():
        if param.requires_grad:
            group = groups[0] if decays(name, param) else groups[1]
            group["params"].append(param)
            group["names"].append(name)
    return groups


NS_COEFFICIENTS = (3.4445, -4.775, 2.0315)


def ns_dtype(device) -> torch.dtype:
    """Newton-Schulz's working dtype on `device`: on a GPU the series' autocast dtype (bf16 on sm_80+, fp16 on
    older GPUs such as the T4, which lack native bf16); elsewhere bf16, as torch.optim.Muon uses everywhere."""
    device = torch.device(device)
    return autocast_dtype(device) if device.type == "cuda" else torch.bfloat16


def newton_schulz(G: torch.Tensor, steps: int = 5, coefficients=NS_COEFFICIENTS, eps: float = 1e-7,
                  dtype: torch.dtype | None = None) -> torch.Tensor:
    """An approximately orthogonal matrix U V^T (singular values in about [0.68, 1.2]) of G = U S V^T, shape of G.
    The iterations run in `dtype` (None: ns_dtype(G.device))."""
    if G.ndim != 2:
        raise ValueError(f"newton_schulz orthogonalises a matrix; got a tensor of shape {tuple(G.shape)}")
    a, b, c = coefficients
    X = G.to(dtype or ns_dtype(G.device))
    tall = G.shape[0] > G.shape[1]
    if tall:
        X = X.T                                                  # (min, max): the Gram matrix is min x min
    X = X / X.norm().clamp(min=eps)                              # singular values <= 1
    for _ in range(steps):
        gram = X @ X.T                                           # X X^T
        poly = torch.addmm(gram, gram, gram, beta=b, alpha=c)    # b X X^T + c (X X^T)^2
        X = torch.addmm(X, poly, X, beta=a)                      # a X + poly X
    return (X.T if tall else X).to(G.dtype)


def muon_lr_scale(shape, adjust_lr_fn: str | None) -> float:
    """Muon's learning-rate factor for a (rows, cols) matrix: "original" sqrt(max(1, rows/cols)) or "match_rms_adamw"."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return math.sqrt(max(1.0, rows / cols))
    if adjust_lr_fn == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols))
    raise ValueError(f"adjust_lr_fn must be None, 'original' or 'match_rms_adamw', not {adjust_lr_fn!r}")


def check_matrices(group: dict) -> None:
    """Muon updates matrices only: name (when known) and shape of any other parameter."""
    names = group.get("param_names") or group.get("names") or [None] * len(group["params"])
    for name, p in zip(names, group["params"]):
        if p.ndim != 2:
            label = f"parameter {name!r}" if name else "a parameter"
            raise ValueError(f"Muon updates 2-D weight matrices only; {label} has shape {tuple(p.shape)}: "
                             f"give it to AdamW (make_optimizers(model, 'muon') does this split)")


class Muon(torch.optim.Optimizer):
    """Muon from its equations, with the arguments and defaults of torch.optim.Muon (2-D parameters only)."""

    def __init__(self, params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                 ns_coefficients=NS_COEFFICIENTS, eps=1e-7, ns_steps=5, adjust_lr_fn=None):
        check_nonnegative(lr=lr, momentum=momentum, weight_decay=weight_decay)
        muon_lr_scale((1, 1), adjust_lr_fn)                         # rejects an unknown adjust_lr_fn
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                        ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps, adjust_lr_fn=adjust_lr_fn)
        super().__init__(params, defaults)
        for group in self.param_groups:
            check_matrices(group)

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure_loss(closure)
        for group in self.param_groups:
            lr, mu = float(group["lr"]), group["momentum"]
            for p in (p for p in group["params"] if p.grad is not None):
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad, memory_format=torch.preserve_format)
                buf = state["momentum_buffer"].lerp_(p.grad, 1 - mu)          # B = mu B + (1 - mu) G
                update = p.grad.lerp(buf, mu) if group["nesterov"] else buf    # (1 - mu) G + mu B
                O = newton_schulz(update, group["ns_steps"], group["ns_coefficients"], group["eps"])
                p.mul_(1 - lr * group["weight_decay"])                         # decoupled decay, unscaled lr
                p.add_(O, alpha=-lr * muon_lr_scale(p.shape, group["adjust_lr_fn"]))
        return loss


OPTIMIZERS = ("adamw", "muon")


def is_hidden_matrix(name: str, param: torch.Tensor) -> bool:
    """A 2-D matmul weight inside the blocks (Muon's); the embedding and lm_head are outside, MoE routers excluded."""
    return param.ndim == 2 and ".layers." in name and not name.endswith(".mlp.gate.weight")


def make_optimizers(model: torch.nn.Module, name: str = "adamw", lr: float = 1e-3, weight_decay: float = 0.1,
                    betas=(0.9, 0.95), muon_lr: float = 0.02, muon_momentum: float = 0.95) -> list:
    """[AdamW] or [Muon (hidden matrices), AdamW (embeddings, head, norms, biases)]; every group has "base_lr"."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {OPTIMIZERS}")
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    optimizers = []
    if name == "muon":
        hidden = {n: p for n, p in params.items() if is_hidden_matrix(n, p)}
        params = {n: p for n, p in params.items() if n not in hidden}
        optimizers.append(Muon([{"params": list(hidden.values()), "names": list(hidden)}], lr=muon_lr,
                               weight_decay=weight_decay, momentum=muon_momentum))
    groups = [g for g in parameter_groups(model, weight_decay, params) if g["params"]]
    optimizers.append(AdamW(groups, lr=lr, betas=betas, weight_decay=weight_decay))
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["base_lr"] = group["lr"]
    return optimizers


SCHEDULES = ("cosine", "wsd", "constant")


def lr_multiplier(step: int, max_steps: int, warmup_steps: int, schedule: str = "cosine",
                  min_lr_ratio: float = 0.1, decay_fraction: float = 0.2) -> float:
    """The learning-rate factor in [0, 1] at `step` (0-based): linear warmup, then cosine, WSD or constant."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {SCHEDULES}")
    if max_steps < 1 or not 0 <= warmup_steps <= max_steps:
        raise ValueError(f"need max_steps >= 1 and 0 <= warmup_steps <= max_steps, got {max_steps}, {warmup_steps}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    decay_start = max(warmup_steps, max_steps - decay_fraction * max_steps)
    progress = min(1.0, (step - decay_start) / max(1, max_steps - decay_start))
    return 1.0 if progress <= 0 else 1.0 - (1 - min_lr_ratio) * progress


@dataclass
class TrainConfig:
    """One pretraining run. batch_size: sequences per optimizer step, over all ranks and accumulation steps."""
    model: ModelConfig                         # a ModelConfig, or a rawllm.moe.MoEConfig for a mixture of experts
    seq_len: int = 256
    batch_size: int = 32
    grad_accum_steps: int = 1                  # micro-batches per optimizer step (per rank)
    max_steps: int = 1000
    optimizer: str = "adamw"                   # "adamw", or "muon" (Muon for hidden matrices, AdamW for the rest)
    lr: float = 1e-3                           # peak learning rate of AdamW
    min_lr_ratio: float = 0.1                  # the schedule ends at lr * min_lr_ratio
    warmup_steps: int = 100
    schedule: str = "cosine"                   # "cosine", "wsd" (warmup-stable-decay) or "constant"
    decay_fraction: float = 0.2                # wsd: the share of steps spent decaying
    weight_decay: float = 0.1
    betas: tuple = (0.9, 0.95)
    muon_lr: float = 0.02
    grad_clip: float = 1.0                     # max global gradient norm; 0 turns clipping off
    eval_interval: int = 100                   # steps between validation losses (and at the last step)
    eval_steps: int = 10                       # validation batches per evaluation
    sample_interval: int = 0                   # steps between samples from the model; 0: none
    checkpoint_dir: str | None = None          # where checkpoints go; a run resumes from the latest one there
    checkpoint_interval: int = 0               # steps between checkpoints (and one at the end); 0: only the end
    keep_checkpoints: int = 2                  # how many step folders to keep
    data: str = "stories"                      # "stories", "tinystories", or the path of a token file (.bin)
    val_data: str | None = None                # with a path in `data`: the validation token file (None: the same)
    max_tokens: int | None = None              # cap on the tokens prepared from the source
    bos_aligned: bool = False                  # windows start at <|endoftext|>
    document_masking: bool = False             # positions restart at each <|endoftext|>: no attention across stories
    device: str | None = None                  # None: pick_device(); with torchrun: cuda:LOCAL_RANK
    amp: bool = True                           # autocast (bf16 on sm_80+, fp16 + GradScaler before); fp32 on CPU
    compile: bool = False                      # torch.compile the model
    aux_loss_coef: float = 0.01                # MoE: weight of the Switch loss (softmax routers only)
    seq_aux_loss_coef: float = 0.0             # MoE: weight of DeepSeek's sequence-wise loss (DeepSeek-V3: 1e-4)
    bias_update_rate: float = 0.0              # MoE: gamma of the aux-loss-free bias update (needs correction_bias)
    max_bad_steps: int = 5                     # stop after this many non-finite losses in a row
    spike_factor: float = 2.0                  # report a loss above spike_factor x its recent average
    stop_at_step: int | None = None            # end this session early (the schedule still spans max_steps)
    seed: int = 1337


RUN_CONTROL_FIELDS = {"eval_interval", "eval_steps", "sample_interval", "checkpoint_dir", "checkpoint_interval",
                      "keep_checkpoints", "device", "compile", "stop_at_step", "max_bad_steps", "spike_factor"}


def config_dict(config) -> dict:
    """A dataclass (a TrainConfig with its model config, or a ModelConfig) as a flat JSON-ready dict:
    {"lr": 0.001, "model.d_model": 256, ..., "model.class": "ModelConfig"}."""
    flat = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if hasattr(value, "__dataclass_fields__"):
            flat.update({f"{f.name}.{k}": v for k, v in config_dict(value).items()})
        else:
            flat[f.name] = value
    flat["class"] = type(config).__name__
    return json.loads(json.dumps(flat))


def config_differences(saved: dict, current: dict, ignore=RUN_CONTROL_FIELDS) -> list[str]:
    """'name: saved X, now Y' for every field of two config_dicts that differs, ignoring run-control fields."""
    names = sorted((set(saved) | set(current)) - set(ignore))
    return [f"{n}: saved {saved.get(n)!r}, now {current.get(n)!r}" for n in names if saved.get(n) != current.get(n)]


def check_config(config: TrainConfig, world_size: int = 1) -> None:
    """ValueError for a config that cannot run: the reason, with the numbers."""
    c = config
    if c.seq_len > c.model.max_seq_len:
        raise ValueError(f"seq_len={c.seq_len} is beyond the model's context of max_seq_len={c.model.max_seq_len}")
    per_step = c.grad_accum_steps * world_size
    if c.batch_size % per_step:
        raise ValueError(f"batch_size={c.batch_size} is not divisible by grad_accum_steps x world_size = "
                         f"{c.grad_accum_steps} x {world_size} = {per_step}")
    if c.schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {c.schedule!r}; choose one of {SCHEDULES}")
    if c.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {c.optimizer!r}; choose one of {OPTIMIZERS}")
    if c.max_steps < 1 or c.eval_steps < 1 or c.eval_interval < 1:
        raise ValueError("max_steps, eval_steps and eval_interval must be at least 1")
    if not 0 <= c.warmup_steps <= c.max_steps:
        raise ValueError(f"warmup_steps={c.warmup_steps} must lie between 0 and max_steps={c.max_steps}")
    check_balancing(c)


def check_balancing(config: TrainConfig) -> None:
    """ValueError for MoE balancing settings that do not fit the model's routers."""
    c, scoring = config, getattr(config.model, "scoring", None)              # scoring None: a dense model
    if min(c.aux_loss_coef, c.seq_aux_loss_coef, c.bias_update_rate) < 0:
        raise ValueError("aux_loss_coef, seq_aux_loss_coef and bias_update_rate must be >= 0")
    if c.aux_loss_coef and scoring == "sigmoid":
        raise ValueError(f"aux_loss_coef={c.aux_loss_coef}: the Switch loss balances softmax probabilities, not the "
                         "scores of a sigmoid router; set aux_loss_coef=0 and use seq_aux_loss_coef (DeepSeek's "
                         "sequence-wise loss) and/or bias_update_rate (the auxiliary-loss-free bias update)")
    if c.seq_aux_loss_coef and scoring is None:
        raise ValueError(f"seq_aux_loss_coef={c.seq_aux_loss_coef} needs a mixture of experts (a rawllm.moe.MoEConfig)")
    if c.bias_update_rate and not (scoring == "sigmoid" and getattr(c.model, "correction_bias", False)):
        raise ValueError(f"bias_update_rate={c.bias_update_rate} needs routers with a selection bias: an MoEConfig "
                         "with scoring='sigmoid' and correction_bias=True")


def build_model(config: ModelConfig) -> nn.Module:
    """A Transformer, or a MoETransformer for a rawllm.moe.MoEConfig."""
    from rawllm.moe import MoEConfig, MoETransformer
    return MoETransformer(config) if isinstance(config, MoEConfig) else Transformer(config)


def model_loss(model, raw_model, x, y, aux_loss_coef: float = 0.0, attention_mask=None,
               seq_aux_loss_coef: float = 0.0, position_ids=None) -> torch.Tensor:
    """Mean cross-entropy of logits (B, T, V) against targets y (B, T) (a target -100 is ignored), plus an MoE's
    balancing losses. attention_mask (B, T), 1 = real token, 0 = padding, goes to the model and to those losses;
    position_ids (B, T) to the model (restarting positions keep packed documents apart)."""
    logits = model(x, attention_mask=attention_mask, position_ids=position_ids)
    loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())
    if hasattr(raw_model, "routings") and (aux_loss_coef or seq_aux_loss_coef):
        loss = loss + balancing_loss(raw_model, x.shape, aux_loss_coef, seq_aux_loss_coef, attention_mask)
    return loss


def balancing_loss(raw_model, shape, aux_loss_coef: float, seq_aux_loss_coef: float, attention_mask=None):
    """aux_loss_coef x the Switch loss over every MoE layer's tokens + seq_aux_loss_coef x the sum over MoE layers
    of DeepSeek's sequence-wise loss, on the routings of the last forward of `shape` (B, T), real tokens only."""
    from rawllm.moe import load_balancing_loss, sequence_balance_loss
    routings, top_k, (B, T) = raw_model.routings(), raw_model.config.top_k, shape
    mask = None if attention_mask is None else attention_mask[:, -T:]
    loss = 0.0
    if aux_loss_coef:
        loss = loss + aux_loss_coef * load_balancing_loss([r.logits for r in routings], top_k, mask)
    for r in routings if seq_aux_loss_coef else []:
        loss = loss + seq_aux_loss_coef * sequence_balance_loss(r.scores.view(B, T, -1), r.experts.view(B, T, -1),
                                                                top_k, mask)
    return loss


def backward_micro_batches(model, raw_model, scaler, x, y, config: TrainConfig, autocast, loads=None,
                           position_ids=None) -> torch.Tensor:
    """Accumulate the gradient of the mean loss over x, y (rows, T) in grad_accum_steps micro-batches; returns
    the mean loss (a detached scalar). Under DDP, gradients are all-reduced only after the last micro-batch.
    `loads`, a list, receives each micro-batch's tokens per expert (MoE layers, E) for the bias update;
    position_ids (rows, T), if given, are split like x."""
    device = next(raw_model.parameters()).device
    total = torch.zeros((), device=device)
    chunks = [t.chunk(config.grad_accum_steps) if t is not None else [None] * config.grad_accum_steps
              for t in (x, y, position_ids)]
    for xb, yb, pb, last in zip(*chunks, [False] * (config.grad_accum_steps - 1) + [True]):
        sync = contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        pb = None if pb is None else pb.to(device, non_blocking=True)
        with sync:
            with autocast:
                loss = model_loss(model, raw_model, xb, yb, config.aux_loss_coef, seq_aux_loss_coef=config.seq_aux_loss_coef,
                                  position_ids=pb) / config.grad_accum_steps
            scaler.scale(loss).backward()
        total += loss.detach()
        if loads is not None:
            from rawllm.moe import expert_load
            n_experts = raw_model.config.n_experts
            loads.append(torch.stack([expert_load(r.experts, n_experts) for r in raw_model.routings()]))
    return total


def update_router_biases(raw_model, load: torch.Tensor, gamma: float, world_size: int = 1) -> None:
    """DeepSeek-V3's bias update in every MoE layer from a step's tokens per expert `load` (MoE layers, E),
    summed over the ranks first, so that every rank makes the same update from the whole batch's load."""
    from rawllm.moe import update_expert_bias
    if world_size > 1:
        import torch.distributed as dist
        dist.all_reduce(load)
    for moe, layer_load in zip(raw_model.moe_layers(), load):
        update_expert_bias(moe.gate.e_score_correction_bias, layer_load, gamma)


def apply_update(raw_model, optimizers, scaler, config: TrainConfig) -> float:
    """Unscale, clip to config.grad_clip (0: no clipping), step, zero the gradients; the norm before clipping."""
    for opt in optimizers:
        scaler.unscale_(opt)
    max_norm = config.grad_clip if config.grad_clip > 0 else float("inf")
    grad_norm = torch.nn.utils.clip_grad_norm_(raw_model.parameters(), max_norm)
    for opt in optimizers:
        scaler.step(opt)
    scaler.update()
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    return grad_norm.item()


def set_learning_rates(optimizers, step: int, config: TrainConfig) -> float:
    """group["lr"] = group["base_lr"] x the schedule's multiplier at `step`; returns the multiplier."""
    multiplier = lr_multiplier(step, config.max_steps, config.warmup_steps, config.schedule, config.min_lr_ratio,
                               config.decay_fraction)
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group["base_lr"] * multiplier
    return multiplier


@torch.no_grad()
def evaluate(model: nn.Module, sampler: BatchSampler, steps: int, autocast=contextlib.nullcontext()) -> float:
    """Mean cross-entropy over the sampler's batches 0 .. steps - 1, in eval mode."""
    was_training, device = model.training, next(model.parameters()).device
    model.eval()
    losses = []
    for step in range(steps):
        x, y = sampler.batch(step)
        positions = sampler.position_ids(x)
        with autocast:
            losses.append(model_loss(model, model, x.to(device), y.to(device), position_ids=None if positions is None
                                     else positions.to(device)).item())
    model.train(was_training)
    return sum(losses) / len(losses)


@torch.no_grad()
def sample_text(model: nn.Module, tokenizer: BPETokenizer, prompt: str = "", max_new_tokens: int = 80,
                temperature: float = 0.8, seed: int = 0) -> str:
    """prompt + a continuation drawn at `temperature` (0: greedy) after <|endoftext|>, up to the next one."""
    was_training, device = model.training, next(model.parameters()).device
    model.eval()
    eot = tokenizer.special_tokens[EOT]
    ids = torch.tensor([[eot, *tokenizer.encode(prompt)]], device=device)
    max_new_tokens = min(max_new_tokens, model.config.max_seq_len - ids.shape[1])
    cache = model.new_cache(1, ids.shape[1] + max_new_tokens)
    generator, out = torch.Generator(device).manual_seed(seed), []
    for _ in range(max_new_tokens):
        logits = model(ids, cache=cache)[0, -1].float()                     # (vocab,)
        if temperature == 0:
            ids = logits.argmax().view(1, 1)
        else:
            ids = torch.multinomial((logits / temperature).softmax(-1), 1, generator=generator).view(1, 1)
        if ids.item() == eot:
            break
        out.append(ids.item())
    model.train(was_training)
    return prompt + tokenizer.decode(out)


PEAK_FLOPS = {"T4": 65e12, "A100": 312e12, "H100": 989e12, "H200": 989e12}   # dense fp16/bf16 FLOP/s


def peak_flops(device) -> float | None:
    """The table's peak for the CUDA device's name (H100 PCIe: 756e12), or None (CPU, unknown GPU)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    if "H100" in name and "PCIe" in name:
        return 756e12
    return next((peak for key, peak in PEAK_FLOPS.items() if key in name), None)


def flatten_optimizer_state(optimizers) -> tuple[dict, list]:
    """(tensors {"i.param.key": tensor}, [{"state": non-tensor entries, "param_groups": ...}] per optimizer)."""
    tensors, meta = {}, []
    for i, opt in enumerate(optimizers):
        sd = opt.state_dict()
        plain = {}
        for index, entries in sd["state"].items():
            for key, value in entries.items():
                if torch.is_tensor(value):
                    tensors[f"{i}.{index}.{key}"] = value.detach().cpu().contiguous()
                else:
                    plain.setdefault(str(index), {})[key] = value
        meta.append({"state": plain, "param_groups": sd["param_groups"]})
    return tensors, meta


def load_optimizer_state(optimizers, tensors: dict, meta: list) -> None:
    """Inverse of flatten_optimizer_state; tuples in the groups' settings (betas) come back as tuples."""
    for i, (opt, saved) in enumerate(zip(optimizers, meta, strict=True)):
        state = {int(index): dict(entries) for index, entries in saved["state"].items()}
        for name, value in tensors.items():
            opt_index, index, key = name.split(".", 2)
            if int(opt_index) == i:
                state.setdefault(int(index), {})[key] = value
        groups = saved["param_groups"]
        for group, current in zip(groups, opt.param_groups):
            group.update({k: tuple(group[k]) for k, v in current.items() if isinstance(v, tuple) and k in group})
        opt.load_state_dict({"state": state, "param_groups": groups})


def rng_state() -> tuple[dict, dict]:
    """(tensors, json) holding the states of torch (CPU, every GPU), NumPy and Python's random."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update({f"cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    version, state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return tensors, {"python": [version, list(state), gauss], "numpy": [kind, keys.tolist(), pos, has_gauss, cached]}


def set_rng_state(tensors: dict, saved: dict) -> None:
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[f"cuda.{i}"] for i in range(sum(k.startswith("cuda.") for k in tensors))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[:torch.cuda.device_count()])
    version, state, gauss = saved["python"]
    random.setstate((version, tuple(state), gauss))
    kind, keys, pos, has_gauss, cached = saved["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


def save_checkpoint(path, model: nn.Module, optimizers=(), step: int = 0, config: TrainConfig | None = None,
                    scaler=None, sampler: BatchSampler | None = None, history: dict | None = None,
                    keep: int = 2) -> Path:
    """Write checkpoint `path`/step-{step}/ atomically, point `path`/latest.json at it, keep the newest `keep`."""
    from safetensors.torch import save_file
    root = Path(path)
    name = f"step-{step:06d}"
    final, tmp = root / name, root / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    optim_tensors, optim_meta = flatten_optimizer_state(optimizers)
    rng_tensors, rng_meta = rng_state()
    state = {"step": step, "config": None if config is None else config_dict(config), "optimizers": optim_meta,
             "scaler": None if scaler is None else scaler.state_dict(), "rng": rng_meta,
             "sampler": None if sampler is None else sampler.state_dict(), "history": history}
    for file, tensors in (("model", checkpoint_tensors(model)), ("optimizer", optim_tensors), ("rng", rng_tensors)):
        atomic_write(tmp / f"{file}.safetensors",
                     lambda t, tensors=tensors: save_file({k: v.cpu() for k, v in tensors.items()}, t))
    atomic_write(tmp / "state.json", lambda t: t.write_text(json.dumps(state)))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    atomic_write(root / "latest.json", lambda t: t.write_text(json.dumps({"step": step, "folder": name}) + "\n"))
    for old in sorted(root.glob("step-*"))[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def data_fingerprint(path) -> dict:
    """What identifies a token file to a resumed run: its name, token count, tokenizer fingerprint and a hash of
    its sidecar (which records these, the document count and the source)."""
    sidecar = Path(path).with_suffix(".json").read_text()
    header = json.loads(sidecar)
    return {"file": Path(path).with_suffix(".bin").name, "tokens": header["num_tokens"],
            "tokenizer": header["tokenizer"], "sidecar": hashlib.sha256(sidecar.encode()).hexdigest()[:16]}


def check_same_data(folder: Path, state: dict, data: dict | None) -> None:
    """ValueError when checkpoint `folder`'s sampler walked another token file than `data` (a data_fingerprint)."""
    saved = (state.get("sampler") or {}).get("data")
    if data is None or saved is None or saved == data:
        return
    describe = lambda d: f"{d['file']} ({d['tokens']} tokens, tokenizer {d['tokenizer']}, sidecar {d['sidecar']})"
    raise ValueError(f"checkpoint {folder.name} was trained on the token file {describe(saved)}, but this run "
                     f"reads {describe(data)}; resume on the same file, or start a new checkpoint_dir")


def checkpoint_folder(path) -> Path:
    """The step folder `path` names: itself if it holds state.json, else the one path/latest.json points to."""
    path = Path(path)
    if (path / "state.json").is_file():
        return path
    if not (path / "latest.json").is_file():
        raise FileNotFoundError(f"no checkpoint in {path}: neither state.json nor latest.json is there")
    return path / json.loads((path / "latest.json").read_text())["folder"]


def load_checkpoint(path, model: nn.Module, optimizers=(), scaler=None, config: TrainConfig | None = None,
                    restore_rng: bool = True, data: dict | None = None) -> dict:
    """Load a checkpoint (a step folder, or a folder with latest.json) into model, optimizers and scaler, and
    the random generators; returns its state dict (step, history, sampler, config). With `config`, a checkpoint
    written under another configuration is refused with a ValueError naming the fields that differ; with `data`
    (a data_fingerprint), one whose sampler walked another token file is refused too."""
    from safetensors.torch import load_file
    folder = checkpoint_folder(path)
    state = json.loads((folder / "state.json").read_text())
    if config is not None and state["config"] is not None:
        differences = config_differences(state["config"], config_dict(config))
        if differences:
            raise ValueError(f"checkpoint {folder.name} was written with a different config:\n  " +
                             "\n  ".join(differences))
    check_same_data(folder, state, data)
    device = next(model.parameters()).device
    tensors = check_checkpoint(model, load_file(folder / "model.safetensors", device=str(device)))
    model.load_state_dict(tensors, strict=False)
    if optimizers:
        load_optimizer_state(optimizers, load_file(folder / "optimizer.safetensors"), state["optimizers"])
    if scaler is not None and state["scaler"]:
        scaler.load_state_dict(state["scaler"])
    if restore_rng:
        set_rng_state(load_file(folder / "rng.safetensors"), state["rng"])
    return state


def distributed_backend(device: str | None = None) -> str:
    """The process group's backend for a run on `device`: NCCL between GPUs, gloo between CPU (or MPS)
    processes; None is the device the run would pick, a GPU whenever CUDA is there."""
    on_gpu = device.startswith("cuda") if device else torch.cuda.is_available()
    return "nccl" if on_gpu else "gloo"


def init_distributed(device: str | None = None) -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment, joining the process group (the backend of
    distributed_backend(device)) on first use; (0, 1, 0) in a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 1, 0
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group(distributed_backend(device))
    return dist.get_rank(), world_size, int(os.environ.get("LOCAL_RANK", "0"))


def all_reduce_mean(value: torch.Tensor, world_size: int) -> torch.Tensor:
    if world_size > 1:
        import torch.distributed as dist
        dist.all_reduce(value)
        value = value / world_size
    return value


def barrier(world_size: int) -> None:
    if world_size > 1:
        import torch.distributed as dist
        dist.barrier()


def series_tokenizer(rank: int, world_size: int) -> BPETokenizer:
    """Notebook 01's series tokenizer: rank 0 trains and caches it when it is missing while the others wait,
    then they load it (without the barrier, every rank of a run on an empty cache would train its own)."""
    if rank != 0:
        barrier(world_size)
    tokenizer = load_series_tokenizer()
    if rank == 0:
        barrier(world_size)
    return tokenizer


def training_data(config: TrainConfig, tokenizer, rank: int, world_size: int):
    """(train sampler for this rank, validation sampler): rank 0 writes missing token files while the others wait."""
    if config.data in SOURCES:
        if rank != 0:
            barrier(world_size)
        paths = [prepare_tokens(config.data, split, tokenizer, config.max_tokens) for split in ("train", "val")]
        if rank == 0:
            barrier(world_size)
    else:
        paths = [config.data, config.val_data or config.data]
    train_tokens, val_tokens = (open_tokens(p, tokenizer) for p in paths)
    header = read_header(paths[0])
    if header["vocab_size"] > config.model.vocab_size:
        raise ValueError(f"the token file's vocabulary ({header['vocab_size']}) is larger than the model's "
                         f"vocab_size={config.model.vocab_size}")
    bos = header["eot_id"] if config.bos_aligned else None
    documents = header["eot_id"] if config.document_masking else None
    micro_batch = config.batch_size // (world_size * config.grad_accum_steps)
    train_sampler = BatchSampler(train_tokens, config.seq_len, config.batch_size, config.seed, bos, rank, world_size,
                                 data=data_fingerprint(paths[0]), document_start_id=documents)
    val_sampler = BatchSampler(val_tokens, config.seq_len, micro_batch, config.seed + 1, bos,
                               document_start_id=documents)
    return train_sampler, val_sampler


@dataclass
class Run:
    config: TrainConfig
    raw_model: nn.Module                 # the model itself: what is saved and evaluated
    model: nn.Module                     # what the steps call: raw_model, compiled and/or wrapped in DDP
    optimizers: list
    scaler: torch.amp.GradScaler
    train_sampler: BatchSampler
    val_sampler: BatchSampler
    tokenizer: BPETokenizer | None
    autocast: object
    rank: int
    world_size: int
    history: dict
    start_step: int = 0
    progress: bool = True


def new_history() -> dict:
    keys = ("step", "loss", "lr", "grad_norm", "tokens_per_s", "mfu", "val_step", "val_loss", "val_ppl",
            "samples", "events")
    return {key: [] for key in keys}


def run_device(config: TrainConfig, local_rank: int, world_size: int) -> torch.device:
    if world_size > 1 and torch.cuda.is_available() and config.device in (None, "cuda"):
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return pick_device(config.device)[0]


def start_run(config: TrainConfig, model: nn.Module | None = None) -> Run:
    """Everything a run needs, resumed from config.checkpoint_dir's latest checkpoint when there is one."""
    rank, world_size, local_rank = init_distributed(config.device)
    check_config(config, world_size)
    differences = [] if model is None else config_differences(config_dict(model.config), config_dict(config.model))
    if differences:
        raise ValueError("config.model differs from the given model's config: " + "; ".join(differences))
    device = run_device(config, local_rank, world_size)
    amp_dtype = autocast_dtype(device) if config.amp else torch.float32
    tokenizer = series_tokenizer(rank, world_size) if config.data in SOURCES else None
    train_sampler, val_sampler = training_data(config, tokenizer, rank, world_size)
    torch.manual_seed(config.seed)
    raw_model = (model if model is not None else build_model(config.model)).to(device).train()
    optimizers = make_optimizers(raw_model, config.optimizer, lr=config.lr, weight_decay=config.weight_decay,
                                 betas=tuple(config.betas), muon_lr=config.muon_lr)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    history, start = new_history(), 0
    if config.checkpoint_dir and (Path(config.checkpoint_dir) / "latest.json").is_file():
        state = load_checkpoint(config.checkpoint_dir, raw_model, optimizers, scaler, config, data=train_sampler.data)
        history, start = state["history"], state["step"]
    model = torch.compile(raw_model) if config.compile else raw_model
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    autocast = (torch.autocast(device.type, dtype=amp_dtype) if amp_dtype != torch.float32
                else contextlib.nullcontext())
    return Run(config, raw_model, model, optimizers, scaler, train_sampler, val_sampler, tokenizer, autocast,
               rank, world_size, history, start)


def optimizer_step(run: Run, step: int) -> tuple[float, float, float]:
    """One optimizer step at `step`: (mean loss of the global batch, gradient norm (NaN when skipped), the
    learning-rate multiplier)."""
    config = run.config
    multiplier = set_learning_rates(run.optimizers, step, config)
    x, y = run.train_sampler.batch(step)                                  # (rows, T) each, this rank's rows
    loads = [] if config.bias_update_rate else None                      # tokens per expert, for the bias update
    loss = backward_micro_batches(run.model, run.raw_model, run.scaler, x, y, config, run.autocast, loads,
                                  run.train_sampler.position_ids(x))
    loss = all_reduce_mean(loss, run.world_size).item()
    if math.isfinite(loss):
        grad_norm = apply_update(run.raw_model, run.optimizers, run.scaler, config)
        if loads:
            update_router_biases(run.raw_model, sum(loads), config.bias_update_rate, run.world_size)
        return loss, grad_norm, multiplier
    for opt in run.optimizers:
        opt.zero_grad(set_to_none=True)
    return loss, float("nan"), multiplier


def check_guards(run: Run, step: int, loss: float, bad_in_a_row: int) -> tuple[int, str | None]:
    """Update the count of non-finite losses in a row; report skips and spikes; a reason to stop, or None."""
    history, config = run.history, run.config
    if not math.isfinite(loss):
        bad_in_a_row += 1
        note(run, f"step {step}: loss is {loss}; skipped the update ({bad_in_a_row} in a row)")
        if bad_in_a_row >= config.max_bad_steps:
            return bad_in_a_row, f"stopped at step {step}: {bad_in_a_row} non-finite losses in a row"
        return bad_in_a_row, None
    recent = [v for v in history["loss"][-21:-1] if math.isfinite(v)]
    if len(recent) == 20 and loss > config.spike_factor * sum(recent) / 20:
        note(run, f"step {step}: loss spike, {loss:.3f} against a recent mean of {sum(recent) / 20:.3f}")
    return 0, None


def note(run: Run, message: str) -> None:
    run.history["events"].append(message)
    if run.rank == 0:
        print(message, flush=True)


def after_step(run: Run, done: int, final: bool) -> None:
    """Evaluate, sample and checkpoint when their intervals (or the end of the run) come; `done` steps are done."""
    config, history = run.config, run.history
    if done % config.eval_interval == 0 or done == config.max_steps:
        val_loss = evaluate(run.raw_model, run.val_sampler, config.eval_steps, run.autocast)
        history["val_step"].append(done)
        history["val_loss"].append(val_loss)
        history["val_ppl"].append(math.exp(min(val_loss, 50.0)))
        if run.rank == 0 and run.progress:
            print(f"step {done:5d} | train loss {history['loss'][-1]:.3f} | val loss {val_loss:.3f} "
                  f"(ppl {history['val_ppl'][-1]:.1f}) | lr {history['lr'][-1]:.2e} | "
                  f"{history['tokens_per_s'][-1]:,.0f} tokens/s", flush=True)
    if config.sample_interval and run.tokenizer is not None and (done % config.sample_interval == 0 or final):
        history["samples"].append([done, sample_text(run.raw_model, run.tokenizer, seed=done)])
    checkpoint_due = config.checkpoint_interval and done % config.checkpoint_interval == 0
    if config.checkpoint_dir and run.rank == 0 and (checkpoint_due or final):
        save_checkpoint(config.checkpoint_dir, run.raw_model, run.optimizers, done, config, run.scaler,
                        run.train_sampler, history, config.keep_checkpoints)


def train(config: TrainConfig, model: nn.Module | None = None, progress: bool = True) -> dict:
    """Train `model` in place (None: a new one from config.model) as `config` says; returns the history:
    lists step, loss, lr, grad_norm, tokens_per_s, mfu (GPU), val_step, val_loss, val_ppl, samples, events."""
    from tqdm.auto import tqdm
    run = start_run(config, model)
    run.progress = progress
    device, history = next(run.raw_model.parameters()).device, run.history
    flops, peak = training_flops_per_token(run.raw_model.config, config.seq_len), peak_flops(device)
    end = min(config.max_steps, config.stop_at_step or config.max_steps)
    if run.start_step and progress and run.rank == 0:
        print(f"resuming at step {run.start_step} of {end} from the latest checkpoint in checkpoint_dir", flush=True)
    bar = tqdm(total=end, initial=run.start_step, disable=not progress or run.rank != 0, desc="train")
    bad_in_a_row, stop = 0, None
    for step in range(run.start_step, end):
        start = time.perf_counter()
        loss, grad_norm, multiplier = optimizer_step(run, step)
        tokens_per_s = config.batch_size * config.seq_len / (time.perf_counter() - start)
        for key, value in (("step", step + 1), ("loss", loss), ("lr", config.lr * multiplier),
                           ("grad_norm", grad_norm), ("tokens_per_s", tokens_per_s),
                           ("mfu", None if peak is None else tokens_per_s * flops / peak / run.world_size)):
            history[key].append(value)
        bad_in_a_row, stop = check_guards(run, step + 1, loss, bad_in_a_row)
        if stop:
            note(run, stop)
            break
        after_step(run, step + 1, final=step + 1 == end)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
    bar.close()
    history["stopped"] = stop
    return history


def base_model_dir() -> Path:
    """Where notebook 06 leaves the base model: <cache>/base-model."""
    return cache_path("base-model", "config.json").parent


def save_base_model(model: nn.Module, tokenizer: BPETokenizer, path=None, info: dict | None = None) -> Path:
    """model.save_pretrained layout + tokenizer.json + rawllm-bpe.json (+ training.json from `info`) in `path`
    (default base_model_dir()); every file written atomically. Returns the folder."""
    folder = Path(path) if path is not None else base_model_dir()
    model.save_pretrained(folder)
    tokenizer.save_tokenizer_json(folder / "tokenizer.json")
    tokenizer.save(folder / "rawllm-bpe.json")
    if info is not None:
        atomic_write(folder / "training.json", lambda tmp: tmp.write_text(json.dumps(info, indent=1) + "\n"))
    return folder


def load_base_model(device=None, dtype: torch.dtype | None = None, path=None) -> tuple[nn.Module, BPETokenizer]:
    """(model in eval mode on `device`, tokenizer) saved by save_base_model; FileNotFoundError when missing."""
    import rawllm.moe  # noqa: F401  (registers the mixture-of-experts families with from_pretrained)
    folder = Path(path) if path is not None else base_model_dir()
    if not (folder / "config.json").is_file() or not (folder / "rawllm-bpe.json").is_file():
        raise FileNotFoundError(f"no base model in {folder.name}/ of the cache: run notebook 06 "
                                "(06_pretraining.ipynb) first, or pass path= to a folder save_base_model wrote")
    model = Transformer.from_pretrained(folder, dtype=dtype)
    if device is not None:
        model = model.to(device)
    return model.eval(), BPETokenizer.load(folder / "rawllm-bpe.json")


def flag_type(annotation):
    """int, float or str for a field annotated with one of them (optionally `| None`); None for others."""
    kinds = [a for a in getattr(annotation, "__args__", (annotation,)) if a is not type(None)]
    if len(kinds) != 1 or kinds[0] not in (int, float, str):
        return None
    kind = kinds[0]
    return lambda text: None if text.lower() == "none" else kind(text)


def moe_fields() -> list:
    """The fields MoEConfig adds to ModelConfig (n_experts, top_k, scoring, ...)."""
    from rawllm.moe import MoEConfig
    return [f for f in fields(MoEConfig) if f.name not in ModelConfig.__dataclass_fields__]


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rawllm.train", description="Pretrain a transformer (notebook 06). "
                                     "Launch with torchrun for several processes (DDP).")
    for title, group_fields in (("training", fields(TrainConfig)), ("model", fields(ModelConfig)),
                                ("mixture of experts (with --n_experts > 0)", moe_fields())):
        group = parser.add_argument_group(title)
        for f in group_fields:
            default = 0 if f.name == "n_experts" else f.default          # --n_experts 0: a dense model
            if f.type is bool:
                group.add_argument(f"--{f.name}", action=argparse.BooleanOptionalAction, default=default)
            elif f.name == "betas":
                group.add_argument("--betas", type=float, nargs=2, default=default)
            elif flag_type(f.type) is not None:
                group.add_argument(f"--{f.name}", type=flag_type(f.type), default=default, metavar=f.type.__name__
                                   if isinstance(f.type, type) else "VALUE")
    parser.add_argument("--save_base_model", action="store_true", help="save the result where notebook 07 looks")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or evaluation lines")
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = vars(argument_parser().parse_args(argv))
    model_args = {f.name: args.pop(f.name) for f in fields(ModelConfig) if f.name in args}
    moe_args = {f.name: args.pop(f.name) for f in moe_fields()}
    save, quiet = args.pop("save_base_model"), args.pop("quiet")
    if moe_args["n_experts"]:
        from rawllm.moe import MoEConfig
        if model_args["model_type"] == ModelConfig.model_type:          # the dense default: MoEConfig's own instead
            model_args.pop("model_type")
        model_config = MoEConfig(**model_args, **moe_args)
    else:
        model_config = ModelConfig(**model_args)
    config = TrainConfig(model=model_config, **args)
    torch.manual_seed(config.seed)                      # the model train() would build, kept to be saved
    model = build_model(model_config)
    history = train(config, model, progress=not quiet)
    rank, world_size, _ = init_distributed(config.device)
    if rank == 0 and history["val_loss"]:
        print(f"final validation loss {history['val_loss'][-1]:.4f} after {history['step'][-1]} steps")
    if save and rank == 0:
        print("saved to", save_base_model(model, load_series_tokenizer(), info=config_dict(config)))
    if world_size > 1:
        import torch.distributed as dist
        dist.destroy_process_group()
    return history


# In a notebook `__name__` is "__main__" too, but there is no `__file__`: only `python -m rawllm.train` runs this.
if __name__ == "__main__" and "__file__" in globals():
    main(sys.argv[1:])
