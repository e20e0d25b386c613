"""Notebook 12's lifecycle: every stage runs on a fresh world, resumes after a kill, and transformers serves the export."""
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

import rawllm.sft
from rawllm.generate import generate
from rawllm.lifecycle import (DONE, STAGES, LifecycleConfig, check_lifecycle_config, format_table, lifecycle, main,
                              stage_table, write_report)
from rawllm.sft import END, eval_items, load_chat_model, read_chat_file
from rawllm.world import corpus_texts

SIZES = dict(train_stories=150, val_stories=60, vocab_size=1024, d_model=32, n_layers=2, n_heads=2, seq_len=64,
             pretrain_steps=4, pretrain_batch=4, sft_steps=3, sft_batch=4, sft_copy_warmup=2, dpo_steps=2,
             dpo_batch=2, grpo_steps=2, grpo_prompts=2, grpo_group=2, eval_conversations=4, eval_tasks=4,
             eval_batches=2, parity_questions=3, checkpoint_interval=1, device="cpu")


def tiny(out) -> LifecycleConfig:
    return LifecycleConfig(out=str(out), **SIZES)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    config = tiny(tmp_path_factory.mktemp("lifecycle") / "run")
    return config, lifecycle(config, progress=False)


def test_every_stage_finishes_and_leaves_its_folder(finished):
    config, records = finished
    out = Path(config.out)
    assert list(records) == list(STAGES)
    for name in STAGES:
        assert json.loads((out / name / DONE).read_text())["seconds"] >= 0
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= \
        {f.name for f in (out / "final").iterdir()}
    assert json.loads((out / "config.json").read_text())["d_model"] == 32
    for name in ("pretrain", "sft", "dpo", "grpo"):
        m = records[name]["metrics"]
        assert m["perplexity"] > 1 and 0 <= m["exact_match"] <= 1 and 0 <= m["pass_at_1"] <= 1
    assert records["pretrain"]["init_perplexity"] > records["pretrain"]["metrics"]["perplexity"]


def test_transformers_serves_the_export_with_our_tokens(finished):
    config, records = finished
    folder = Path(config.out) / "final"
    hf_model, hf_tok = AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    ours, tokenizer = load_chat_model(folder)
    end = tokenizer.special_tokens[END]
    assert hf_model.config.eos_token_id == end
    items = eval_items(read_chat_file(Path(config.out) / "world" / "chat_val.jsonl")[:3])
    assert items
    for item in items:
        prompt = hf_tok.apply_chat_template(item["messages"], add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True)["input_ids"]
        with torch.no_grad():
            theirs = hf_model.generate(prompt, max_new_tokens=16, do_sample=False, pad_token_id=end)[0, prompt.shape[1]:]
            mine = generate(ours, prompt, 16, greedy=True, stop_ids=[end])[0]
        assert theirs.tolist() == mine.tolist()
    parity = records["export"]["parity"]
    assert parity["questions"] >= 3 and parity["same_prompt"] == parity["same_answer"] == parity["questions"]


def test_the_world_is_new_and_its_splits_apart(finished):
    config, _ = finished
    world = Path(config.out) / "world"
    train, val = corpus_texts(world / "stories_train.jsonl"), corpus_texts(world / "stories_val.jsonl")
    assert len(train) == 150 and not set(train) & set(val)
    assert len(set(train) & set(corpus_texts("train"))) < 5
    for name in ("chat", "preference", "tasks"):
        assert (world / f"{name}_train.jsonl").stat().st_size and (world / f"{name}_val.jsonl").stat().st_size


def test_a_killed_run_resumes_and_ends_with_the_same_model(finished, tmp_path, monkeypatch, capsys):
    config, _ = finished
    resumed = tiny(tmp_path / "run")
    real_step, calls = rawllm.sft.sft_step, []

    def dies_at_the_second_step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(rawllm.sft, "sft_step", dies_at_the_second_step)
    with pytest.raises(KeyboardInterrupt):
        lifecycle(resumed, progress=False)
    monkeypatch.setattr(rawllm.sft, "sft_step", real_step)
    assert (tmp_path / "run" / "pretrain" / DONE).is_file() and not (tmp_path / "run" / "sft" / DONE).is_file()
    capsys.readouterr()
    lifecycle(resumed, progress=False)
    said = capsys.readouterr().out
    assert "[3/7] pretrain: finished in an earlier run" in said
    assert "[4/7] sft: interrupted in an earlier run" in said
    straight = load_file(Path(config.out) / "final" / "model.safetensors")
    again = load_file(tmp_path / "run" / "final" / "model.safetensors")
    assert straight.keys() == again.keys()
    for name in straight:
        torch.testing.assert_close(again[name], straight[name], rtol=0, atol=1e-6)


def test_resuming_with_other_sizes_is_refused(finished):
    config, _ = finished
    with pytest.raises(ValueError, match="other settings.*d_model"):
        lifecycle(LifecycleConfig(out=config.out, **(SIZES | {"d_model": 64})), progress=False)


def test_sizes_that_cannot_run_are_named():
    with pytest.raises(ValueError, match="d_model=100"):
        check_lifecycle_config(LifecycleConfig(d_model=100, n_heads=3))
    with pytest.raises(ValueError, match="sft_steps=0"):
        check_lifecycle_config(LifecycleConfig(**(SIZES | {"sft_steps": 0})))
    with pytest.raises(ValueError, match="context=32"):
        check_lifecycle_config(LifecycleConfig(**(SIZES | {"context": 32})))
    with pytest.raises(ValueError, match="unknown stage 'rlhf'"):
        lifecycle(tiny("unused"), until="rlhf")


def test_the_table_and_the_report(finished):
    config, records = finished
    rows = stage_table(records)
    assert [r["stage"] for r in rows] == ["random init", "pretrain", "sft", "dpo", "grpo"]
    assert rows[1]["exact_match"] == records["pretrain"]["metrics"]["exact_match"]
    text = format_table(rows)
    assert text.count("\n") == 6 and "| random init |" in text and "%" in text
    assert write_report(config, records) == text
    assert json.loads((Path(config.out) / "metrics.json").read_text())[0]["stage"] == "random init"
    assert (Path(config.out) / "metrics.png").stat().st_size > 1000


def test_the_command_runs_stages_and_stops_where_told(tmp_path, capsys):
    flags = [x for k, v in SIZES.items() for x in (f"--{k}", str(v))]
    records = main(["--out", str(tmp_path / "cli"), *flags, "--until", "tokenizer", "--quiet"])
    assert list(records) == ["world", "tokenizer"]
    assert (tmp_path / "cli" / "tokenizer" / "rawllm-bpe.json").is_file()
    assert not (tmp_path / "cli" / "pretrain").exists()
    assert "[2/7] tokenizer: done" in capsys.readouterr().out
