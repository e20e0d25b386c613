# Generated from notebooks/10_preference_tuning.ipynb by notebooks/export.py. Do not edit: change the notebook and re-export.

"""Preference tuning: preference pairs from the story world, sequence log-probabilities, DPO and its family (the loss
types TRL names), ORPO, SimPO, a reward model, and the training loop, with the reference model for free from a LoRA
adapter switched off (notebook 10)."""
import json
import math
import random
import re
import time
from dataclasses import dataclass, fields
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from rawllm.sft import (FIRST_TURN, SYSTEM_PROMPTS, UNKNOWN_ANSWER, as_story, encode_chat, mentions, miscounted,
                        unknown_question)
from rawllm.world import questions, read_corpus

PREFERENCE_SEED = 10                               # the training pairs' seed; the held-out pairs use seed + 1
PAIR_KINDS = {"lookup": 40, "unknown": 40, "arithmetic": 20}   # relative weights, drawn among the kinds each story offers
REFUSAL_SHARE = 0.25          # answerable questions whose rejected answer is the refusal (so refusing is not free)
SYSTEM_SHARE = 0.2            # prompts that open with a system message, as in notebook 08's data


def question_key(question: dict) -> str:
    """Which answers can stand in for each other: the question's kind, or for relations the question with its names
    masked ("Who did X meet?", "Where did X go?"), so a place is replaced by a place and a name by a name."""
    if question["kind"] == "relation":
        return re.sub(r"(?<!^)\b[A-Z][a-z]+\b", "X", question["question"])
    return question["kind"]


def answer_pools(stories) -> dict:
    """{key: sorted distinct answers} over the stories' questions: the wrong answers a pair can borrow."""
    pools = {}
    for story in stories:
        for q in questions(as_story(story)):
            pools.setdefault(question_key(q), set()).add(q["answer"])
    return {key: sorted(answers) for key, answers in pools.items()}


def borrowed(rng: random.Random, pool, answer: str, story) -> str | None:
    """An answer from the pool that differs from `answer` and that the story never mentions (a fact from elsewhere
    in the world); None if 20 draws find none."""
    for candidate in rng.sample(pool, min(20, len(pool))):
        if candidate.lower() != answer.lower() and not mentions(story.text, candidate):
            return candidate
    return None


def miscount(rng: random.Random, answer: str) -> str:
    """A count off by one to three, never below zero."""
    n = int(answer)
    return str(rng.choice([m for m in range(n - 3, n + 4) if m >= 0 and m != n]))


UNKNOWN_POOLS = {"What colour": "colour", "What size": "size", "How did": "feeling", "Where did": "Where did X go?",
                 "What kind of animal": "animal"}


def invented(rng: random.Random, question: str, story, pools: dict) -> str:
    """A confident answer to a question the story cannot answer: the kind of answer the question asks for
    (a colour, a size, a name from the story, a number, a feeling, a place, an animal)."""
    if question.startswith("Who found"):
        return rng.choice([c["name"] for c in story.facts["characters"]])
    if question.startswith("How many"):
        return str(rng.randint(1, 9))
    key = next(k for prefix, k in UNKNOWN_POOLS.items() if question.startswith(prefix))
    return rng.choice(pools[key])


def preference_pair(story, index: int, pools: dict, rng: random.Random) -> dict | None:
    """One pair about a story: a question (kind drawn by PAIR_KINDS among those the story has), the faithful answer
    (chosen) and a plausible wrong one (rejected), with what kind of wrong it is."""
    wrong = miscounted(story)
    answerable = [q for q in questions(story) if q["question"] not in wrong]
    by_kind = {"lookup": [q for q in answerable if q["kind"] != "count"],
               "arithmetic": [q for q in answerable if q["kind"] == "count"], "unknown": []}
    real = {q["question"] for q in answerable}
    asked = unknown_question(story, rng)
    if asked and asked not in real:
        by_kind["unknown"] = [{"question": asked, "answer": UNKNOWN_ANSWER, "kind": "unknown"}]
    kinds = [k for k in PAIR_KINDS if by_kind[k]]
    kind = rng.choices(kinds, weights=[PAIR_KINDS[k] for k in kinds])[0]
    q = rng.choice(by_kind[kind])
    if kind == "unknown":
        rejected, why = invented(rng, q["question"], story, pools), "invented"
    elif rng.random() < REFUSAL_SHARE:
        rejected, why = UNKNOWN_ANSWER, "refusal"
    elif kind == "arithmetic":
        rejected, why = miscount(rng, q["answer"]), "miscount"
    else:
        rejected, why = borrowed(rng, pools.get(question_key(q), []), q["answer"], story), "wrong_fact"
        if rejected is None:
            rejected, why = UNKNOWN_ANSWER, "refusal"
    system = [{"role": "system", "content": rng.choice(SYSTEM_PROMPTS)}] if rng.random() < SYSTEM_SHARE else []
    user = {"role": "user", "content": FIRST_TURN.format(story=story.text, question=q["question"])}
    return {"prompt": system + [user], "chosen": [{"role": "assistant", "content": q["answer"]}],
            "rejected": [{"role": "assistant", "content": rejected}], "kind": kind, "rejected_kind": why,
            "story": index}


def make_preference_pairs(stories, seed: int, pools: dict | None = None) -> list[dict]:
    """One pair per story, in story order; a pure function of its arguments. Wrong facts are borrowed from `pools`
    (default: the answers of these stories)."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    stories = [as_story(s) for s in stories]
    if not stories:
        raise ValueError("no stories to make preference pairs from")
    pools = answer_pools(stories) if pools is None else pools
    rng = random.Random(seed)
    return [preference_pair(story, i, pools, rng) for i, story in enumerate(stories)]


def pair_json(pair: dict) -> str:
    """One line of a preference file, keys in a fixed order (TRL's prompt, chosen, rejected first)."""
    keys = ("prompt", "chosen", "rejected", "kind", "rejected_kind", "story")
    return json.dumps({k: pair[k] for k in keys}, ensure_ascii=False)


def write_preference_data(out_dir, seed: int = PREFERENCE_SEED) -> dict:
    """preference_train.jsonl (the training stories, `seed`) and preference_val.jsonl (the validation stories,
    seed + 1) in `out_dir`; wrong facts come from the training stories' answers in both. {file: pairs}."""
    train = read_corpus("train")
    pools = answer_pools(train)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, stories, split_seed in (("preference_train.jsonl", train, seed),
                                      ("preference_val.jsonl", read_corpus("val"), seed + 1)):
        pairs = make_preference_pairs(stories, split_seed, pools)
        (out / name).write_text("".join(pair_json(p) + "\n" for p in pairs), encoding="utf-8")
        written[name] = len(pairs)
    return written


def read_preference_file(path) -> list[dict]:
    """The pairs of a preference .jsonl file, each checked to have a prompt and one chosen and one rejected answer."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no preference file {path}: write it with `python -m rawllm.dpo data --out data`")
    pairs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for i, p in enumerate(pairs):
        if not p.get("prompt") or len(p.get("chosen", [])) != 1 or len(p.get("rejected", [])) != 1:
            raise ValueError(f"{path.name} line {i + 1}: a pair needs a prompt and one chosen and one rejected answer")
    return pairs


def load_or_train_chat_model(device, fallback_steps: int = 300, sft_steps: int = 300):
    """(model, chat tokenizer): notebook 08's chat model from the cache; when notebook 08 has not run, a base model
    (notebook 06's, or a small one) fine-tuned the same way for `sft_steps` steps, then cached."""
    from rawllm.core import DATA_DIR, cache_path
    from rawllm.sft import (PAD, SFTConfig, extend_context, load_chat_model, load_chat_tokenizer,
                            load_or_train_base_model, read_chat_file, save_chat_model, sft_train, yarn_scaling)
    folder = cache_path("chat-model", "config.json").parent
    try:
        return load_chat_model(folder, device)
    except FileNotFoundError:
        base, _ = load_or_train_base_model(device, fallback_steps)
    tokenizer = load_chat_tokenizer()
    model = extend_context(base, 512, yarn_scaling(base.config.max_seq_len, 512))
    examples = [encode_chat(tokenizer, r["messages"]) for r in read_chat_file(DATA_DIR / "chat_train.jsonl")]
    sft_train(model, examples, SFTConfig(steps=sft_steps, warmup_steps=min(30, sft_steps)),
              tokenizer.special_tokens[PAD], progress=False)
    save_chat_model(model, tokenizer, folder)
    return model.eval(), tokenizer


def encode_pair(tokenizer, pair: dict) -> dict:
    """A pair through the chat template: the prompt + chosen and prompt + rejected conversations, each with the mask
    of its answer tokens (notebook 08's assistant mask: the answer and its end-of-turn token)."""
    chosen = encode_chat(tokenizer, pair["prompt"] + pair["chosen"])
    rejected = encode_chat(tokenizer, pair["prompt"] + pair["rejected"])
    return {"chosen_ids": chosen["input_ids"], "chosen_mask": chosen["assistant_masks"],
            "rejected_ids": rejected["input_ids"], "rejected_mask": rejected["assistant_masks"]}


def preference_batch(pairs: list[dict], pad_id: int) -> dict:
    """Encoded pairs as one right-padded batch of 2n rows, TRL's layout: the n chosen conversations, then the n
    rejected ones. input_ids, attention_mask and completion_mask are (2n, longest)."""
    if not pairs:
        raise ValueError("an empty list of pairs")
    rows = [(p["chosen_ids"], p["chosen_mask"]) for p in pairs] + [(p["rejected_ids"], p["rejected_mask"]) for p in pairs]
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention, completion = torch.zeros_like(ids), torch.zeros_like(ids)
    for i, (row, mask) in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        attention[i, :len(row)] = 1
        completion[i, :len(row)] = torch.tensor(mask)
    return {"input_ids": ids, "attention_mask": attention, "completion_mask": completion}


def sequence_logprobs(model, input_ids, attention_mask, completion_mask) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of log p(token | the tokens before it) over each row's completion tokens, their count), both (rows,).
    Token t is predicted by the logits at t - 1; padded rows get position ids that count real tokens only."""
    if not (input_ids.shape == attention_mask.shape == completion_mask.shape) or input_ids.dim() != 2:
        raise ValueError(f"input_ids, attention_mask and completion_mask must be the same (rows, length); got "
                         f"{tuple(input_ids.shape)}, {tuple(attention_mask.shape)}, {tuple(completion_mask.shape)}")
    target = (completion_mask * attention_mask)[:, 1:].bool()
    counts = target.sum(-1)
    if (counts == 0).any():
        rows = (counts == 0).nonzero().flatten().tolist()
        raise ValueError(f"rows {rows} have no completion token to score (an empty answer?)")
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids, attention_mask=attention_mask, position_ids=position_ids)
    logits = getattr(logits, "logits", logits)[:, :-1].float()
    token_logps = torch.gather(logits.log_softmax(-1), 2, input_ids[:, 1:, None]).squeeze(2)
    return (token_logps * target).sum(-1), counts


def check_pairs(*tensors) -> None:
    """ValueError unless the per-pair tensors are 1-d and equally long."""
    shapes = [tuple(t.shape) for t in tensors if t is not None]
    if any(len(s) != 1 for s in shapes) or len(set(shapes)) != 1:
        raise ValueError(f"per-pair log-probabilities must be 1-d tensors of one length; got shapes {shapes}")


def reward_loss(chosen_rewards, rejected_rewards, margin=None, center_rewards_coefficient=None) -> torch.Tensor:
    """The reward model's Bradley-Terry loss as TRL's RewardTrainer computes it: mean -log sigmoid(r_w - r_l - margin),
    plus center_rewards_coefficient * mean((r_w + r_l)^2), which keeps the scores near zero."""
    check_pairs(chosen_rewards, rejected_rewards, margin)
    diff = chosen_rewards - rejected_rewards - (0 if margin is None else margin)
    loss = -F.logsigmoid(diff).mean()
    if center_rewards_coefficient is not None:
        loss = loss + center_rewards_coefficient * torch.mean((chosen_rewards + rejected_rewards) ** 2)
    return loss


class RewardModel(nn.Module):
    """A transformer body and a scalar head (`score`, transformers' name) read at each row's last real token:
    transformers' LlamaForSequenceClassification with num_labels=1."""

    def __init__(self, body):
        super().__init__()
        self.body = body
        self.score = nn.Linear(body.config.d_model, 1, bias=False)
        nn.init.normal_(self.score.weight, std=0.02)

    def forward(self, input_ids, attention_mask):
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        hidden = self.body.hidden_states(input_ids, attention_mask=attention_mask, position_ids=position_ids)
        last = (torch.arange(input_ids.shape[1], device=input_ids.device) * attention_mask).argmax(-1)
        return self.score(hidden[torch.arange(len(input_ids)), last]).squeeze(-1)


def score_pairs(reward_model, pairs: list[dict], pad_id: int, batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """(chosen scores, rejected scores) of a reward model over encoded pairs."""
    device, chosen, rejected = next(reward_model.parameters()).device, [], []
    with torch.no_grad():
        for start in range(0, len(pairs), batch_size):
            batch = preference_batch(pairs[start:start + batch_size], pad_id)
            scores = reward_model(batch["input_ids"].to(device), batch["attention_mask"].to(device)).cpu()
            chosen.append(scores[:len(scores) // 2])
            rejected.append(scores[len(scores) // 2:])
    return torch.cat(chosen), torch.cat(rejected)


def pairwise_accuracy(chosen_scores, rejected_scores) -> float:
    """The share of pairs whose chosen answer scores higher."""
    return (chosen_scores > rejected_scores).float().mean().item()


LOSS_TYPES = ("sigmoid", "robust", "hinge", "ipo", "bco_pair", "sppo_hard", "nca_pair", "apo_zero")


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta: float = 0.1,
             loss_type: str = "sigmoid", label_smoothing: float = 0.0, chosen_lengths=None, rejected_lengths=None):
    """(losses, chosen_rewards, rejected_rewards), one per pair, as TRL's DPOTrainer computes them. The rewards are
    beta times each answer's log-ratio to the reference, detached; the loss depends on the margin of log-ratios."""
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"unknown loss_type {loss_type!r}; choose one of {LOSS_TYPES}")
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if label_smoothing and loss_type != "robust" or not 0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing in [0, 0.5) is the 'robust' loss's; got {label_smoothing} with {loss_type!r}")
    check_pairs(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    chosen = policy_chosen_logps - ref_chosen_logps          # log pi(y_w|x) / pi_ref(y_w|x)
    rejected = policy_rejected_logps - ref_rejected_logps
    margin = chosen - rejected
    if loss_type == "sigmoid":
        losses = -F.logsigmoid(beta * margin)
    elif loss_type == "robust":
        eps = label_smoothing
        losses = (-(1 - eps) * F.logsigmoid(beta * margin) + eps * F.logsigmoid(-beta * margin)) / (1 - 2 * eps)
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * margin)
    elif loss_type == "ipo":
        if chosen_lengths is None or rejected_lengths is None:
            raise ValueError("the 'ipo' loss averages per token: pass chosen_lengths and rejected_lengths")
        check_pairs(chosen, chosen_lengths, rejected_lengths)
        per_token = chosen / chosen_lengths.clamp(min=1) - rejected / rejected_lengths.clamp(min=1)
        losses = (per_token - 1 / (2 * beta)) ** 2
    elif loss_type == "bco_pair":
        losses = -F.logsigmoid(beta * chosen) - F.logsigmoid(-beta * rejected)
    elif loss_type == "sppo_hard":
        losses = (chosen - 0.5 / beta) ** 2 + (rejected + 0.5 / beta) ** 2
    elif loss_type == "nca_pair":
        losses = -F.logsigmoid(beta * chosen) - 0.5 * F.logsigmoid(-beta * chosen) - 0.5 * F.logsigmoid(-beta * rejected)
    else:                                                    # apo_zero
        losses = (1 - torch.sigmoid(beta * chosen)) + torch.sigmoid(beta * rejected)
    return losses, (beta * chosen).detach(), (beta * rejected).detach()


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x < 0, stable on both sides of -ln 2: log(1 - p) from log p."""
    return torch.where(x < -math.log(2), torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x)))


def orpo_loss(chosen_avg_logps, rejected_avg_logps, beta: float = 0.1):
    """(losses, chosen_rewards, rejected_rewards) of ORPO, no reference model: the log odds ratio of the answers'
    mean per-token probabilities, losses = -beta * log sigmoid(log odds ratio), added to the chosen answers' NLL.
    (TRL's odds_ratio_loss returns beta * log sigmoid, which its trainer subtracts.) Rewards: beta * mean logps."""
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    check_pairs(chosen_avg_logps, rejected_avg_logps)
    log_odds = (chosen_avg_logps - rejected_avg_logps) - (log1mexp(chosen_avg_logps) - log1mexp(rejected_avg_logps))
    losses = -beta * F.logsigmoid(log_odds)
    return losses, (beta * chosen_avg_logps).detach(), (beta * rejected_avg_logps).detach()


def simpo_loss(chosen_avg_logps, rejected_avg_logps, beta: float = 2.0, gamma: float = 0.5):
    """(losses, chosen_rewards, rejected_rewards) of SimPO, no reference model: -log sigmoid(beta * (mean logp of the
    chosen - of the rejected) - gamma), gamma a target margin (TRL's simpo_gamma). Rewards: beta * mean logps."""
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    check_pairs(chosen_avg_logps, rejected_avg_logps)
    losses = -F.logsigmoid(beta * (chosen_avg_logps - rejected_avg_logps) - gamma)
    return losses, (beta * chosen_avg_logps).detach(), (beta * rejected_avg_logps).detach()


METHODS = ("dpo", "orpo", "simpo")


@dataclass
class PreferenceConfig:
    """One preference-tuning run."""
    method: str = "dpo"                  # dpo (with loss_type), orpo or simpo
    loss_type: str = "sigmoid"           # DPO's loss, one of LOSS_TYPES
    beta: float = 0.1
    label_smoothing: float = 0.0         # the robust loss's noise rate
    simpo_gamma: float = 0.5             # SimPO's target margin
    steps: int = 200                     # optimizer steps
    batch_size: int = 8                  # pairs per step
    lr: float = 5e-4                     # peak learning rate (AdamW, warmup then cosine)
    min_lr_ratio: float = 0.1
    warmup_steps: int = 10
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    checkpoint_dir: str | None = None    # checkpoints go there; a run resumes from the latest one
    checkpoint_interval: int = 0         # steps between checkpoints (and one at the end); 0: only the end
    stop_at_step: int | None = None      # end this session early (the schedule still spans `steps`)
    seed: int = 0


def check_preference_config(config: PreferenceConfig, n_pairs: int) -> None:
    """ValueError for a run that cannot work, with the numbers."""
    c = config
    if c.method not in METHODS:
        raise ValueError(f"unknown method {c.method!r}; choose one of {METHODS}")
    if c.loss_type not in LOSS_TYPES:
        raise ValueError(f"unknown loss_type {c.loss_type!r}; choose one of {LOSS_TYPES}")
    if not c.beta > 0 or c.steps < 1 or c.batch_size < 1 or not 0 <= c.warmup_steps <= c.steps:
        raise ValueError(f"need beta > 0, steps >= 1, batch_size >= 1, 0 <= warmup_steps <= steps; got "
                         f"{c.beta}, {c.steps}, {c.batch_size}, {c.warmup_steps}")
    if n_pairs < c.batch_size:
        raise ValueError(f"{n_pairs} pairs are fewer than one batch of batch_size={c.batch_size}")


def reference_logprobs(model, reference, batch: dict) -> torch.Tensor:
    """The reference model's summed completion log-probs, without gradients: `reference` itself, or (None) `model`
    with its LoRA adapters switched off, so no second copy of the weights is held."""
    from rawllm.lora import adapters_disabled
    with torch.no_grad():
        if reference is not None:
            return sequence_logprobs(reference, **batch)[0]
        with adapters_disabled(model):
            return sequence_logprobs(model, **batch)[0]


def preference_loss(model, reference, batch: dict, config: PreferenceConfig, ref_logps=None):
    """(mean loss, metrics named as TRL logs them) for a batch of 2n rows (n chosen, then n rejected). DPO needs the
    reference log-probs: `ref_logps` (precomputed), else from `reference` (None: the adapter switched off)."""
    logps, counts = sequence_logprobs(model, **batch)
    n = len(logps) // 2
    chosen, rejected = logps[:n], logps[n:]
    metrics = {}
    if config.method == "dpo":
        ref = reference_logprobs(model, reference, batch) if ref_logps is None else ref_logps.to(logps.device)
        losses, r_chosen, r_rejected = dpo_loss(chosen, rejected, ref[:n], ref[n:], config.beta, config.loss_type,
                                                config.label_smoothing, counts[:n], counts[n:])
    else:
        avg_chosen, avg_rejected = chosen / counts[:n], rejected / counts[n:]
        if config.method == "simpo":
            losses, r_chosen, r_rejected = simpo_loss(avg_chosen, avg_rejected, config.beta, config.simpo_gamma)
        else:                      # orpo: the odds-ratio term on top of the chosen answers' mean NLL
            odds, r_chosen, r_rejected = orpo_loss(avg_chosen, avg_rejected, config.beta)
            nll = -chosen.sum() / counts[:n].sum()
            losses, metrics["nll_loss"] = nll + odds, nll.item()
    metrics |= {"rewards/chosen": r_chosen.mean().item(), "rewards/rejected": r_rejected.mean().item(),
                "rewards/accuracies": (r_chosen > r_rejected).float().mean().item(),
                "rewards/margins": (r_chosen - r_rejected).mean().item(),
                "logps/chosen": chosen.mean().item(), "logps/rejected": rejected.mean().item()}
    return losses.mean(), metrics


def pair_batch(pairs: list[dict], config: PreferenceConfig, step: int, pad_id: int) -> tuple[list[int], dict]:
    """Step's pair indices (notebook 08's step_examples: a pure function of seed and step) and their batch."""
    from rawllm.sft import step_examples
    index = step_examples(len(pairs), config.batch_size, config.seed, step)
    return index, preference_batch([pairs[i] for i in index], pad_id)


def preference_train(model, pairs: list[dict], config: PreferenceConfig, pad_id: int, reference=None,
                     ref_logps=None, progress: bool = True) -> dict:
    """Tune `model` in place on encoded pairs (encode_pair); returns the history (step, loss, lr, grad_norm, the TRL
    metrics). DPO's reference: `ref_logps` (chosen and rejected per pair, (n_pairs, 2)), else `reference`, else the
    model with its adapters off. Resumes from config.checkpoint_dir's latest checkpoint."""
    from tqdm.auto import tqdm
    from rawllm.train import apply_update, load_checkpoint, lr_multiplier, make_optimizers, save_checkpoint
    check_preference_config(config, len(pairs))
    optimizers = make_optimizers(model, "adamw", lr=config.lr, weight_decay=config.weight_decay)
    history, start = {"step": [], "loss": [], "lr": [], "grad_norm": [], "seconds": []}, 0
    if config.checkpoint_dir and (Path(config.checkpoint_dir) / "latest.json").is_file():
        state = load_checkpoint(config.checkpoint_dir, model, optimizers, config=config)
        history, start = state["history"], state["step"]
        if progress:
            print(f"resuming at step {start} of {config.steps} from {config.checkpoint_dir}", flush=True)
    end, device = min(config.steps, config.stop_at_step or config.steps), next(model.parameters()).device
    no_scaler = torch.amp.GradScaler(device.type, enabled=False)
    model.train()
    for step in tqdm(range(start, end), initial=start, total=end, desc=config.method, disable=not progress):
        multiplier = lr_multiplier(step, config.steps, config.warmup_steps, "cosine", config.min_lr_ratio)
        for opt in optimizers:
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * multiplier
        index, batch = pair_batch(pairs, config, step, pad_id)
        ref = None if ref_logps is None else torch.cat([ref_logps[index, 0], ref_logps[index, 1]])
        began = time.perf_counter()
        loss, metrics = preference_loss(model, reference, {k: v.to(device) for k, v in batch.items()}, config, ref)
        loss.backward()
        norm = apply_update(model, optimizers, no_scaler, config)
        for key, value in {"step": step + 1, "loss": loss.item(), "lr": config.lr * multiplier, "grad_norm": norm,
                           "seconds": time.perf_counter() - began, **metrics}.items():
            history.setdefault(key, []).append(value)
        due = config.checkpoint_interval and (step + 1) % config.checkpoint_interval == 0
        if config.checkpoint_dir and (due or step + 1 == end):
            save_checkpoint(config.checkpoint_dir, model, optimizers, step + 1, config, history=history)
    model.eval()
    return history


@torch.no_grad()
def precompute_reference(model, pairs: list[dict], pad_id: int, batch_size: int = 16) -> torch.Tensor:
    """(n_pairs, 2): each pair's chosen and rejected summed log-probs under `model` (TRL's precompute_ref_log_probs):
    the reference is read once, before training, and need not be kept."""
    device, out = next(model.parameters()).device, []
    model.eval()
    for start in range(0, len(pairs), batch_size):
        batch = preference_batch(pairs[start:start + batch_size], pad_id)
        logps = sequence_logprobs(model, **{k: v.to(device) for k, v in batch.items()})[0].cpu()
        out.append(torch.stack(logps.chunk(2), dim=1))
    return torch.cat(out)


def honesty(pairs: list[dict], answers: list[str]) -> dict:
    """Greedy answers to the pairs' prompts, scored: made_up (the share of unanswerable questions answered with
    anything but the refusal), answerable_em (exact match on the others) and refused (answerable ones refused)."""
    from rawllm.sft import normalize_answer
    right = [normalize_answer(a) == normalize_answer(p["chosen"][0]["content"]) for p, a in zip(pairs, answers)]
    unknown = [r for p, r in zip(pairs, right) if p["kind"] == "unknown"]
    known = [(r, normalize_answer(a) == normalize_answer(UNKNOWN_ANSWER))
             for p, r, a in zip(pairs, right, answers) if p["kind"] != "unknown"]
    return {"made_up": 1 - sum(unknown) / max(len(unknown), 1), "answerable_em": sum(r for r, _ in known) / max(len(known), 1),
            "refused": sum(f for _, f in known) / max(len(known), 1), "n_unknown": len(unknown), "n_answerable": len(known)}


def answer_prompts(model, tokenizer, pairs: list[dict], max_new_tokens: int = 24, batch_size: int = 16) -> list[str]:
    """Greedy answers to the pairs' prompts through the chat template (notebook 08's generate_answers)."""
    from rawllm.sft import END, generate_answers
    prompts = [encode_chat(tokenizer, p["prompt"], add_generation_prompt=True)["input_ids"] for p in pairs]
    return generate_answers(model, tokenizer, prompts, [tokenizer.special_tokens[END]], max_new_tokens, batch_size)


def argument_parser():
    import argparse
    from rawllm.train import flag_type
    parser = argparse.ArgumentParser(prog="python -m rawllm.dpo", description="Preference tuning (notebook 10).")
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data", help="write preference_train.jsonl and preference_val.jsonl")
    data.add_argument("--out", required=True, help="the folder (the repository's data/ holds the committed files)")
    data.add_argument("--seed", type=int, default=PREFERENCE_SEED)
    train = commands.add_parser("train", help="tune notebook 08's chat model on the preference pairs, evaluate, save")
    for f in fields(PreferenceConfig):
        train.add_argument(f"--{f.name}", type=flag_type(f.type), default=f.default)
    train.add_argument("--out", required=True, help="where the tuned chat model goes (Hugging Face layout)")
    train.add_argument("--data", default=None, help="the folder of the preference files (default: data/)")
    train.add_argument("--eval_pairs", type=int, default=200, help="held-out prompts answered and scored")
    train.add_argument("--quiet", action="store_true")
    return parser


def train_command(args: dict) -> dict:
    """`python -m rawllm.dpo train`: DPO (or ORPO, SimPO) on the chat model, the reference precomputed; returns
    the held-out honesty scores before and after."""
    from rawllm.core import DATA_DIR
    from rawllm.sft import PAD, save_chat_model
    config = PreferenceConfig(**{f.name: args[f.name] for f in fields(PreferenceConfig)})
    model, tokenizer = load_or_train_chat_model(None)
    folder, pad_id = Path(args["data"]) if args["data"] else DATA_DIR, tokenizer.special_tokens[PAD]
    train = read_preference_file(folder / "preference_train.jsonl")[:config.steps * config.batch_size]
    val = read_preference_file(folder / "preference_val.jsonl")[:args["eval_pairs"]]
    pairs = [encode_pair(tokenizer, p) for p in train]
    before = honesty(val, answer_prompts(model, tokenizer, val))
    ref = precompute_reference(model, pairs, pad_id) if config.method == "dpo" else None
    preference_train(model, pairs, config, pad_id, ref_logps=ref, progress=not args["quiet"])
    after = honesty(val, answer_prompts(model, tokenizer, val))
    for name, r in (("before", before), ("after", after)):
        print(f"{name}: made up {r['made_up']:.1%} of {r['n_unknown']} unanswerable, exact match "
              f"{r['answerable_em']:.1%} of {r['n_answerable']} answerable", flush=True)
    save_chat_model(model, tokenizer, args["out"])
    print("saved to", args["out"])
    return {"before": before, "after": after}


def main(argv: list[str] | None = None):
    args = vars(argument_parser().parse_args(argv))
    if args.pop("command") == "data":
        written = write_preference_data(args["out"], seed=args["seed"])
        print(", ".join(f"{name}: {n} pairs" for name, n in written.items()))
        return written
    return train_command(args)


# In a notebook `__name__` is "__main__" too, but there is no `__file__`: only `python -m rawllm.dpo` runs this.
if __name__ == "__main__" and "__file__" in globals():
    import sys
    main(sys.argv[1:])
