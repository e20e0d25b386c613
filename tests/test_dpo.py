"""rawllm.dpo against TRL and transformers: every DPO loss type through DPOTrainer's own loss code (on fixed log-probs
and on the tiny model's twin), ORPO's odds ratio, SimPO, the reward model's loss and head, sequence log-probs, one
DPO step of SGD and of the AdamW loop, the errors, and the preference pairs and their committed file."""
import types
from collections import defaultdict

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoModelForCausalLM, LlamaForSequenceClassification, PreTrainedTokenizerFast
from trl import DPOConfig, DPOTrainer
from trl.experimental.cpo.cpo_trainer import CPOTrainer
from trl.experimental.orpo.orpo_trainer import ORPOTrainer
from trl.trainer.reward_trainer import RewardTrainer

import rawllm.dpo as dpo
from rawllm.dpo import (LOSS_TYPES, PREFERENCE_SEED, PreferenceConfig, RewardModel, answer_pools,
                        check_preference_config, dpo_loss, make_preference_pairs, orpo_loss, pair_json,
                        preference_loss, preference_train, reward_loss, sequence_logprobs, simpo_loss)
from rawllm.model import ModelConfig, Transformer
from rawllm.sft import UNKNOWN_ANSWER, as_story
from rawllm.world import questions, read_corpus

PAD = 0
N_PAIRS = 6


def tiny(seed=0, head_scale=1.0):
    """The tiny llama; head_scale > 1 sharpens its logits so log-ratios to another model are a few nats, not a few
    hundredths (hinge and the squared losses then see both sides of their kinks)."""
    torch.manual_seed(seed)
    config = ModelConfig(vocab_size=96, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=96, max_seq_len=32,
                         model_type="llama")
    model = Transformer(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(head_scale)
    return model


def twin(model, path):
    """The transformers model with the same weights as ours."""
    model.save_pretrained(path)
    return AutoModelForCausalLM.from_pretrained(path).eval()


def word_tokenizer():
    """A tokenizer built in memory (nothing downloaded): "<pad>" is 0, "</s>" 1, words w0..w93 are 2..95."""
    vocab = {"<pad>": PAD, "</s>": 1, **{f"w{i}": i + 2 for i in range(94)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>")


def pair_rows(n=N_PAIRS, seed=0):
    """Plain-text prompt/chosen/rejected rows of different lengths (TRL appends the EOS to both answers)."""
    g = torch.Generator().manual_seed(seed)

    def words(k):
        return " ".join(f"w{i}" for i in torch.randint(0, 94, (k,), generator=g).tolist())
    return [{"prompt": words(3 + i % 4), "chosen": " " + words(1 + i % 3), "rejected": " " + words(2 + (2 * i) % 3)}
            for i in range(n)]


def dpo_trainer(tmp_path, policy, reference, **config):
    """A DPOTrainer on the twins of `policy` and `reference` (explicit, different from the policy), float32 on CPU."""
    args = DPOConfig(output_dir=str(tmp_path / "out"), report_to="none", bf16=False, use_cpu=True,
                     gradient_checkpointing=False, per_device_train_batch_size=N_PAIRS, save_strategy="no",
                     disable_tqdm=True, **config)
    return DPOTrainer(model=twin(policy, tmp_path / "policy"), ref_model=twin(reference, tmp_path / "ref"), args=args,
                      train_dataset=Dataset.from_list(pair_rows()), processing_class=word_tokenizer())


def collated(trainer) -> dict:
    """All the pairs as the trainer collates them: n chosen rows then n rejected, right padded."""
    return trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])


def ours(batch: dict) -> dict:
    return {k: batch[k] for k in ("input_ids", "attention_mask", "completion_mask")}


def smoothing(loss_type):
    return 0.1 if loss_type == "robust" else 0.0


# 1. DPO's loss types against DPOTrainer._compute_loss ---------------------------------------------------------------

def fake_output(per_token_logps):
    """What the fused LM head returns, with chosen per-token log-probs (the other fields only feed the logged
    entropy, logits and accuracy)."""
    zeros = torch.zeros_like(per_token_logps)
    return types.SimpleNamespace(log_probs=per_token_logps, entropy=zeros, mean_logits=zeros,
                                 is_top1=zeros.bool(), aux_loss=None)


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_dpo_loss_equals_trl_on_fixed_log_probs(tmp_path, loss_type):
    """Random float64 per-token log-probs fed to the trainer in place of both models' forwards: the loss and the
    logged rewards equal ours on the summed log-probs (ipo's lengths: TRL's completion-token counts)."""
    beta = 0.5
    trainer = dpo_trainer(tmp_path, tiny(0), tiny(1), loss_type=loss_type, beta=beta,
                          label_smoothing=smoothing(loss_type))
    g = torch.Generator().manual_seed(7)
    rows, width = 2 * N_PAIRS, 12
    lengths = torch.tensor([1, 2, 3, 5, 7, 8, 2, 4, 6, 1, 3, 9])
    completion = torch.zeros(rows, width, dtype=torch.long)
    for i, n in enumerate(lengths.tolist()):
        completion[i, 2:2 + n] = 1
    batch = {"input_ids": torch.randint(2, 96, (rows, width), generator=g),
             "attention_mask": torch.ones(rows, width, dtype=torch.long), "completion_mask": completion}
    mask = completion[:, 1:].double()
    policy = -torch.rand(rows, width - 1, generator=g, dtype=torch.float64) * 4 * mask
    reference = -torch.rand(rows, width - 1, generator=g, dtype=torch.float64) * 4 * mask
    trainer.model.forward = lambda **kw: fake_output(policy)
    trainer.ref_model.forward = lambda **kw: fake_output(reference)
    trainer.model.train()
    expected = trainer.compute_loss(trainer.model, batch)
    metrics = trainer._metrics["train"]

    lp, rp, n = policy.sum(1), reference.sum(1), completion.sum(1)
    losses, chosen, rejected = dpo_loss(lp[:N_PAIRS], lp[N_PAIRS:], rp[:N_PAIRS], rp[N_PAIRS:], beta, loss_type,
                                        smoothing(loss_type), n[:N_PAIRS], n[N_PAIRS:])
    assert losses.dtype == torch.float64 and losses.shape == (N_PAIRS,)
    torch.testing.assert_close(losses.mean(), expected, atol=1e-10, rtol=1e-10)
    assert chosen.mean().item() == pytest.approx(metrics["rewards/chosen"][-1], abs=1e-12)
    assert rejected.mean().item() == pytest.approx(metrics["rewards/rejected"][-1], abs=1e-12)
    assert (chosen - rejected).mean().item() == pytest.approx(metrics["rewards/margins"][-1], abs=1e-12)
    assert (chosen > rejected).double().mean().item() == metrics["rewards/accuracies"][-1]
    if loss_type == "hinge":           # the batch reaches both sides of the hinge
        margins = chosen - rejected
        assert (margins < 1).any() and (margins > 1).any(), margins


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_dpo_loss_through_sequence_logprobs_equals_dpo_trainer(tmp_path, loss_type):
    """The trainer's loss and rewards on its own collated batch of the twins equal dpo_loss of our models'
    sequence_logprobs on that batch."""
    beta = 0.5
    policy, reference = tiny(0, head_scale=40.0), tiny(1, head_scale=40.0)
    trainer = dpo_trainer(tmp_path, policy, reference, loss_type=loss_type, beta=beta,
                          label_smoothing=smoothing(loss_type))
    batch = collated(trainer)
    trainer.model.train()
    expected = trainer.compute_loss(trainer.model, batch)
    metrics = trainer._metrics["train"]
    with torch.no_grad():
        lp, counts = sequence_logprobs(policy, **ours(batch))
        rp, _ = sequence_logprobs(reference, **ours(batch))
    n = N_PAIRS
    losses, chosen, rejected = dpo_loss(lp[:n], lp[n:], rp[:n], rp[n:], beta, loss_type, smoothing(loss_type),
                                        counts[:n], counts[n:])
    torch.testing.assert_close(losses.mean(), expected.detach(), atol=1e-5, rtol=1e-5)
    assert chosen.mean().item() == pytest.approx(metrics["rewards/chosen"][-1], rel=1e-5, abs=1e-5)
    assert rejected.mean().item() == pytest.approx(metrics["rewards/rejected"][-1], rel=1e-5, abs=1e-5)
    assert (chosen - rejected).mean().item() == pytest.approx(metrics["rewards/margins"][-1], rel=1e-5, abs=1e-5)
    assert lp[:n].mean().item() == pytest.approx(metrics["logps/chosen"][-1], rel=1e-5)
    assert lp[n:].mean().item() == pytest.approx(metrics["logps/rejected"][-1], rel=1e-5)
    assert (rp - lp).abs().max() > 1, "the reference must differ from the policy"


# 2-4. ORPO, SimPO, the reward loss -------------------------------------------------------------------------------

# float32 mean log-probs near 0 (where log(1 - p) from 1 - exp(x) loses most of its digits), about -ln 2 and below
AVG_CHOSEN = torch.tensor([-0.01, -1e-4, -1e-5, -0.3, -0.6931, -0.70, -1.5, -4.0, -1e-4, -2.2])
AVG_REJECTED = torch.tensor([-0.02, -2e-4, -3e-5, -0.9, -0.6932, -0.01, -3.0, -0.5, -8.0, -2.2])


@pytest.mark.parametrize("beta", [0.1, 1.0])
def test_orpo_loss_is_minus_trl_odds_ratio_loss(beta):
    """TRL returns beta * log sigmoid(log odds), which its trainer subtracts; ours is the term added: its negative.
    Mean log-probs near 0 and on both sides of -ln 2 (where log(1 - p) switches formula)."""
    fake = types.SimpleNamespace(beta=beta, accelerator=types.SimpleNamespace(device="cpu"))
    trl_losses, trl_chosen, trl_rejected, _, _ = ORPOTrainer.odds_ratio_loss(fake, AVG_CHOSEN, AVG_REJECTED)
    losses, chosen, rejected = orpo_loss(AVG_CHOSEN, AVG_REJECTED, beta)
    torch.testing.assert_close(losses, -trl_losses, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(chosen, trl_chosen, atol=0, rtol=0)
    torch.testing.assert_close(rejected, trl_rejected, atol=0, rtol=0)
    assert torch.isfinite(losses).all() and (losses > 0).all()


@pytest.mark.parametrize("beta,gamma", [(2.0, 0.5), (0.5, 1.4)])
def test_simpo_loss_equals_trl_cpo_loss(beta, gamma):
    """CPOTrainer.cpo_loss with loss_type="simpo" (no label smoothing, no AlphaPO transform) on a fake trainer."""
    fake = types.SimpleNamespace(beta=beta, simpo_gamma=gamma, label_smoothing=0.0, loss_type="simpo", alpha=0.0,
                                 accelerator=types.SimpleNamespace(device="cpu"))
    c, r = AVG_CHOSEN.double(), AVG_REJECTED.double()
    trl_losses, trl_chosen, trl_rejected = CPOTrainer.cpo_loss(fake, c, r)
    losses, chosen, rejected = simpo_loss(c, r, beta, gamma)
    torch.testing.assert_close(losses, trl_losses, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(chosen, trl_chosen, atol=0, rtol=0)
    torch.testing.assert_close(rejected, trl_rejected, atol=0, rtol=0)


@pytest.mark.parametrize("with_margin", [False, True])
@pytest.mark.parametrize("center", [None, 0.01, 0.5])
def test_reward_loss_equals_trl_reward_trainer(with_margin, center):
    """RewardTrainer.compute_loss with a fake model whose logits are the scores, and a fake trainer."""
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(2 * N_PAIRS, generator=g, dtype=torch.float64) * 2
    margin = torch.rand(N_PAIRS, generator=g, dtype=torch.float64) * 3
    fake = types.SimpleNamespace(model=types.SimpleNamespace(training=True),
                                 args=types.SimpleNamespace(center_rewards_coefficient=center),
                                 accelerator=types.SimpleNamespace(gather=lambda x: x, gather_for_metrics=lambda x: x),
                                 _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
                                 _total_train_tokens=0, _tp_size=1)
    inputs = {"input_ids": torch.ones(2 * N_PAIRS, 4, dtype=torch.long),
              "attention_mask": torch.ones(2 * N_PAIRS, 4, dtype=torch.long)}
    if with_margin:
        inputs["margin"] = margin
    expected = RewardTrainer.compute_loss(fake, lambda **kw: types.SimpleNamespace(logits=scores[:, None]), inputs)
    got = reward_loss(scores[:N_PAIRS], scores[N_PAIRS:], margin if with_margin else None, center)
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=1e-12)


# 5-6. Sequence log-probs and the reward model against transformers ----------------------------------------------

def padded_batch(seed=5):
    """Right-padded rows of lengths 11, 7, 4, 9 (real tokens never the pad id) with completions of 3, 2, 1, 4."""
    g = torch.Generator().manual_seed(seed)
    lengths, answers, width = [11, 7, 4, 9], [3, 2, 1, 4], 12
    ids = torch.full((4, width), PAD, dtype=torch.long)
    attention, completion = torch.zeros_like(ids), torch.zeros_like(ids)
    for i, (n, a) in enumerate(zip(lengths, answers)):
        ids[i, :n] = torch.randint(1, 96, (n,), generator=g)
        attention[i, :n] = 1
        completion[i, n - a:n] = 1
    return ids, attention, completion, lengths


def test_sequence_logprobs_equals_the_sum_by_hand_with_the_twin(tmp_path):
    model = tiny(0, head_scale=10.0)
    hf = twin(model, tmp_path)
    ids, attention, completion, lengths = padded_batch()
    with torch.no_grad():
        got, counts = sequence_logprobs(model, ids, attention, completion)
        logits = hf(input_ids=ids, attention_mask=attention).logits
        token = logits[:, :-1].log_softmax(-1).gather(2, ids[:, 1:, None]).squeeze(2)
        expected = (token * completion[:, 1:]).sum(1)
        alone = [hf(input_ids=ids[i:i + 1, :n]).logits[0, :-1].log_softmax(-1)
                 .gather(1, ids[i, 1:n, None]).squeeze(1)[completion[i, 1:n].bool()].sum() for i, n in enumerate(lengths)]
    assert counts.tolist() == [3, 2, 1, 4]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got, torch.stack(alone), atol=1e-5, rtol=1e-5)   # padding changes nothing


def test_reward_model_equals_llama_for_sequence_classification(tmp_path):
    body = tiny(0)
    body.save_pretrained(tmp_path)
    hf = LlamaForSequenceClassification.from_pretrained(tmp_path, num_labels=1, pad_token_id=PAD).eval()
    torch.manual_seed(4)
    reward = RewardModel(body).eval()
    with torch.no_grad():
        reward.score.weight.normal_(std=1.0)
        hf.score.weight.copy_(reward.score.weight)
    ids, attention, _, _ = padded_batch()
    with torch.no_grad():
        got = reward(ids, attention)
        expected = hf(input_ids=ids, attention_mask=attention).logits.squeeze(-1)
    assert got.shape == (4,)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert expected.std() > 0.05                      # distinct scores: reading the wrong position would show


# 7. One optimizer step against DPOTrainer.train --------------------------------------------------------------------

def encoded_pairs(trainer) -> list[dict]:
    """The trainer's tokenized rows as encode_pair lays them out (prompt + answer, the answer's mask)."""
    out = []
    for row in trainer.train_dataset:
        p, c, r = row["prompt_ids"], row["chosen_ids"], row["rejected_ids"]
        out.append({"chosen_ids": p + c, "chosen_mask": [0] * len(p) + [1] * len(c),
                    "rejected_ids": p + r, "rejected_mask": [0] * len(p) + [1] * len(r)})
    return out


def assert_same_weights(model, hf, before: dict, moved_at_least: float):
    """Our updated weights equal the trainer's, and the step moved them by more than the tolerance."""
    hf_state = hf.state_dict()
    moved = 0.0
    for name, p in model.state_dict().items():
        torch.testing.assert_close(p, hf_state[name], atol=1e-5, rtol=1e-5, msg=lambda m: f"{name}: {m}")
        moved = max(moved, (p - before[name]).abs().max().item())
    assert moved > moved_at_least, f"the step barely moved the weights ({moved})"


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo"])
def test_one_sgd_step_equals_dpo_trainer(tmp_path, loss_type):
    beta, lr = 0.5, 0.5
    policy, reference = tiny(0, head_scale=20.0), tiny(1, head_scale=20.0)
    trainer = dpo_trainer(tmp_path, policy, reference, loss_type=loss_type, beta=beta, learning_rate=lr,
                          optim="sgd", lr_scheduler_type="constant", warmup_steps=0, max_grad_norm=1e9,
                          max_steps=1, logging_steps=1)
    batch = collated(trainer)
    trainer.train()
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    policy.train()
    loss, metrics = preference_loss(policy, reference, ours(batch), PreferenceConfig(beta=beta, loss_type=loss_type))
    loss.backward()
    torch.optim.SGD(policy.parameters(), lr=lr).step()
    policy.eval()
    assert_same_weights(policy, trainer.model, before, moved_at_least=1e-3)
    logged = trainer.state.log_history[0]
    assert metrics["rewards/margins"] == pytest.approx(logged["rewards/margins"], rel=1e-4, abs=1e-6)


def test_one_step_of_preference_train_equals_dpo_trainer_adamw(tmp_path):
    """The loop itself (AdamW with betas (0.9, 0.95), no warmup, gradients clipped to 1) on all pairs at once."""
    beta, lr = 0.5, 2e-3
    policy, reference = tiny(0, head_scale=20.0), tiny(1, head_scale=20.0)
    trainer = dpo_trainer(tmp_path, policy, reference, beta=beta, learning_rate=lr, optim="adamw_torch",
                          adam_beta1=0.9, adam_beta2=0.95, adam_epsilon=1e-8, weight_decay=0.0,
                          lr_scheduler_type="constant", warmup_steps=0, max_grad_norm=1.0, max_steps=1)
    pairs = encoded_pairs(trainer)
    trainer.train()
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    config = PreferenceConfig(beta=beta, steps=1, batch_size=N_PAIRS, lr=lr, warmup_steps=0, weight_decay=0.0,
                              grad_clip=1.0)
    history = preference_train(policy, pairs, config, PAD, reference=reference, progress=False)
    assert history["step"] == [1] and history["lr"] == [lr]
    assert history["grad_norm"][0] > 1             # clipping was active in both
    assert_same_weights(policy, trainer.model, before, moved_at_least=1e-3)


# 8. Errors ---------------------------------------------------------------------------------------------------------

def test_bad_inputs_raise_clear_errors():
    x4, x3 = torch.zeros(4), torch.zeros(3)
    with pytest.raises(ValueError, match="one length"):
        dpo_loss(x4, x4, x4, x3)
    with pytest.raises(ValueError, match="one length"):
        dpo_loss(x4, x4, x4, torch.zeros(4, 1))
    with pytest.raises(ValueError, match="unknown loss_type 'kto'"):
        dpo_loss(x4, x4, x4, x4, loss_type="kto")
    for beta in (0.0, -0.1):
        with pytest.raises(ValueError, match="beta must be > 0"):
            dpo_loss(x4, x4, x4, x4, beta=beta)
        with pytest.raises(ValueError, match="beta must be > 0"):
            orpo_loss(x4 - 1, x4 - 1, beta=beta)
        with pytest.raises(ValueError, match="beta must be > 0"):
            simpo_loss(x4, x4, beta=beta)
    with pytest.raises(ValueError, match="chosen_lengths and rejected_lengths"):
        dpo_loss(x4, x4, x4, x4, loss_type="ipo")
    with pytest.raises(ValueError, match="label_smoothing"):
        dpo_loss(x4, x4, x4, x4, loss_type="sigmoid", label_smoothing=0.1)
    with pytest.raises(ValueError, match="label_smoothing"):
        dpo_loss(x4, x4, x4, x4, loss_type="robust", label_smoothing=0.5)
    with pytest.raises(ValueError, match="one length"):
        reward_loss(x4, x3)
    with pytest.raises(ValueError, match="unknown method 'ppo'"):
        check_preference_config(PreferenceConfig(method="ppo"), 100)
    with pytest.raises(ValueError, match="unknown loss_type"):
        check_preference_config(PreferenceConfig(loss_type="kto"), 100)
    with pytest.raises(ValueError, match="fewer than one batch"):
        check_preference_config(PreferenceConfig(batch_size=8), 7)


def test_an_empty_completion_is_an_error_naming_the_row():
    model = tiny(0)
    ids, attention, completion, _ = padded_batch()
    completion[2] = 0
    with pytest.raises(ValueError, match=r"rows \[2\] have no completion token"):
        sequence_logprobs(model, ids, attention, completion)
    completion[2, 0] = 1                  # the first token is never predicted: still nothing to score
    with pytest.raises(ValueError, match=r"rows \[2\]"):
        sequence_logprobs(model, ids, attention, completion)
    with pytest.raises(ValueError, match="same"):
        sequence_logprobs(model, ids, attention[:, :-1], completion)


# 9. The preference pairs -------------------------------------------------------------------------------------------

def test_preference_pairs_are_deterministic_and_faithful():
    stories = read_corpus("val")[:40]
    pools = answer_pools(stories)
    pairs = make_preference_pairs(stories, 3, pools)
    assert pairs == make_preference_pairs(stories, 3, pools)
    assert [pair_json(p) for p in pairs] != [pair_json(p) for p in make_preference_pairs(stories, 4, pools)]
    assert len(pairs) == len(stories) and [p["story"] for p in pairs] == list(range(len(stories)))
    kinds = set()
    for pair, story in zip(pairs, stories):
        chosen, rejected = pair["chosen"][0]["content"], pair["rejected"][0]["content"]
        assert pair["chosen"][0]["role"] == pair["rejected"][0]["role"] == "assistant"
        assert rejected != chosen, pair
        assert pair["prompt"][-1]["role"] == "user" and as_story(story).text in pair["prompt"][-1]["content"]
        if pair["kind"] == "unknown":
            assert chosen == UNKNOWN_ANSWER, pair
        else:
            assert chosen in {q["answer"] for q in questions(as_story(story))}, pair
        kinds.add(pair["kind"])
    assert kinds == {"lookup", "unknown", "arithmetic"}
    with pytest.raises(ValueError, match="seed must be an int"):
        make_preference_pairs(stories, "3")
    with pytest.raises(ValueError, match="no stories"):
        make_preference_pairs([], 3)


def test_the_committed_training_pairs_are_the_generators():
    from rawllm.core import DATA_DIR
    path = DATA_DIR / "preference_train.jsonl"
    assert path.is_file(), "data/preference_train.jsonl is missing: python -m rawllm.dpo data --out data"
    with path.open(encoding="utf-8") as f:
        head = [next(f).rstrip("\n") for _ in range(50)]
    train = read_corpus("train")
    expected = make_preference_pairs(train, PREFERENCE_SEED, answer_pools(train))[:50]
    assert head == [pair_json(p) for p in expected]
