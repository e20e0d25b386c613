"""rawllm.grpo against TRL and torchrl: the GRPO loss through GRPOTrainer's own loss code (four loss types, token
and sequence level, beta = 0 and beta > 0; loss and gradient) on the tiny model's transformers twin, the group
advantages of a real GRPOTrainer step, GAE against torchrl and the classic backward loop, the rollouts, the
rewards, the errors, and the committed task files."""
import types

import pytest
import torch
from datasets import Dataset
from torchrl.objectives.value.functional import generalized_advantage_estimate
from trl import GRPOConfig, GRPOTrainer

import rawllm.grpo as grpo
from rawllm.grpo import (GRPO_LOSS_TYPES, RLConfig, check_rl_config, correctness_reward, format_reward, gae,
                         group_advantages, grpo_loss, informative_groups, overlong_penalty, parse_answer, pass_at_k,
                         per_token_logps, rollout, whiten)
from rawllm.core import DATA_DIR
from rawllm.world import read_corpus

from test_dpo import tiny, twin, word_tokenizer

B, P, T = 6, 5, 7          # completions, prompt width, completion width
MAX_LEN = T + 3            # max_completion_length: wider than this batch, as when every row stopped early


def grpo_trainer(tmp_path, model, **config):
    """A GRPOTrainer on the twin of `model`, float32 on CPU; it is only asked for its loss here."""
    args = GRPOConfig(output_dir=str(tmp_path / "out"), report_to="none", bf16=False, use_cpu=True,
                      per_device_train_batch_size=B, num_generations=3, max_completion_length=MAX_LEN,
                      save_strategy="no", disable_tqdm=True, **config)
    rows = Dataset.from_list([{"prompt": "w1 w2"}] * B)
    trainer = GRPOTrainer(model=twin(model, tmp_path / "policy"), reward_funcs=lambda completions, **kw: [0.0] * len(completions),
                          args=args, train_dataset=rows, processing_class=word_tokenizer())
    trainer.current_gradient_accumulation_steps = 1
    return trainer


def loss_inputs(seed=0):
    """Left-padded prompts, right-padded completions of different lengths, advantages, and noise for the old and
    reference log-probs (so ratios leave 1 and both sides of the clip are reached)."""
    g = torch.Generator().manual_seed(seed)
    prompt_ids = torch.randint(2, 96, (B, P), generator=g)
    prompt_mask = torch.ones(B, P, dtype=torch.long)
    for row, pad in enumerate([0, 2, 1, 0, 3, 1]):
        prompt_mask[row, :pad] = 0
        prompt_ids[row, :pad] = 0
    completion_ids = torch.randint(2, 96, (B, T), generator=g)
    completion_mask = torch.ones(B, T, dtype=torch.long)
    for row, n in enumerate([7, 3, 5, 1, 6, 2]):
        completion_mask[row, n:] = 0
        completion_ids[row, n:] = 0
    return {"prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "completion_ids": completion_ids,
            "completion_mask": completion_mask, "advantages": torch.randn(B, generator=g),
            "old_noise": 0.3 * torch.randn(B, T, generator=g), "ref_noise": 0.5 * torch.randn(B, T, generator=g)}


@pytest.mark.parametrize("beta", [0.0, 0.04])
@pytest.mark.parametrize("level", ["token", "sequence"])
@pytest.mark.parametrize("loss_type", GRPO_LOSS_TYPES)
def test_grpo_loss_and_gradient_equal_grpo_trainer(tmp_path, loss_type, level, beta):
    model = tiny(0, head_scale=5.0)
    trainer = grpo_trainer(tmp_path, model, loss_type=loss_type, importance_sampling_level=level, beta=beta)
    x = loss_inputs()
    with torch.no_grad():
        base = per_token_logps(model, x["prompt_ids"], x["prompt_mask"], x["completion_ids"], x["completion_mask"])
    old, ref = base + x["old_noise"], base + x["ref_noise"]
    model.train()
    logps = per_token_logps(model, x["prompt_ids"], x["prompt_mask"], x["completion_ids"], x["completion_mask"])
    ours = grpo_loss(logps, old, ref if beta else None, x["advantages"], x["completion_mask"], loss_type,
                     importance_sampling_level=level, beta=beta, max_completion_length=MAX_LEN)
    ours.backward()
    hf = trainer.model.train()
    inputs = {k: x[k] for k in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "advantages")}
    inputs |= {"old_per_token_logps": old, "num_items_in_batch": x["completion_mask"].sum()}
    if beta:
        inputs["ref_per_token_logps"] = ref
    theirs = trainer._compute_loss(hf, inputs)
    theirs.backward()
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-6)
    grads = {n: p.grad for n, p in hf.named_parameters()}
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], atol=1e-6, rtol=1e-5, msg=lambda m: f"{name}: {m}")
    assert max(p.grad.abs().max() for p in model.parameters()) > 1e-4, "the loss barely depends on the weights"


def test_the_loss_types_differ_where_the_lengths_differ():
    """On completions of different lengths the four normalisations give four different losses; dapo equals bnpo
    when the batch is the whole generation batch."""
    x = loss_inputs(1)
    logps = -torch.rand(B, T) - 0.1
    losses = {lt: grpo_loss(logps, logps - 0.1, None, x["advantages"], x["completion_mask"], lt).item()
              for lt in GRPO_LOSS_TYPES}
    assert len({round(v, 6) for k, v in losses.items() if k != "dapo"}) == 3, losses
    assert losses["dapo"] == pytest.approx(losses["bnpo"])


def test_group_advantages_equal_a_real_grpo_trainer_step(tmp_path):
    """Run one GRPOTrainer step with a reward that depends on the sampled completion, catch the advantages it
    hands to its loss (in its own shuffled order), and recompute them from the same rewards."""
    model, words = tiny(0), word_tokenizer()
    seen = {"rewards": [], "keys": [], "inputs": []}

    def reward(prompts, completions, completion_ids, **kwargs):
        values = [float(len(c.split()) % 3) + 0.5 * float("w7" in c) for c in completions]
        seen["rewards"] += values
        seen["keys"] += [(tuple(words(p)["input_ids"]), tuple(c)) for p, c in zip(prompts, completion_ids)]
        return values

    for scale in ("group", "batch", "none"):
        for v in seen.values():
            v.clear()
        args = GRPOConfig(output_dir=str(tmp_path / scale), report_to="none", bf16=False, use_cpu=True,
                          per_device_train_batch_size=B, num_generations=3, max_completion_length=T, max_steps=1,
                          save_strategy="no", disable_tqdm=True, scale_rewards=scale, logging_steps=1)
        trainer = GRPOTrainer(model=twin(model, tmp_path / f"p-{scale}"), reward_funcs=reward, args=args,
                              train_dataset=Dataset.from_list([{"prompt": f"w{i} w2"} for i in range(B)]),
                              processing_class=words)
        original = trainer._compute_loss
        trainer._compute_loss = lambda m, inputs: (seen["inputs"].append(inputs), original(m, inputs))[1]
        trainer.train()
        rewards = torch.tensor(seen["rewards"])
        assert rewards.std() > 0, "the sampled rewards are all equal: the test would not see the scaling"
        ours = dict(zip(seen["keys"], group_advantages(rewards, 3, scale).tolist()))
        theirs, matched = [], []
        for inputs in seen["inputs"]:
            for p, pm, c, cm, a in zip(inputs["prompt_ids"], inputs["prompt_mask"], inputs["completion_ids"],
                                       inputs["completion_mask"], inputs["advantages"]):
                key = (tuple(p[pm.bool()].tolist()), tuple(c[cm.bool()].tolist()))
                theirs.append(a.item())
                matched.append(ours[key])
        assert len(theirs) == B
        torch.testing.assert_close(torch.tensor(matched), torch.tensor(theirs), atol=1e-5, rtol=1e-5)


def test_gae_equals_torchrl_and_the_backward_loop():
    g = torch.Generator().manual_seed(0)
    rewards, values = torch.randn(4, 9, generator=g), torch.randn(4, 9, generator=g)
    mask = torch.ones(4, 9)
    for row, n in enumerate([9, 4, 6, 1]):
        mask[row, n:] = 0
    gamma, lam = 0.97, 0.9
    advantages, returns = gae(rewards, values, mask, gamma, lam)
    # the classic loop (TRL's PPO trainer before 1.13), values and rewards zero past each row's end
    r, v = rewards * mask, values * mask
    last, loop = torch.zeros(4), []
    for t in reversed(range(9)):
        next_value = v[:, t + 1] if t < 8 else torch.zeros(4)
        last = r[:, t] + gamma * next_value - v[:, t] + gamma * lam * last
        loop.append(last)
    loop = torch.stack(loop[::-1], 1) * mask
    torch.testing.assert_close(advantages, loop)
    torch.testing.assert_close(returns, loop + v)
    # torchrl: time on dim -2, done at each row's last real token
    done = torch.zeros(4, 9, dtype=torch.bool)
    done[torch.arange(4), mask.sum(1).long() - 1] = True
    theirs, _ = generalized_advantage_estimate(gamma, lam, v[..., None], torch.nn.functional.pad(v[:, 1:], (0, 1))[..., None] * (~done[..., None]),
                                               r[..., None], done[..., None], done[..., None])
    torch.testing.assert_close(advantages, theirs[..., 0] * mask, atol=1e-5, rtol=1e-5)


def test_whiten_is_zero_mean_unit_variance_on_the_mask():
    g = torch.Generator().manual_seed(0)
    x, mask = 3 + 2 * torch.randn(3, 8, generator=g), (torch.rand(3, 8, generator=g) > 0.3).float()
    w = whiten(x, mask)
    picked = w[mask.bool()]
    assert abs(picked.mean().item()) < 1e-5 and abs(picked.std().item() - 1) < 1e-4


def test_group_advantages_by_hand_and_dynamic_sampling():
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    a = group_advantages(rewards, 3)
    std = torch.tensor([1.0, 0.0, 0.0]).std()
    torch.testing.assert_close(a[:3], (torch.tensor([1.0, 0.0, 0.0]) - 1 / 3) / (std + 1e-4))
    assert torch.equal(a[3:], torch.zeros(3))
    assert informative_groups(rewards, 3).tolist() == [True] * 3 + [False] * 3
    torch.testing.assert_close(overlong_penalty(torch.tensor([2, 6, 7, 8, 9]), 8, 4),
                               torch.tensor([0.0, -0.5, -0.75, -1.0, -1.0]))


def test_rewards_and_pass_at_k():
    assert parse_answer("She had 3, then 12") == 12 and parse_answer("none") is None
    assert parse_answer("It costs 1,200 dollars.") == 1200 and parse_answer("down to -4") == -4
    assert correctness_reward(["7", "it was 7", "8", [{"role": "assistant", "content": "7"}]], ["7"] * 4) == [1, 1, 0, 1]
    assert format_reward(["7", " 12 ", "7 shells", ""]) == [1, 1, 0, 0]
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25) and pass_at_k(4, 1, 4) == 1.0 and pass_at_k(4, 0, 2) == 0.0
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)


def test_rollout_groups_masks_and_truncation():
    model = tiny(0)
    prompts = [[5, 6, 7], [8, 9]]
    roll = rollout(model, prompts, 4, 6, stop_id=1, pad_id=0, generator=torch.Generator().manual_seed(0))
    assert roll["prompt_ids"].shape == (8, 3) and roll["prompt_mask"][4:, 0].sum() == 0
    assert torch.equal(roll["prompt_ids"][4:, 1:], torch.tensor([[8, 9]] * 4))
    for ids, mask, truncated in zip(roll["completion_ids"], roll["completion_mask"], roll["truncated"]):
        n = int(mask.sum())
        assert mask[:n].all() and not mask[n:].any()
        assert (ids[n:] == 0).all()
        assert bool(truncated) == (1 not in ids[:n].tolist())
        if not truncated:
            assert ids[n - 1] == 1
    many = rollout(model, prompts, 64, 6, stop_id=1, pad_id=0, generator=torch.Generator().manual_seed(0))
    lengths = many["completion_mask"].sum(1)
    assert many["truncated"].any() and not many["truncated"].all(), "the test needs rows that stop and rows that do not"
    assert torch.equal(many["truncated"], ~(many["completion_ids"] == 1).any(1))
    assert (lengths[many["truncated"]] == 6).all() and (lengths[~many["truncated"]] <= 6).all()


def test_bad_inputs_raise_clear_errors():
    x = loss_inputs()
    logps, mask, adv = torch.zeros(B, T), x["completion_mask"], x["advantages"]
    with pytest.raises(ValueError, match="divisible by group_size"):
        group_advantages(torch.zeros(7), 3)
    with pytest.raises(ValueError, match="unknown scale"):
        group_advantages(torch.zeros(6), 3, "groups")
    with pytest.raises(ValueError, match="clip range must be positive"):
        grpo_loss(logps, None, None, adv, mask, epsilon=0.0)
    with pytest.raises(ValueError, match="rows \\[2\\] of completion_mask hold no completion token"):
        empty = mask.clone()
        empty[2] = 0
        grpo_loss(logps, None, None, adv, empty)
    with pytest.raises(ValueError, match="unknown loss_type"):
        grpo_loss(logps, None, None, adv, mask, "ppo")
    with pytest.raises(ValueError, match="reference's log-probs"):
        grpo_loss(logps, None, None, adv, mask, beta=0.1)
    with pytest.raises(ValueError, match="advantages must have shape"):
        grpo_loss(logps, None, None, adv[:3], mask)
    with pytest.raises(ValueError, match="share one"):
        grpo_loss(logps, logps[:, :3], None, adv, mask)
    with pytest.raises(ValueError, match="need epsilon > 0"):
        check_rl_config(RLConfig(epsilon=-0.1), 100)
    with pytest.raises(ValueError, match="cannot fill"):
        check_rl_config(RLConfig(prompts_per_step=8), 4)
    with pytest.raises(ValueError, match="must share one"):
        gae(torch.zeros(2, 3), torch.zeros(2, 4), torch.ones(2, 3))


def test_one_training_step_moves_the_policy_toward_the_reward(tmp_path):
    """rl_train on a tiny word-level task: runs GRPO and PPO for two steps, logs TRL's metric names, and resumes
    from its checkpoint instead of starting again."""
    from rawllm.grpo import rl_train
    tokenizer = types.SimpleNamespace(special_tokens={"<|im_end|>": 1, "<|pad|>": 0},
                                      decode=lambda ids: " ".join(str(i) for i in ids))
    import rawllm.sft as sft
    tasks = [{"prompt": [{"role": "user", "content": "x"}], "answer": "7", "kind": "count"} for _ in range(4)]
    original = sft.encode_chat
    sft.encode_chat = lambda tok, messages, add_generation_prompt=False: {"input_ids": [5, 6, 7]}
    try:
        for algorithm in ("grpo", "ppo"):
            model = tiny(0)
            config = RLConfig(algorithm=algorithm, steps=2, prompts_per_step=2, group_size=4, max_new_tokens=3,
                              lr=1e-3, checkpoint_dir=str(tmp_path / algorithm), beta=0.01)
            tokenizer.special_tokens = {sft.END: 1, sft.PAD: 0}
            history = rl_train(model, tokenizer, tasks, config, progress=False)
            assert history["step"] == [1, 2] and {"reward", "kl", "entropy", "length", "clip_ratio/low_mean"} <= set(history)
            again = rl_train(model, tokenizer, tasks, config, progress=False)
            assert again["step"] == [1, 2], "a finished run should resume at its end, not train again"
    finally:
        sft.encode_chat = original


def test_tasks_are_deterministic_faithful_and_committed():
    stories = read_corpus("train")[:60]
    tasks = grpo.make_tasks(stories, grpo.TASK_SEED)
    assert tasks == grpo.make_tasks(stories, grpo.TASK_SEED) and tasks != grpo.make_tasks(stories, 99)
    committed = grpo.read_task_file(DATA_DIR / "tasks_train.jsonl")
    assert [grpo.task_json(t) for t in tasks] == [grpo.task_json(t) for t in committed[:len(tasks)]]
    for t in tasks:
        story = stories[t["story"]]
        facts = story.facts
        if t["kind"] == "change":
            assert any(abs(n["end"] - n["start"]) == int(t["answer"]) and n["who"] in t["prompt"][0]["content"]
                       for n in facts["counts"])
        if t["kind"] == "count":
            assert t["answer"] in {str(v) for n in facts["counts"] for v in (n["start"], n["end"])} | \
                {str(n["count"]) for n in facts["tallies"]} | {str(sum(n["count"] for n in facts["tallies"]))}
    val = grpo.read_task_file(DATA_DIR / "tasks_val.jsonl")
    assert len(val) > 300 and {t["kind"] for t in val} >= {"count", "change"}


def test_the_command_line_writes_the_committed_tasks_and_maps_every_flag(tmp_path):
    written = grpo.main(["data", "--out", str(tmp_path)])
    assert written == {"tasks_train.jsonl": 4821, "tasks_val.jsonl": 525}
    for name in written:
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes(), name
    args = vars(grpo.argument_parser().parse_args(["train", "--out", "x", "--loss_type", "dapo", "--dynamic_sampling",
                                                   "--epsilon_high", "0.28", "--top_p", "none", "--steps", "7"]))
    config = RLConfig(**{k: v for k, v in args.items() if k in RLConfig.__dataclass_fields__})
    assert (config.loss_type, config.dynamic_sampling, config.epsilon_high, config.top_p, config.steps) == \
        ("dapo", True, 0.28, None, 7)
    assert RLConfig.__dataclass_fields__.keys() <= args.keys()


def test_a_transformers_model_and_tokenizer_train_on_gsm8k_format_rows(tmp_path):
    """The GPU section's path on the CPU: a tiny transformers Llama and a tokenizer with a chat template saved to a
    folder, loaded by load_hub_model; GSM8K-format rows; prompts equal to apply_chat_template's; rollouts stop at
    the tokenizer's eos; two GRPO steps and a greedy evaluation run."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from rawllm.grpo import chat_prompt_ids, greedy_accuracy, gsm8k_tasks, load_hub_model, rl_train, stop_and_pad
    torch.manual_seed(0)
    hf = LlamaForCausalLM(LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64))
    hf.save_pretrained(tmp_path / "hub")
    words = word_tokenizer()
    words.chat_template = ("{% for m in messages %}w90 {{ m['content'] }} </s> {% endfor %}"
                           "{% if add_generation_prompt %}w91{% endif %}")
    words.save_pretrained(tmp_path / "hub")
    model, tokenizer = load_hub_model(str(tmp_path / "hub"), "cpu")
    rows = [{"question": f"w{i} w{i + 1} w{i + 2}", "answer": f"w3 w4\n#### {i % 3}"} for i in range(8)]
    tasks = gsm8k_tasks(rows)
    assert [t["answer"] for t in tasks[:3]] == ["0", "1", "2"]
    expected = AutoTokenizer.from_pretrained(tmp_path / "hub").apply_chat_template(
        tasks[0]["prompt"], add_generation_prompt=True, tokenize=True)
    expected = expected if isinstance(expected, list) else expected["input_ids"]
    assert chat_prompt_ids(tokenizer, tasks[0]["prompt"]) == list(expected)
    assert stop_and_pad(tokenizer) == (1, 0)
    with torch.no_grad():                                     # the loaded model is the saved one
        ids = torch.tensor([expected])
        torch.testing.assert_close(model(ids), hf(ids).logits, atol=1e-5, rtol=1e-4)
    config = RLConfig(steps=2, prompts_per_step=2, group_size=4, max_new_tokens=4, lr=1e-3)
    history = rl_train(model, tokenizer, tasks, config, progress=False)
    assert len(history["step"]) == 2 and all(0 <= r <= 1 for r in history["reward"])
    assert 0 <= greedy_accuracy(model, tokenizer, tasks, max_new_tokens=4)["accuracy"] <= 1
    with pytest.raises(ValueError, match="GSM8K row 1"):
        gsm8k_tasks([rows[0], {"question": "q", "answer": "no final answer"}])
