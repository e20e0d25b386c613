# Generated from notebooks/11_reinforcement_learning.ipynb by notebooks/export.py. Do not edit: change the notebook and re-export.

"""Reinforcement learning with verifiable rewards (notebook 11): tasks with exact answers from the story world,
rewards that check them, rollouts, group advantages, the GRPO loss with TRL's loss types and GSPO's sequence-level
ratio, DAPO's dynamic sampling and overlong penalty, PPO's value head and GAE, and the training loop."""
import json
import math
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from rawllm.sft import FIRST_TURN, as_story, miscounted
from rawllm.world import questions, read_corpus

TASK_SEED = 11                      # the training tasks' seed; the held-out tasks use seed + 1
TASKS_PER_STORY = 3                 # at most this many tasks per story


def word_problems(story) -> list[dict]:
    """Questions that take more than one step over the story's counts: two characters' counts of one thing added
    up, and how much a count changed from the start to the end. Each with its exact answer, in digits."""
    facts, wrong, out = story.facts, miscounted(story), []
    ends = [n for n in facts["counts"] if f"How many {n['thing']} did {n['who']} have at the end?" not in wrong]
    for a, b in zip(ends, ends[1:]):
        if a["thing"] == b["thing"] and a["who"] != b["who"]:
            out.append({"question": f"How many {a['thing']} did {a['who']} and {b['who']} have together at the end?",
                        "answer": str(a["end"] + b["end"]), "kind": "together"})
    for n in ends:
        if n["start"] > n["end"]:
            q = f"How many fewer {n['thing']} did {n['who']} have at the end than at first?"
        elif n["end"] > n["start"]:
            q = f"How many more {n['thing']} did {n['who']} have at the end than at first?"
        else:
            continue
        out.append({"question": q, "answer": str(abs(n["end"] - n["start"])), "kind": "change"})
    return out


def story_tasks(story) -> list[dict]:
    """Every verifiable question about a story: its count questions (kind "count") and its word problems."""
    wrong = miscounted(story)
    counts = [{**q, "kind": "count"} for q in questions(story) if q["kind"] == "count" and q["question"] not in wrong]
    return counts + word_problems(story)


def make_tasks(stories, seed: int, per_story: int = TASKS_PER_STORY) -> list[dict]:
    """Up to `per_story` tasks per story, in story order, in TRL's conversational prompt format:
    {"prompt": [user message], "answer": "7", "kind": ..., "story": index}. A pure function of its arguments."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    rng, tasks = random.Random(seed), []
    for i, story in enumerate(as_story(s) for s in stories):
        found = story_tasks(story)
        for q in rng.sample(found, min(per_story, len(found))):
            user = {"role": "user", "content": FIRST_TURN.format(story=story.text, question=q["question"])}
            tasks.append({"prompt": [user], "answer": q["answer"], "kind": q["kind"], "story": i})
    return tasks


def task_json(task: dict) -> str:
    """One line of a task file, keys in a fixed order."""
    return json.dumps({k: task[k] for k in ("prompt", "answer", "kind", "story")}, ensure_ascii=False)


def write_task_data(out_dir, seed: int = TASK_SEED) -> dict:
    """tasks_train.jsonl (training stories, `seed`) and tasks_val.jsonl (validation stories, seed + 1). {file: n}."""
    out, written = Path(out_dir), {}
    out.mkdir(parents=True, exist_ok=True)
    for name, split, split_seed in (("tasks_train.jsonl", "train", seed), ("tasks_val.jsonl", "val", seed + 1)):
        tasks = make_tasks(read_corpus(split), split_seed)
        (out / name).write_text("".join(task_json(t) + "\n" for t in tasks), encoding="utf-8")
        written[name] = len(tasks)
    return written


def read_task_file(path) -> list[dict]:
    """The tasks of a .jsonl file, each checked to have a prompt and an answer in digits."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no task file {path}: write it with `python -m rawllm.grpo data --out data`")
    tasks = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for i, t in enumerate(tasks):
        if not t.get("prompt") or not re.fullmatch(r"\d+", str(t.get("answer", ""))):
            raise ValueError(f"{path.name} line {i + 1}: a task needs a prompt and an answer in digits")
    return tasks


def completion_text(completion) -> str:
    """A completion as TRL passes it to reward functions: a string, or a list of messages (conversational)."""
    if isinstance(completion, str):
        return completion
    return "".join(m["content"] for m in completion if m.get("role", "assistant") == "assistant")


def parse_answer(text: str) -> int | None:
    """The answer a completion gives: its last whole number in digits (a minus sign and thousands separators
    allowed: "-4", "1,200"), or None if it has none."""
    numbers = re.findall(r"-?\d[\d,]*", text)
    return int(numbers[-1].rstrip(",").replace(",", "")) if numbers else None


def correctness_reward(completions, answer, **kwargs) -> list[float]:
    """1.0 where the completion's last number equals the task's answer, else 0.0 (a TRL reward function)."""
    return [float(parse_answer(completion_text(c)) == int(a)) for c, a in zip(completions, answer)]


def format_reward(completions, **kwargs) -> list[float]:
    """1.0 where the completion is a number and nothing else (the format the tasks ask for), else 0.0."""
    return [float(re.fullmatch(r"\s*\d+\s*", completion_text(c)) is not None) for c in completions]


def chat_prompt_ids(tokenizer, messages) -> list[int]:
    """A prompt's token ids up to the start of the assistant's answer: notebook 08's template for the series'
    tokenizer, the model's own chat template (`apply_chat_template`) for a transformers tokenizer."""
    if hasattr(tokenizer, "apply_chat_template"):
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        return list(ids if isinstance(ids, list) else ids["input_ids"])
    from rawllm.sft import encode_chat
    return encode_chat(tokenizer, messages, add_generation_prompt=True)["input_ids"]


def stop_and_pad(tokenizer) -> tuple[int, int]:
    """(the id a completion stops at, the padding id): the series' end-of-turn and padding tokens, or a
    transformers tokenizer's eos (an instruct model's end of turn) and pad (eos when it has none)."""
    if hasattr(tokenizer, "apply_chat_template"):
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no eos_token_id, so no completion would ever stop: set one")
        pad = tokenizer.pad_token_id
        return tokenizer.eos_token_id, tokenizer.eos_token_id if pad is None else pad
    from rawllm.sft import END, PAD
    return tokenizer.special_tokens[END], tokenizer.special_tokens[PAD]


def greedy_accuracy(model, tokenizer, tasks: list[dict], max_new_tokens: int = 8) -> dict:
    """pass@1 with greedy decoding: {"accuracy", "kinds": {kind: [right, total]}, "answers"}."""
    from rawllm.sft import generate_answers
    prompts = [chat_prompt_ids(tokenizer, t["prompt"]) for t in tasks]
    answers = generate_answers(model, tokenizer, prompts, [stop_and_pad(tokenizer)[0]], max_new_tokens)
    right = correctness_reward(answers, [t["answer"] for t in tasks])
    kinds = {}
    for t, r in zip(tasks, right):
        kinds.setdefault(t["kind"], [0, 0])[0] += int(r)
        kinds[t["kind"]][1] += 1
    return {"accuracy": sum(right) / max(len(right), 1), "kinds": kinds, "answers": answers}


@torch.no_grad()
def rollout(model, prompts: list[list[int]], group_size: int, max_new_tokens: int, stop_id: int | None, pad_id: int,
            temperature: float = 1.0, top_p: float | None = None, generator=None) -> dict:
    """`group_size` samples of each token prompt (a group is consecutive rows, as TRL repeats its prompts) with the
    batched, left-padded, KV-cached generate of notebook 07, stopping at `stop_id`. Returns prompt_ids and
    prompt_mask (left padded), completion_ids and completion_mask (right padded; the mask covers the tokens up to
    and including the stop) and truncated (rows that never stopped). stop_id=None: every row runs to
    max_new_tokens."""
    from rawllm.generate import generate
    if group_size < 1 or max_new_tokens < 1:
        raise ValueError(f"need group_size >= 1 and max_new_tokens >= 1, got {group_size}, {max_new_tokens}")
    device = next(model.parameters()).device
    width = max(len(p) for p in prompts)
    rows = [p for p in prompts for _ in range(group_size)]
    prompt_ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in rows], device=device)
    prompt_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in rows], device=device)
    new = generate(model, prompt_ids, max_new_tokens, temperature=temperature, top_p=top_p,
                   stop_ids=[] if stop_id is None else [stop_id], attention_mask=prompt_mask, generator=generator)
    stopped = torch.zeros_like(new) if stop_id is None else (new == stop_id).long()
    after_stop = (stopped.cumsum(1) - stopped) > 0                           # columns past each row's first stop
    completion_mask = (~after_stop).long()
    completion_ids = torch.where(after_stop, torch.full_like(new, pad_id), new)
    return {"prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "completion_ids": completion_ids,
            "completion_mask": completion_mask, "truncated": stopped.sum(1) == 0}


def step_tasks(n_tasks: int, config: "RLConfig", step: int) -> list[int]:
    """The tasks of rollout batch `step`: a pure function of the seed and the step, so a resumed run draws the same."""
    return random.Random(config.seed * 1_000_003 + step).sample(range(n_tasks), config.prompts_per_step)


def decode_completions(tokenizer, roll: dict) -> list[str]:
    """Each completion's text, without its stop token."""
    ids, mask = roll["completion_ids"].tolist(), roll["completion_mask"].tolist()
    texts = []
    for row, m, truncated in zip(ids, mask, roll["truncated"].tolist()):
        n = sum(m) - (0 if truncated else 1)
        texts.append(tokenizer.decode(row[:n]).strip())
    return texts


def score_rollout(tokenizer, roll: dict, answers: list[str], config: "RLConfig") -> dict:
    """The rewards of a rollout: correctness (1 or 0), plus format_weight x format, plus DAPO's overlong penalty."""
    texts = decode_completions(tokenizer, roll)
    correct = torch.tensor(correctness_reward(texts, answers))
    rewards = correct + config.format_weight * torch.tensor(format_reward(texts))
    lengths = roll["completion_mask"].sum(1).cpu()
    if config.overlong_cache:
        rewards = rewards + overlong_penalty(lengths, config.max_new_tokens, config.overlong_cache)
    return {"texts": texts, "correct": correct, "rewards": rewards, "lengths": lengths}


def per_token_logps(model, prompt_ids, prompt_mask, completion_ids, completion_mask, temperature: float = 1.0,
                    with_entropy: bool = False):
    """log pi(token | earlier tokens) of each completion token (batch, completion length), as TRL computes them
    (logits divided by the sampling temperature); with_entropy: also each position's entropy."""
    input_ids = torch.cat([prompt_ids, completion_ids], 1)
    attention_mask = torch.cat([prompt_mask, completion_mask], 1)
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    hidden = model.hidden_states(input_ids, attention_mask=attention_mask, position_ids=position_ids)
    P, T = prompt_ids.shape[1], completion_ids.shape[1]
    logits = model.lm_head(hidden[:, P - 1:P + T - 1]).float() / temperature        # (B, T, vocab)
    logps = torch.log_softmax(logits, -1)
    token_logps = logps.gather(-1, completion_ids[..., None]).squeeze(-1)            # (B, T)
    if not with_entropy:
        return token_logps
    return token_logps, -(logps.exp() * logps).sum(-1)


SCALES = ("group", "batch", "none")


def group_advantages(rewards: torch.Tensor, group_size: int, scale: str = "group") -> torch.Tensor:
    """Each reward minus its group's mean, divided by the group's std (scale="group"), the whole batch's std
    ("batch", as Dr. GRPO's authors and TRL's scale_rewards="batch") or not at all ("none"); + 1e-4 as TRL."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {SCALES}")
    if rewards.dim() != 1 or group_size < 1 or len(rewards) % group_size:
        raise ValueError(f"rewards must be 1-d with a length divisible by group_size; got shape "
                         f"{tuple(rewards.shape)} and group_size={group_size}")
    groups = rewards.view(-1, group_size)
    advantages = (groups - groups.mean(1, keepdim=True)).flatten()
    if scale == "none":
        return advantages
    if group_size == 1 and scale == "group":
        return advantages / 1e-4                                       # TRL: std 0 for a group of one
    std = groups.std(1).repeat_interleave(group_size) if scale == "group" else rewards.std().expand_as(rewards)
    return advantages / (std + 1e-4)


def informative_groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """DAPO's dynamic sampling: True for each row whose group's rewards are not all equal (a group of equal
    rewards has zero advantage everywhere and teaches nothing)."""
    if rewards.dim() != 1 or group_size < 1 or len(rewards) % group_size:
        raise ValueError(f"rewards must be 1-d with a length divisible by group_size; got shape "
                         f"{tuple(rewards.shape)} and group_size={group_size}")
    groups = rewards.view(-1, group_size)
    return (groups.max(1).values > groups.min(1).values).repeat_interleave(group_size)


def overlong_penalty(lengths: torch.Tensor, max_completion_length: int, cache_length: int) -> torch.Tensor:
    """DAPO's soft overlong punishment: 0 up to max - cache tokens, then falling linearly to -1 at max."""
    if not 0 < cache_length <= max_completion_length:
        raise ValueError(f"need 0 < cache_length <= max_completion_length, got {cache_length}, {max_completion_length}")
    free = max_completion_length - cache_length
    return ((free - lengths.float()) / cache_length).clamp(-1.0, 0.0)


def grpo_loss(logps, old_logps, ref_logps, advantages, completion_mask, loss_type: str = "grpo",
              epsilon: float = 0.2, epsilon_high: float | None = None, beta: float = 0.0,
              importance_sampling_level: str = "token", max_completion_length: int | None = None,
              bias_correction_kl: bool = True, num_items: float | None = None) -> torch.Tensor:
    """The clipped policy-gradient loss of GRPO, as TRL's GRPOTrainer computes it (with its defaults).
    logps, old_logps (None: logps detached, one update per rollout), ref_logps: (batch, T) per-token log-probs;
    advantages (batch,) or (batch, T); completion_mask (batch, T). The ratio is per token, or one per sequence
    (the mean log-ratio, GSPO) at importance_sampling_level="sequence". beta > 0 adds the k3 estimate of the KL to
    the reference (times the ratio, TRL's use_bias_correction_kl). loss_type decides how tokens are averaged:
    grpo, per sequence then over sequences; bnpo and dapo (num_items: the tokens of the whole generation batch,
    default this batch's), over all tokens; dr_grpo, divided by batch x max_completion_length (default T)."""
    check_grpo_inputs(logps, old_logps, ref_logps, advantages, completion_mask, loss_type, epsilon, epsilon_high,
                      beta, importance_sampling_level)
    mask = completion_mask.to(logps.dtype)
    old_logps = logps.detach() if old_logps is None else old_logps
    advantages = advantages[:, None] if advantages.dim() == 1 else advantages
    log_ratio = logps - old_logps
    if importance_sampling_level == "sequence":                      # GSPO: one ratio per sequence, (B, 1)
        log_ratio = ((log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0))[:, None]
    ratio = torch.exp(log_ratio)
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + (epsilon if epsilon_high is None else epsilon_high))
    per_token = -torch.min(ratio * advantages, clipped * advantages)
    if beta > 0:
        kl = torch.exp(ref_logps - logps) - (ref_logps - logps) - 1   # k3: >= 0, unbiased for KL(pi || ref)
        per_token = per_token + beta * (kl * ratio if bias_correction_kl else kl)
    per_token = per_token * mask if per_token.shape == mask.shape else per_token.expand_as(mask) * mask
    if loss_type == "grpo":
        return (per_token.sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "bnpo":
        return per_token.sum() / mask.sum().clamp(min=1.0)
    if loss_type == "dr_grpo":
        return per_token.sum() / (per_token.shape[0] * (max_completion_length or per_token.shape[1]))
    return per_token.sum() / max(float(mask.sum() if num_items is None else num_items), 1.0)    # dapo


GRPO_LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")
LEVELS = ("token", "sequence")


def check_grpo_inputs(logps, old_logps, ref_logps, advantages, completion_mask, loss_type, epsilon, epsilon_high,
                      beta, importance_sampling_level) -> None:
    """ValueError for inputs grpo_loss cannot score, naming the problem."""
    if loss_type not in GRPO_LOSS_TYPES:
        raise ValueError(f"unknown loss_type {loss_type!r}; choose one of {GRPO_LOSS_TYPES}")
    if importance_sampling_level not in LEVELS:
        raise ValueError(f"unknown importance_sampling_level {importance_sampling_level!r}; choose one of {LEVELS}")
    if not epsilon > 0 or (epsilon_high is not None and not epsilon_high > 0):
        raise ValueError(f"the clip range must be positive: epsilon={epsilon}, epsilon_high={epsilon_high}")
    if beta < 0 or (beta > 0 and ref_logps is None):
        raise ValueError(f"beta={beta}: need beta >= 0, and the reference's log-probs when beta > 0")
    shapes = {"logps": logps.shape, "completion_mask": completion_mask.shape}
    shapes |= {k: v.shape for k, v in (("old_logps", old_logps), ("ref_logps", ref_logps)) if v is not None}
    if logps.dim() != 2 or len(set(shapes.values())) != 1:
        raise ValueError(f"per-token tensors must share one (batch, completion length) shape; got "
                         f"{ {k: tuple(v) for k, v in shapes.items()} }")
    if advantages.shape not in ((logps.shape[0],), tuple(logps.shape)):
        raise ValueError(f"advantages must have shape ({logps.shape[0]},) or {tuple(logps.shape)}, got "
                         f"{tuple(advantages.shape)}")
    empty = (completion_mask.sum(1) == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"rows {empty} of completion_mask hold no completion token: every completion needs at least "
                         "its stop token (drop the row, or mask in the token it ends with)")


@torch.no_grad()
def clip_fractions(logps, old_logps, advantages, completion_mask, epsilon: float = 0.2, epsilon_high=None,
                   importance_sampling_level: str = "token") -> dict:
    """The share of completion tokens whose ratio was clipped below (negative advantage) and above (positive),
    TRL's clip_ratio/low_mean and clip_ratio/high_mean."""
    mask = completion_mask.float()
    advantages = advantages[:, None] if advantages.dim() == 1 else advantages
    log_ratio = logps - old_logps
    if importance_sampling_level == "sequence":
        log_ratio = ((log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0))[:, None]
    ratio = torch.exp(log_ratio).expand_as(mask)
    high = epsilon if epsilon_high is None else epsilon_high
    low_clip = ((ratio < 1 - epsilon) & (advantages < 0)).float()
    high_clip = ((ratio > 1 + high) & (advantages > 0)).float()
    return {"clip_ratio/low_mean": float((low_clip * mask).sum() / mask.sum()),
            "clip_ratio/high_mean": float((high_clip * mask).sum() / mask.sum())}


def gae(rewards, values, mask, gamma: float = 1.0, lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over right-padded token rows: (advantages, returns), each (batch, T).
    A_t = sum_k (gamma lam)^k delta_{t+k}, delta_t = r_t + gamma V_{t+1} - V_t, with V = 0 past each row's last
    token; written as one matrix product with the discount matrix D[k, t] = (gamma lam)^(k - t) for k >= t."""
    if not (rewards.shape == values.shape == mask.shape) or rewards.dim() != 2:
        raise ValueError(f"rewards, values and mask must share one (batch, T) shape; got {tuple(rewards.shape)}, "
                         f"{tuple(values.shape)}, {tuple(mask.shape)}")
    mask = mask.to(values.dtype)
    values, rewards = values * mask, rewards * mask
    next_values = F.pad(values[:, 1:], (0, 1))                          # V_{t+1}, 0 after the last column
    deltas = rewards + gamma * next_values - values                      # (B, T)
    T = rewards.shape[1]
    k, t = torch.arange(T)[:, None], torch.arange(T)[None, :]
    discount = torch.where(k >= t, (gamma * lam) ** (k - t).clamp(min=0).to(values.dtype), 0.0).to(values.device)
    advantages = (deltas @ discount) * mask                              # (B, T) @ (T, T)
    return advantages, advantages + values


def whiten(values, mask, shift_mean: bool = True) -> torch.Tensor:
    """Zero-mean, unit-variance over the masked entries (the unbiased variance, as TRL's masked_whiten)."""
    mask = mask.to(values.dtype)
    n = mask.sum()
    mean = (values * mask).sum() / n
    var = (((values - mean) ** 2) * mask).sum() / n * n / (n - 1)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    return whitened if shift_mean else whitened + mean


class ValueHead(nn.Module):
    """The policy with a value head: one scalar per position from the final hidden states (PPO's critic shares the
    policy's body). forward gives (token log-probs, entropies, values), each (batch, completion length)."""

    def __init__(self, policy):
        super().__init__()
        # the policy's own modules, under the policy's names, so a checkpoint holds them as it holds the policy
        self.config, self.model, self.lm_head, self.hidden_states = (policy.config, policy.model, policy.lm_head,
                                                                     policy.hidden_states)
        self.v_head = nn.Linear(policy.config.d_model, 1)
        nn.init.zeros_(self.v_head.weight)
        nn.init.zeros_(self.v_head.bias)

    def forward(self, prompt_ids, prompt_mask, completion_ids, completion_mask, temperature: float = 1.0):
        input_ids = torch.cat([prompt_ids, completion_ids], 1)
        attention_mask = torch.cat([prompt_mask, completion_mask], 1)
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        hidden = self.hidden_states(input_ids, attention_mask=attention_mask, position_ids=position_ids)
        P, T = prompt_ids.shape[1], completion_ids.shape[1]
        states = hidden[:, P - 1:P + T - 1]                              # the states each completion token follows
        logps = torch.log_softmax(self.lm_head(states).float() / temperature, -1)
        token_logps = logps.gather(-1, completion_ids[..., None]).squeeze(-1)
        return token_logps, -(logps.exp() * logps).sum(-1), self.v_head(states).squeeze(-1).float()


def ppo_rewards(scores, logps, ref_logps, mask, kl_coef: float) -> torch.Tensor:
    """PPO's per-token rewards for language: -kl_coef (log pi - log ref) at every token, plus the task's score at
    each row's last token."""
    rewards = -kl_coef * (logps - ref_logps) * mask
    last = mask.sum(1).long() - 1
    rewards[torch.arange(len(rewards)), last] += scores
    return rewards


def value_loss(values, old_values, returns, mask, clip_range: float = 0.2) -> torch.Tensor:
    """PPO's clipped value loss: half the masked mean of max((V - R)^2, (V_clipped - R)^2), V_clipped within
    clip_range of the values at rollout time."""
    clipped = old_values + (values - old_values).clamp(-clip_range, clip_range)
    losses = torch.max((values - returns) ** 2, (clipped - returns) ** 2)
    return 0.5 * (losses * mask).sum() / mask.sum()


ALGORITHMS = ("grpo", "ppo")


@dataclass
class RLConfig:
    """One reinforcement-learning run (GRPO and its variants, or PPO)."""
    algorithm: str = "grpo"              # grpo, or ppo (value head + GAE)
    loss_type: str = "grpo"              # how GRPO averages tokens: one of GRPO_LOSS_TYPES
    importance_sampling_level: str = "token"   # "sequence": GSPO's one ratio per completion
    steps: int = 100                     # rollout batches, one or more updates each
    prompts_per_step: int = 4            # distinct tasks per batch
    group_size: int = 8                  # samples per task (G)
    max_new_tokens: int = 8              # the longest completion
    temperature: float = 1.0
    top_p: float | None = None
    lr: float = 1e-5                     # AdamW, constant after warmup_steps
    warmup_steps: int = 0
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    epsilon: float = 0.2                 # the clip range below 1
    epsilon_high: float | None = None    # above 1 (DAPO's clip-higher: larger); None: epsilon
    beta: float = 0.0                    # the KL penalty's weight in the loss
    scale_rewards: str = "group"         # group, batch or none
    num_iterations: int = 1              # updates per rollout batch (mu); above 1 the ratio moves off 1
    dynamic_sampling: bool = False       # DAPO: drop groups whose rewards are all equal
    overlong_cache: int = 0              # DAPO's soft overlong penalty over the last this many tokens; 0: off
    format_weight: float = 0.0           # weight of format_reward added to the correctness reward
    kl_coef: float = 0.05                # PPO: the per-token KL penalty in the reward
    gamma: float = 1.0                   # PPO: GAE's discount
    lam: float = 0.95                    # PPO: GAE's lambda
    vf_coef: float = 0.1                 # PPO: the value loss's weight
    cliprange_value: float = 0.2         # PPO: the value clip range
    checkpoint_dir: str | None = None    # checkpoints go there; a run resumes from the latest one
    checkpoint_interval: int = 0         # steps between checkpoints (and one at the end); 0: only the end
    stop_at_step: int | None = None      # end this session early
    seed: int = 0


def check_rl_config(c: RLConfig, n_tasks: int) -> None:
    """ValueError for a run that cannot work, with the numbers."""
    if c.algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {c.algorithm!r}; choose one of {ALGORITHMS}")
    if c.loss_type not in GRPO_LOSS_TYPES or c.importance_sampling_level not in LEVELS or c.scale_rewards not in SCALES:
        raise ValueError(f"loss_type {c.loss_type!r}, importance_sampling_level {c.importance_sampling_level!r}, "
                         f"scale_rewards {c.scale_rewards!r}: choose from {GRPO_LOSS_TYPES}, {LEVELS}, {SCALES}")
    if not c.epsilon > 0 or (c.epsilon_high is not None and not c.epsilon_high > 0) or c.beta < 0:
        raise ValueError(f"need epsilon > 0, epsilon_high > 0 and beta >= 0; got {c.epsilon}, {c.epsilon_high}, "
                         f"{c.beta}")
    if c.steps < 1 or c.prompts_per_step < 1 or c.group_size < 2 or c.num_iterations < 1 or c.max_new_tokens < 1:
        raise ValueError(f"need steps, prompts_per_step, num_iterations, max_new_tokens >= 1 and group_size >= 2; got "
                         f"{c.steps}, {c.prompts_per_step}, {c.num_iterations}, {c.max_new_tokens}, {c.group_size}")
    if not 0 <= c.overlong_cache <= c.max_new_tokens:
        raise ValueError(f"overlong_cache={c.overlong_cache} must be between 0 and max_new_tokens={c.max_new_tokens}")
    if n_tasks < c.prompts_per_step:
        raise ValueError(f"{n_tasks} tasks cannot fill {c.prompts_per_step} prompts per step")


def rl_step(policy, reference, roll: dict, advantages, config: RLConfig, optimizers, scores=None) -> dict:
    """The updates of one rollout batch (num_iterations of them): GRPO's loss on the group advantages, or PPO's
    clipped policy and value losses on GAE advantages from the value head. Returns the step's metrics."""
    from rawllm.train import apply_update
    inputs = [roll[k] for k in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask")]
    mask = roll["completion_mask"].float()
    no_scaler, metrics = torch.amp.GradScaler("cpu", enabled=False), {}
    with torch.no_grad():
        ref_logps = None if reference is None else per_token_logps(reference, *inputs, config.temperature)
        old_logps = old_values = None
        if config.algorithm == "ppo":
            old_logps, _, old_values = policy(*inputs, config.temperature)
            rewards = ppo_rewards(scores.to(mask.device), old_logps, ref_logps, mask, config.kl_coef)
            advantages, returns = gae(rewards, old_values, mask, config.gamma, config.lam)
            advantages = whiten(advantages, mask) * mask
        elif config.num_iterations > 1:
            old_logps = per_token_logps(policy, *inputs, config.temperature)
    for _ in range(config.num_iterations):
        if config.algorithm == "ppo":
            logps, entropy, values = policy(*inputs, config.temperature)
            loss = grpo_loss(logps, old_logps, None, advantages, mask, "bnpo", config.epsilon, config.epsilon_high)
            loss = loss + config.vf_coef * value_loss(values, old_values, returns, mask, config.cliprange_value)
        else:
            logps, entropy = per_token_logps(policy, *inputs, config.temperature, with_entropy=True)
            loss = grpo_loss(logps, old_logps, ref_logps, advantages, mask, config.loss_type, config.epsilon,
                             config.epsilon_high, config.beta, config.importance_sampling_level,
                             config.max_new_tokens)
        loss.backward()
        metrics["grad_norm"] = apply_update(policy, optimizers, no_scaler, config)
    detached = logps.detach()
    metrics |= clip_fractions(detached, detached if old_logps is None else old_logps, advantages, mask,
                              config.epsilon, config.epsilon_high, config.importance_sampling_level)
    metrics["loss"] = loss.item()
    metrics["entropy"] = float((entropy.detach() * mask).sum() / mask.sum())
    if ref_logps is not None:
        kl = torch.exp(ref_logps - detached) - (ref_logps - detached) - 1
        metrics["kl"] = float((kl * mask).sum() / mask.sum())
    return metrics


def rl_setup(model, tokenizer, tasks: list[dict], config: RLConfig, reference, progress: bool) -> dict:
    """What a run needs before its first step: the reference (a frozen copy of the model if None), the policy (with
    a value head for PPO), its optimizer, the tokenized prompts, and the history and step of a checkpoint to resume."""
    import copy
    from rawllm.train import load_checkpoint, make_optimizers
    check_rl_config(config, len(tasks))
    run = {"reference": copy.deepcopy(model).eval().requires_grad_(False) if reference is None else reference,
           "policy": ValueHead(model) if config.algorithm == "ppo" else model, "history": {}, "start": 0,
           "prompts": [chat_prompt_ids(tokenizer, t["prompt"]) for t in tasks]}
    run["stop_id"], run["pad_id"] = stop_and_pad(tokenizer)
    run["optimizers"] = make_optimizers(run["policy"], "adamw", lr=config.lr, weight_decay=config.weight_decay)
    if config.checkpoint_dir and (Path(config.checkpoint_dir) / "latest.json").is_file():
        state = load_checkpoint(config.checkpoint_dir, run["policy"], run["optimizers"], config=config)
        run["history"], run["start"] = state["history"], state["step"]
        if progress:
            print(f"resuming at step {run['start']} of {config.steps} from {config.checkpoint_dir}", flush=True)
    return run


def rl_batch(model, tokenizer, tasks, run: dict, config: RLConfig, step: int) -> tuple[dict, dict, torch.Tensor]:
    """Rollout batch `step`: its tasks sampled group_size times, scored, and the group advantages."""
    index, device = step_tasks(len(tasks), config, step), next(model.parameters()).device
    generator = torch.Generator(device).manual_seed(config.seed * 1_000_003 + step)
    model.eval()
    roll = rollout(model, [run["prompts"][i] for i in index], config.group_size, config.max_new_tokens, run["stop_id"],
                   run["pad_id"], config.temperature, config.top_p, generator)
    scored = score_rollout(tokenizer, roll, [tasks[i]["answer"] for i in index for _ in range(config.group_size)], config)
    return roll, scored, group_advantages(scored["rewards"], config.group_size, config.scale_rewards).to(device)


def rl_train(model, tokenizer, tasks: list[dict], config: RLConfig, reference=None, progress: bool = True) -> dict:
    """Train `model` in place on tasks (read_task_file rows) with GRPO or PPO; returns the history per step (reward,
    accuracy, kl, entropy, length, clip ratios, kept share, seconds). `reference`: the frozen model the KL is
    measured to (and penalised, beta > 0 or PPO); None: a copy of the model as it starts. Resumes from
    config.checkpoint_dir's latest checkpoint."""
    from tqdm.auto import tqdm
    from rawllm.train import save_checkpoint
    run = rl_setup(model, tokenizer, tasks, config, reference, progress)
    end = min(config.steps, config.stop_at_step or config.steps)
    bar = tqdm(range(run["start"], end), initial=run["start"], total=end, desc=config.algorithm, disable=not progress)
    for step in bar:
        for opt in run["optimizers"]:
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * min(1.0, (step + 1) / max(config.warmup_steps, 1))
        began = time.perf_counter()
        roll, scored, advantages = rl_batch(model, tokenizer, tasks, run, config, step)
        keep = (informative_groups(scored["rewards"], config.group_size) if config.dynamic_sampling
                else torch.ones(len(advantages), dtype=torch.bool))
        metrics = {"step": step + 1, "reward": scored["rewards"].mean().item(), "accuracy": scored["correct"].mean().item(),
                   "length": scored["lengths"].float().mean().item(), "kept": keep.float().mean().item(),
                   "informative": informative_groups(scored["rewards"], config.group_size).float().mean().item()}
        if keep.any():                      # with dynamic sampling, a batch of equal-reward groups is skipped
            model.train()
            rows = keep.nonzero().flatten().to(advantages.device)
            metrics |= rl_step(run["policy"], run["reference"], {k: v[rows] for k, v in roll.items()},
                               advantages[rows], config, run["optimizers"], scored["rewards"][keep])
        metrics["seconds"] = time.perf_counter() - began
        for key, value in metrics.items():
            run["history"].setdefault(key, []).append(value)
        bar.set_postfix({k: f"{metrics[k]:.3g}" for k in ("reward", "kl", "entropy", "length") if k in metrics})
        due = config.checkpoint_interval and (step + 1) % config.checkpoint_interval == 0
        if config.checkpoint_dir and (due or step + 1 == end):
            save_checkpoint(config.checkpoint_dir, run["policy"], run["optimizers"], step + 1, config,
                            history=run["history"])
    model.eval()
    return run["history"]


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of n samples of which c are right (Chen et al., 2021): 1 - C(n - c, k) / C(n, k)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


@torch.no_grad()
def sampled_correct(model, tokenizer, tasks: list[dict], n: int, max_new_tokens: int = 8, temperature: float = 1.0,
                    prompts_per_batch: int = 8, seed: int = 0) -> list[int]:
    """How many of n samples of each task are right."""
    stop_id, pad_id = stop_and_pad(tokenizer)
    device, counts = next(model.parameters()).device, []
    generator = torch.Generator(device).manual_seed(seed)
    for s in range(0, len(tasks), prompts_per_batch):
        chunk = tasks[s:s + prompts_per_batch]
        prompts = [chat_prompt_ids(tokenizer, t["prompt"]) for t in chunk]
        roll = rollout(model, prompts, n, max_new_tokens, stop_id, pad_id, temperature, generator=generator)
        right = correctness_reward(decode_completions(tokenizer, roll), [t["answer"] for t in chunk for _ in range(n)])
        counts += [int(sum(right[i * n:(i + 1) * n])) for i in range(len(chunk))]
    return counts


GSM8K_INSTRUCTION = "Solve the problem step by step, then give the final answer as a number on the last line."


def gsm8k_tasks(rows) -> list[dict]:
    """GSM8K rows ({"question", "answer": "... #### 72"}) as tasks: the question and GSM8K_INSTRUCTION as the user
    message, the number after "####" (thousands separators removed) as the answer."""
    tasks = []
    for i, row in enumerate(rows):
        final = str(row.get("answer", "")).split("####")[-1].strip().replace(",", "")
        if "####" not in str(row.get("answer", "")) or not re.fullmatch(r"-?\d+", final):
            raise ValueError(f"GSM8K row {i}: the answer must end with '#### <whole number>', got "
                             f"{str(row.get('answer', ''))[-40:]!r}")
        user = {"role": "user", "content": f"{row['question']}\n{GSM8K_INSTRUCTION}"}
        tasks.append({"prompt": [user], "answer": final, "kind": "gsm8k", "story": i})
    return tasks


def load_hub_model(name_or_path: str, device, dtype=None):
    """(our Transformer, its transformers tokenizer) from a Hugging Face folder, or from the hub by name
    (downloaded once into the Hugging Face cache)."""
    from transformers import AutoTokenizer
    from rawllm.model import Transformer
    folder = Path(name_or_path)
    if not folder.is_dir():
        from huggingface_hub import snapshot_download
        folder = Path(snapshot_download(name_or_path, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.jinja"]))
    return Transformer.from_pretrained(folder, dtype).to(device).eval(), AutoTokenizer.from_pretrained(folder)


def argument_parser():
    import argparse
    from dataclasses import fields
    from rawllm.train import flag_type
    parser = argparse.ArgumentParser(prog="python -m rawllm.grpo", description="RL with verifiable rewards (notebook 11).")
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data", help="write tasks_train.jsonl and tasks_val.jsonl")
    data.add_argument("--out", required=True, help="the folder (the repository's data/ holds the committed files)")
    data.add_argument("--seed", type=int, default=TASK_SEED)
    train = commands.add_parser("train", help="train notebook 08's chat model on the tasks, evaluate, save")
    for f in fields(RLConfig):
        if f.type in (bool, "bool"):
            train.add_argument(f"--{f.name}", action="store_true")
        else:
            train.add_argument(f"--{f.name}", type=flag_type(f.type), default=f.default)
    train.add_argument("--out", required=True, help="where the trained chat model goes (Hugging Face layout)")
    train.add_argument("--data", default=None, help="the folder of the task files (default: data/)")
    train.add_argument("--eval_tasks", type=int, default=200, help="held-out tasks answered greedily")
    train.add_argument("--quiet", action="store_true")
    return parser


def train_command(args: dict) -> dict:
    """`python -m rawllm.grpo train`: the chat model before and after, greedy pass@1 on held-out tasks."""
    from dataclasses import fields
    from rawllm.core import DATA_DIR
    from rawllm.dpo import load_or_train_chat_model
    from rawllm.sft import save_chat_model
    config = RLConfig(**{f.name: args[f.name] for f in fields(RLConfig)})
    model, tokenizer = load_or_train_chat_model(None)
    folder = Path(args["data"]) if args["data"] else DATA_DIR
    train, val = read_task_file(folder / "tasks_train.jsonl"), read_task_file(folder / "tasks_val.jsonl")[:args["eval_tasks"]]
    before = greedy_accuracy(model, tokenizer, val, config.max_new_tokens)["accuracy"]
    rl_train(model, tokenizer, train, config, progress=not args["quiet"])
    after = greedy_accuracy(model, tokenizer, val, config.max_new_tokens)["accuracy"]
    print(f"held-out pass@1 (greedy, {len(val)} tasks): {before:.1%} before, {after:.1%} after", flush=True)
    save_chat_model(model, tokenizer, args["out"])
    print("saved to", args["out"])
    return {"before": before, "after": after}


def main(argv: list[str] | None = None):
    args = vars(argument_parser().parse_args(argv))
    if args.pop("command") == "data":
        written = write_task_data(args["out"], seed=args["seed"])
        print(", ".join(f"{name}: {n} tasks" for name, n in written.items()))
        return written
    return train_command(args)


# In a notebook `__name__` is "__main__" too, but there is no `__file__`: only `python -m rawllm.grpo` runs this.
if __name__ == "__main__" and "__file__" in globals():
    import sys
    main(sys.argv[1:])
