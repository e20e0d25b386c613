# Generated from notebooks/12_lifecycle.ipynb by notebooks/export.py. Do not edit: change the notebook and re-export.

"""The whole lifecycle in one run (notebook 12): a fresh story world, its tokenizer, pretraining, supervised
fine-tuning, LoRA-DPO, GRPO and the export, each stage resumable, with the same evaluation after every stage."""
import json
import math
import time
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from rawllm.core import atomic_write, pick_device, pick_size


STAGES = ("world", "tokenizer", "pretrain", "sft", "dpo", "grpo", "export")
DONE = "done.json"                                # written last, when a stage has finished
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
RUN_CONTROL = {"out", "device", "checkpoint_interval"}   # may change between a run and its resumption


@dataclass
class LifecycleConfig:
    """Every size of one lifecycle run; each default is picked for the machine (smoke, CPU or GPU)."""
    out: str = "runs/lifecycle"                                   # the run's folder
    seed: int = 21                            # the new world's seed (validation: seed + 1); the bundled data used 1
    train_stories: int = pick_size(smoke=150, cpu=4700, gpu=4700)
    val_stories: int = pick_size(smoke=60, cpu=470, gpu=470)
    vocab_size: int = pick_size(smoke=1024, cpu=4096, gpu=4096)
    d_model: int = pick_size(smoke=32, cpu=128, gpu=384)
    n_layers: int = pick_size(smoke=2, cpu=4, gpu=8)
    n_heads: int = pick_size(smoke=2, cpu=4, gpu=6)
    seq_len: int = pick_size(smoke=64, cpu=128, gpu=256)          # pretraining windows, and the base context
    pretrain_steps: int = pick_size(smoke=4, cpu=1300, gpu=6000)
    pretrain_batch: int = pick_size(smoke=4, cpu=16, gpu=64)
    pretrain_lr: float = pick_size(smoke=3e-3, cpu=3e-3, gpu=1.5e-3)
    context: int = 512                                            # chat positions (YaRN past seq_len)
    sft_steps: int = pick_size(smoke=3, cpu=900, gpu=3000)
    sft_batch: int = pick_size(smoke=4, cpu=16, gpu=32)
    sft_lr: float = 1e-3
    sft_copy_warmup: int = pick_size(smoke=3, cpu=400, gpu=400)   # copy-task steps before SFT (notebook 08); 0: none
    sft_copy_weight: float = 0.3                                  # the copy loss kept in every SFT step; 0: none
    lora_r: int = 8                                               # DPO's LoRA rank (alpha = 2 r)
    dpo_steps: int = pick_size(smoke=2, cpu=100, gpu=300)
    dpo_batch: int = pick_size(smoke=2, cpu=8, gpu=32)
    dpo_lr: float = 5e-4
    dpo_beta: float = 0.1
    grpo_steps: int = pick_size(smoke=2, cpu=300, gpu=1000)
    grpo_prompts: int = pick_size(smoke=2, cpu=4, gpu=16)         # tasks per rollout batch
    grpo_group: int = pick_size(smoke=2, cpu=8, gpu=8)            # samples per task
    grpo_lr: float = 5e-5
    eval_conversations: int = pick_size(smoke=4, cpu=200, gpu=940)
    eval_tasks: int = pick_size(smoke=4, cpu=200, gpu=500)
    eval_batches: int = pick_size(smoke=2, cpu=20, gpu=50)        # validation batches of 16 windows
    parity_questions: int = pick_size(smoke=2, cpu=20, gpu=50)    # conversations the export check answers
    checkpoint_interval: int = pick_size(smoke=1, cpu=100, gpu=250)
    device: str | None = None                                     # None: pick_device()


def check_lifecycle_config(c: LifecycleConfig) -> None:
    """ValueError for sizes that cannot run, naming them."""
    counts = {f.name: getattr(c, f.name) for f in fields(c) if f.type is int and f.name not in ("seed", "sft_copy_warmup")}
    bad = [f"{name}={value}" for name, value in counts.items() if value < 1]
    if bad:
        raise ValueError("these sizes must be at least 1: " + ", ".join(bad))
    if c.d_model % c.n_heads or (c.d_model // c.n_heads) % 2:
        raise ValueError(f"d_model={c.d_model} must split into n_heads={c.n_heads} heads of an even size")
    if c.context < c.seq_len:
        raise ValueError(f"context={c.context} is shorter than the pretraining seq_len={c.seq_len}")
    if c.grpo_group < 2:
        raise ValueError(f"grpo_group={c.grpo_group}: a group needs at least 2 samples to compare")
    if c.sft_copy_warmup < 0 or c.sft_copy_weight < 0:
        raise ValueError(f"sft_copy_warmup={c.sft_copy_warmup} and sft_copy_weight={c.sft_copy_weight} must be >= 0")
    if not all(v > 0 for v in (c.pretrain_lr, c.sft_lr, c.dpo_lr, c.grpo_lr, c.dpo_beta)):
        raise ValueError("learning rates and dpo_beta must be positive")


def save_run_config(config: LifecycleConfig) -> None:
    """Write OUT/config.json on the first run; on a later one, refuse sizes that differ from it."""
    from rawllm.train import config_dict, config_differences
    path, current = Path(config.out) / "config.json", config_dict(config)
    if path.is_file():
        differences = config_differences(json.loads(path.read_text()), current, ignore=RUN_CONTROL)
        if differences:
            raise ValueError(f"{config.out} holds a run with other settings ({'; '.join(differences)}): "
                             "resume it with the same sizes, or start a new --out")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(current, indent=1) + "\n"))


def stage_dir(config: LifecycleConfig, name: str) -> Path:
    """Where stage `name` writes: OUT/<name>/."""
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; the stages are {STAGES}")
    return Path(config.out) / name


def stage_done(config: LifecycleConfig, name: str) -> dict | None:
    """The record of a finished stage, or None."""
    marker = stage_dir(config, name) / DONE
    return json.loads(marker.read_text()) if marker.is_file() else None


def run_stage(name: str, config: LifecycleConfig, progress: bool = True) -> dict:
    """Run stage `name` (or read back its record if an earlier run finished it); its record lands in done.json."""
    number = f"[{STAGES.index(name) + 1}/{len(STAGES)}] {name}"
    save_run_config(config)                            # a record of a run with other sizes is not this run's
    record = stage_done(config, name)
    if record is not None:
        print(f"{number}: finished in an earlier run ({record['seconds']:.0f} s); reading "
              f"{stage_dir(config, name).name}/{DONE}", flush=True)
        return record
    folder, began = stage_dir(config, name), time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "checkpoints" / "latest.json").is_file():
        print(f"{number}: interrupted in an earlier run; resuming from its checkpoint", flush=True)
    else:
        print(f"{number}: starting", flush=True)
    record = STAGE_FUNCTIONS[name](config, folder, progress)
    record["seconds"] = time.perf_counter() - began
    atomic_write(folder / DONE, lambda tmp: tmp.write_text(json.dumps(record) + "\n"))
    print(f"{number}: done in {record['seconds']:.0f} s", flush=True)
    return record


def stage_world(config: LifecycleConfig, folder: Path, progress: bool) -> dict:
    """Stories from config.seed, and from them the chat, preference and task files of notebooks 08, 10, 11."""
    from rawllm.dpo import answer_pools, make_preference_pairs, pair_json
    from rawllm.grpo import make_tasks, task_json
    from rawllm.sft import CHAT_PER_STORY, make_chat_rows, row_json
    from rawllm.world import read_corpus, write_corpus
    counts = write_corpus(folder, config.train_stories, config.val_stories, config.seed, config.seed + 1)
    splits = {split: read_corpus(folder / f"stories_{split}.jsonl") for split in ("train", "val")}
    pools = answer_pools(splits["train"])                     # wrong answers are borrowed from the training stories
    for split, seed in (("train", config.seed), ("val", config.seed + 1)):
        files = {"chat": (make_chat_rows(splits[split], seed, CHAT_PER_STORY[split]), row_json),
                 "preference": (make_preference_pairs(splits[split], seed, pools), pair_json),
                 "tasks": (make_tasks(splits[split], seed), task_json)}
        for name, (rows, to_json) in files.items():
            text = "".join(to_json(row) + "\n" for row in rows)
            atomic_write(folder / f"{name}_{split}.jsonl", lambda tmp: tmp.write_text(text, encoding="utf-8"))
            counts[f"{name}_{split}.jsonl"] = len(rows)
    return {"files": counts}


STAGE_FUNCTIONS = {"world": stage_world}


def stage_tokenizer(config: LifecycleConfig, folder: Path, progress: bool) -> dict:
    """Notebook 01's BPE on the new training stories, with the series' special tokens; saved in both formats."""
    from rawllm.tokenizer import SERIES_SPECIAL_TOKENS, BPETokenizer
    from rawllm.world import corpus_texts
    world = stage_dir(config, "world")
    tokenizer = BPETokenizer.train(corpus_texts(world / "stories_train.jsonl"), config.vocab_size,
                                   special_tokens=SERIES_SPECIAL_TOKENS)
    tokenizer.save(folder / "rawllm-bpe.json")
    tokenizer.save_tokenizer_json(folder / "tokenizer.json")
    val = "\n".join(corpus_texts(world / "stories_val.jsonl")).encode()
    return {"vocab_size": tokenizer.vocab_size, "bytes_per_token": len(val) / len(tokenizer.encode(val.decode()))}


STAGE_FUNCTIONS["tokenizer"] = stage_tokenizer


def held_out(config: LifecycleConfig) -> dict:
    """The evaluation rows, the same for every stage: validation conversations and validation tasks."""
    from rawllm.grpo import read_task_file
    from rawllm.sft import read_chat_file
    world = stage_dir(config, "world")
    return {"chat": read_chat_file(world / "chat_val.jsonl")[:config.eval_conversations],
            "tasks": read_task_file(world / "tasks_val.jsonl")[:config.eval_tasks]}


def story_perplexity(model, config: LifecycleConfig) -> float:
    """exp(mean cross-entropy) on eval_batches fixed batches of 16 validation windows of seq_len tokens."""
    from rawllm.train import BatchSampler, evaluate, open_tokens
    tokens = open_tokens(stage_dir(config, "pretrain") / "tokens_val.bin")
    return math.exp(evaluate(model, BatchSampler(tokens, config.seq_len, 16, seed=0), config.eval_batches))


def evaluate_stage(model, tokenizer, config: LifecycleConfig, chat_model=None) -> dict:
    """The four measures of one model; `chat_model` (default: `model`) answers the questions."""
    from rawllm.grpo import greedy_accuracy
    from rawllm.sft import evaluate_chat
    data, answering = held_out(config), chat_model if chat_model is not None else model
    chat = evaluate_chat(answering.eval(), tokenizer, data["chat"])
    kinds = {kind: right / total for kind, (right, total) in sorted(chat["kinds"].items())}
    tasks = greedy_accuracy(answering, tokenizer, data["tasks"])
    return {"perplexity": story_perplexity(model, config), "exact_match": chat["exact_match"], "kinds": kinds,
            "made_up": 1 - kinds["unknown"] if "unknown" in kinds else float("nan"),
            "pass_at_1": tasks["accuracy"], "answers": chat["answers"][:5], "task_answers": tasks["answers"][:5]}


def token_files(config: LifecycleConfig, tokenizer, folder: Path) -> dict:
    """OUT/pretrain/tokens_{train,val}.bin from the new stories (kept if an earlier run wrote them)."""
    from rawllm.train import write_token_file
    from rawllm.world import corpus_texts
    paths = {}
    for split in ("train", "val"):
        paths[split] = folder / f"tokens_{split}.bin"
        if not paths[split].with_suffix(".json").is_file():
            texts = corpus_texts(stage_dir(config, "world") / f"stories_{split}.jsonl")
            write_token_file(paths[split], texts, tokenizer, source=f"lifecycle world, seed {config.seed}, {split}")
    return paths


def stage_pretrain(config: LifecycleConfig, folder: Path, progress: bool) -> dict:
    """A new model trained from random weights with notebook 06's train(); saved as a base model."""
    from rawllm.model import ModelConfig, Transformer
    from rawllm.sft import extend_context, yarn_scaling
    from rawllm.tokenizer import BPETokenizer
    from rawllm.train import TrainConfig, save_base_model, train
    tokenizer = BPETokenizer.load(stage_dir(config, "tokenizer") / "rawllm-bpe.json")
    paths, steps = token_files(config, tokenizer, folder), config.pretrain_steps
    model_config = ModelConfig(vocab_size=tokenizer.vocab_size, d_model=config.d_model, n_layers=config.n_layers,
                               n_heads=config.n_heads, max_seq_len=config.seq_len, tie_embeddings=True)
    torch.manual_seed(config.seed)
    model = Transformer(model_config).to(pick_device(config.device)[0])
    init_perplexity = story_perplexity(model, config)
    history = train(TrainConfig(model=model_config, seq_len=config.seq_len, batch_size=config.pretrain_batch,
                                max_steps=steps, lr=config.pretrain_lr, warmup_steps=max(1, steps // 20),
                                eval_interval=max(1, steps // 5), eval_steps=config.eval_batches,
                                data=str(paths["train"]), val_data=str(paths["val"]), device=config.device,
                                checkpoint_dir=str(folder / "checkpoints"),
                                checkpoint_interval=config.checkpoint_interval), model=model, progress=progress)
    save_base_model(model, tokenizer, folder / "model")
    reader = extend_context(model, config.context, yarn_scaling(config.seq_len, config.context))
    return {"metrics": evaluate_stage(model, tokenizer, config, chat_model=reader), "loss": history["loss"],
            "init_perplexity": init_perplexity, "parameters": sum(p.numel() for p in model.parameters())}


STAGE_FUNCTIONS["pretrain"] = stage_pretrain


def stage_sft(config: LifecycleConfig, folder: Path, progress: bool) -> dict:
    """Notebook 08's fine-tuning of the base model on the new conversations, at `context` positions."""
    from rawllm.sft import (COPY_TOKENS, PAD, SFTConfig, encode_chat, extend_context, read_chat_file, save_chat_model,
                            sft_train, yarn_scaling)
    from rawllm.train import load_base_model
    base, tokenizer = load_base_model(pick_device(config.device)[0], path=stage_dir(config, "pretrain") / "model")
    model = extend_context(base, config.context, yarn_scaling(config.seq_len, config.context)
                           if config.context > config.seq_len else None)
    rows = read_chat_file(stage_dir(config, "world") / "chat_train.jsonl")
    examples = [encode_chat(tokenizer, row["messages"]) for row in rows]
    sft_config = SFTConfig(steps=config.sft_steps, batch_size=config.sft_batch, lr=config.sft_lr,
                           warmup_steps=max(1, config.sft_steps // 20), checkpoint_dir=str(folder / "checkpoints"),
                           checkpoint_interval=config.checkpoint_interval, copy_warmup_steps=config.sft_copy_warmup,
                           copy_weight=config.sft_copy_weight,   # the copy task's ids: ordinary ones, below the specials
                           copy_max_id=min(COPY_TOKENS[1], tokenizer.vocab_size - len(tokenizer.special_tokens)))
    history = sft_train(model, examples, sft_config, tokenizer.special_tokens[PAD], progress=progress)
    save_chat_model(model, tokenizer, folder / "model")
    return {"metrics": evaluate_stage(model.eval(), tokenizer, config), "loss": history["loss"]}


STAGE_FUNCTIONS["sft"] = stage_sft


def stage_dpo(config: LifecycleConfig, folder: Path, progress: bool) -> dict:
    """Notebook 10's DPO through a LoRA adapter (the reference: the adapter off), then merged and saved."""
    from rawllm.dpo import PreferenceConfig, encode_pair, preference_train, read_preference_file
    from rawllm.lora import add_lora, count_parameters, merge_lora
    from rawllm.sft import PAD, load_chat_model, save_chat_model
    model, tokenizer = load_chat_model(stage_dir(config, "sft") / "model", pick_device(config.device)[0])
    add_lora(model, LORA_TARGETS, r=config.lora_r, alpha=2 * config.lora_r)
    trained = count_parameters(model)["trainable"]
    rows = read_preference_file(stage_dir(config, "world") / "preference_train.jsonl")
    pairs = [encode_pair(tokenizer, p) for p in rows[:config.dpo_steps * config.dpo_batch]]
    dpo_config = PreferenceConfig(method="dpo", beta=config.dpo_beta, steps=config.dpo_steps,
                                  batch_size=config.dpo_batch, lr=config.dpo_lr,
                                  warmup_steps=min(10, config.dpo_steps), checkpoint_dir=str(folder / "checkpoints"),
                                  checkpoint_interval=config.checkpoint_interval)
    history = preference_train(model, pairs, dpo_config, tokenizer.special_tokens[PAD], progress=progress)
    save_chat_model(merge_lora(model).eval(), tokenizer, folder / "model")
    return {"metrics": evaluate_stage(model, tokenizer, config), "loss": history["loss"],
            "margins": history["rewards/margins"], "lora_parameters": trained}


STAGE_FUNCTIONS["dpo"] = stage_dpo


def stage_grpo(config: LifecycleConfig, folder: Path, progress: bool) -> dict:
    """Notebook 11's GRPO on the new training tasks, starting from the DPO model."""
    from rawllm.grpo import RLConfig, read_task_file, rl_train
    from rawllm.sft import load_chat_model, save_chat_model
    model, tokenizer = load_chat_model(stage_dir(config, "dpo") / "model", pick_device(config.device)[0])
    tasks = read_task_file(stage_dir(config, "world") / "tasks_train.jsonl")
    rl_config = RLConfig(steps=config.grpo_steps, prompts_per_step=config.grpo_prompts,
                         group_size=config.grpo_group, lr=config.grpo_lr, checkpoint_dir=str(folder / "checkpoints"),
                         checkpoint_interval=config.checkpoint_interval)
    history = rl_train(model, tokenizer, tasks, rl_config, progress=progress)
    save_chat_model(model, tokenizer, folder / "model")
    return {"metrics": evaluate_stage(model, tokenizer, config), "reward": history["reward"],
            "kl": history.get("kl", [])}


STAGE_FUNCTIONS["grpo"] = stage_grpo


@torch.no_grad()
def transformers_parity(folder, rows: list[dict], max_new_tokens: int = 24) -> dict:
    """Greedy answers to the conversations' questions by transformers and by us, from the same folder: how many
    prompts and answers agree token for token, and the first answer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging
    from rawllm.generate import generate
    logging.disable_progress_bar()
    from rawllm.sft import END, encode_chat, eval_items, load_chat_model
    ours, tokenizer = load_chat_model(folder)
    hf_model, hf_tokenizer = AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    end, result = tokenizer.special_tokens[END], {"questions": 0, "same_prompt": 0, "same_answer": 0}
    for item in eval_items(rows):
        ids = encode_chat(tokenizer, item["messages"], add_generation_prompt=True)["input_ids"]
        theirs_ids = hf_tokenizer.apply_chat_template(item["messages"], add_generation_prompt=True, tokenize=True,
                                                      return_dict=True)["input_ids"]
        prompt = torch.tensor([ids])
        theirs = hf_model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=max_new_tokens,
                                   do_sample=False, pad_token_id=end)[0, len(ids):].tolist()
        mine = generate(ours, prompt, max_new_tokens, greedy=True, stop_ids=[end])[0].tolist()
        result["questions"] += 1
        result["same_prompt"] += list(theirs_ids) == ids
        result["same_answer"] += theirs == mine
        result.setdefault("example", {"question": item["messages"][-1]["content"][-120:],
                                      "answer": hf_tokenizer.decode(theirs, skip_special_tokens=True)})
    return result


def stage_export(config: LifecycleConfig, folder: Path, progress: bool) -> dict:
    """The GRPO model to OUT/final/ (Hugging Face layout, tokenizer, chat template), checked with transformers."""
    from rawllm.sft import load_chat_model, save_chat_model
    model, tokenizer = load_chat_model(stage_dir(config, "grpo") / "model")
    final = save_chat_model(model, tokenizer, Path(config.out) / "final")
    parity = transformers_parity(final, held_out(config)["chat"][:config.parity_questions])
    if parity["same_prompt"] != parity["questions"] or parity["same_answer"] != parity["questions"]:
        raise RuntimeError(f"transformers disagrees with us on the exported model: {parity}")
    return {"final": final.name, "parity": parity}


STAGE_FUNCTIONS["export"] = stage_export


MODEL_STAGES = ("pretrain", "sft", "dpo", "grpo")


def stage_table(records: dict) -> list[dict]:
    """One row per model stage (and one for the random init): its measures and its time."""
    rows = [{"stage": "random init", "perplexity": records["pretrain"]["init_perplexity"]}]
    for name in MODEL_STAGES:
        m = records[name]["metrics"]
        rows.append({"stage": name, "perplexity": m["perplexity"], "exact_match": m["exact_match"],
                     **{f"em/{k}": v for k, v in m["kinds"].items()}, "made_up": m["made_up"],
                     "pass_at_1": m["pass_at_1"], "seconds": records[name]["seconds"]})
    return rows


def format_table(rows: list[dict]) -> str:
    """The stage table as Markdown: perplexity with two decimals, shares as percentages, seconds whole."""
    columns = list(dict.fromkeys(key for row in rows for key in row))

    def show(key, value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        return value if key == "stage" else f"{value:.0f}" if key == "seconds" else \
            f"{value:.2f}" if key == "perplexity" else f"{value:.1%}"

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(show(k, row.get(k)) for k in columns) + " |" for row in rows]
    return "\n".join(lines)


def stage_figure(rows: list[dict]):
    """Four panels, one per measure, the stages along the x axis."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    panels = (("perplexity", "story perplexity (log)"), ("exact_match", "exact match"),
              ("made_up", "made-up answers"), ("pass_at_1", "arithmetic pass@1"))
    for ax, (key, title) in zip(axes, panels):
        shown = [row for row in rows if key in row]
        ax.bar([row["stage"] for row in shown], [row[key] for row in shown], color="#3b75af")
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=30)
        if key == "perplexity":
            ax.set_yscale("log")
        else:
            ax.set_ylim(0, 1)
    fig.tight_layout()
    return fig


def lifecycle(config: LifecycleConfig, until: str | None = None, progress: bool = True) -> dict:
    """Run every stage in order (or up to and including `until`); returns {stage: record}."""
    check_lifecycle_config(config)
    if until is not None and until not in STAGES:
        raise ValueError(f"unknown stage {until!r}; the stages are {STAGES}")
    records = {}
    for name in STAGES:
        records[name] = run_stage(name, config, progress)
        if name == until:
            break
    return records


def write_report(config: LifecycleConfig, records: dict) -> str:
    """OUT/metrics.md, metrics.json and metrics.png from a finished run; returns the table."""
    import matplotlib
    matplotlib.use("Agg")
    rows, out = stage_table(records), Path(config.out)
    table = format_table(rows)
    atomic_write(out / "metrics.md", lambda tmp: tmp.write_text(table + "\n"))
    atomic_write(out / "metrics.json", lambda tmp: tmp.write_text(json.dumps(rows, indent=1) + "\n"))
    stage_figure(rows).savefig(out / "metrics.png", dpi=100)
    return table


def argument_parser():
    import argparse
    from rawllm.train import flag_type
    parser = argparse.ArgumentParser(prog="python -m rawllm.lifecycle",
                                     description="The whole lifecycle in one run (notebook 12); it resumes.")
    for f in fields(LifecycleConfig):
        parser.add_argument(f"--{f.name}", type=flag_type(f.type), default=f.default, required=f.name == "out")
    parser.add_argument("--until", default=None, choices=STAGES, help="stop after this stage")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = vars(argument_parser().parse_args(argv))
    until, quiet = args.pop("until"), args.pop("quiet")
    config = LifecycleConfig(**args)
    records = lifecycle(config, until, progress=not quiet)
    if "export" in records:
        print(write_report(config, records), f"\nthe model: {Path(config.out) / 'final'}", sep="\n")
    return records


# In a notebook `__name__` is "__main__" too, but there is no `__file__`: only `python -m rawllm.lifecycle` runs this.
if __name__ == "__main__" and "__file__" in globals():
    import sys
    main(sys.argv[1:])
