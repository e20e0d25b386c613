"""rawllm.sft's copy task: the batch and its labels, the induction test, the warm-up that forms an induction head,
and the copy loss SFTConfig keeps in every fine-tuning step."""
import copy
import math
from dataclasses import replace

import pytest
import torch

from rawllm.sft import (IGNORE, SFTConfig, copy_batch, copy_warmup, induction_losses, sft_loss, sft_train,
                        step_copy_batch)
from test_sft import fake
from test_sft import tiny_model as sized_model

SMALL_IDS = (3, 64)


def tiny_model():
    """test_sft's tiny model with a vocabulary of 64 ids (the copy task draws from SMALL_IDS)."""
    return sized_model(64)


def test_the_copy_batch_repeats_its_ids_and_labels_the_second_copy_from_its_second_token():
    batch = copy_batch(3, 6, torch.Generator().manual_seed(1), SMALL_IDS)
    ids = batch["input_ids"]
    assert ids.shape == (3, 12) and torch.equal(ids[:, :6], ids[:, 6:])
    assert ids.min() >= 3 and ids.max() < 64
    for row in range(3):
        assert batch["labels"][row].tolist() == [IGNORE] * 7 + ids[row, 7:].tolist()
    assert batch["position_ids"].tolist() == [list(range(12))] * 3 and batch["attention_mask"].all()


class Copier(torch.nn.Module):
    """A perfect induction head: from position L - 1 on (the second copy) it puts logit 30 on the next token, which
    is the token L places back; on the first copy every logit is 0, a flat guess."""
    def __init__(self, length, vocab):
        super().__init__()
        self.length, self.vocab, self.weight = length, vocab, torch.nn.Parameter(torch.zeros(1))

    def forward(self, ids, **_):
        logits = torch.zeros(*ids.shape, self.vocab)
        L = self.length
        logits[:, L - 1:-1].scatter_(2, ids[:, L:, None], 30.0)
        return logits


def test_induction_losses_tell_a_copying_model_from_a_guessing_one():
    first, second = induction_losses(Copier(8, 64), length=8, rows=4, tokens=SMALL_IDS)
    assert first == pytest.approx(math.log(64), rel=1e-5)
    assert second < 1e-6
    first, second = induction_losses(tiny_model(), length=8, rows=16, tokens=SMALL_IDS)
    assert abs(first - second) < 0.3


def test_the_copy_warmup_forms_an_induction_head():
    model = tiny_model()
    before = induction_losses(model, length=12, rows=32, seed=5, tokens=SMALL_IDS)
    losses = copy_warmup(model, 200, rows=16, length=12, lr=1e-2, tokens=SMALL_IDS, progress=False)
    first, second = induction_losses(model, length=12, rows=32, seed=5, tokens=SMALL_IDS)
    assert len(losses) == 200 and losses[-1] < 0.1 * losses[0]
    assert before[1] > 3.0 and second < 0.1, (before, first, second)


def test_the_copy_loss_enters_every_step_and_is_a_function_of_seed_and_step():
    examples = [fake(10 + i % 7, 3, i) for i in range(40)]
    config = SFTConfig(steps=1, batch_size=4, lr=1e-2, warmup_steps=0, copy_weight=0.5, copy_rows=4,
                       copy_length=6, copy_min_id=3, copy_max_id=64)
    base = tiny_model()
    with torch.no_grad():
        expected = sft_loss(base, step_copy_batch(config, 0)).item()
    with_copy = copy.deepcopy(base)
    history = sft_train(with_copy, examples, config, pad_id=0, progress=False)
    assert history["copy_loss"] == [pytest.approx(expected, rel=1e-5)]
    without = copy.deepcopy(base)
    plain = sft_train(without, examples, replace(config, copy_weight=0.0), pad_id=0, progress=False)
    assert plain["loss"] == pytest.approx(history["loss"]) and math.isnan(plain["copy_loss"][0])
    assert any(not torch.equal(a, b) for a, b in zip(with_copy.parameters(), without.parameters()))
    assert torch.equal(step_copy_batch(config, 3)["input_ids"], step_copy_batch(config, 3)["input_ids"])
    assert not torch.equal(step_copy_batch(config, 3)["input_ids"], step_copy_batch(config, 4)["input_ids"])


def test_the_warmup_runs_in_a_fresh_run_and_a_resumed_run_repeats_it(tmp_path):
    examples = [fake(10 + i % 7, 3, i) for i in range(40)]
    config = SFTConfig(steps=6, batch_size=4, lr=1e-2, warmup_steps=1, copy_warmup_steps=5, copy_weight=0.3,
                       copy_rows=2, copy_length=6, copy_min_id=3, copy_max_id=64)
    base = tiny_model()
    full = sft_train(copy.deepcopy(base), examples, config, pad_id=0, progress=False)
    assert len(full["copy_warmup"]) == 5 and len(full["loss"]) == 6
    cut = replace(config, checkpoint_dir=str(tmp_path), stop_at_step=3)
    sft_train(copy.deepcopy(base), examples, cut, pad_id=0, progress=False)
    resumed = sft_train(copy.deepcopy(base), examples, replace(cut, stop_at_step=None), pad_id=0, progress=False)
    assert resumed["loss"] == pytest.approx(full["loss"], rel=1e-6)
    assert resumed["copy_loss"] == pytest.approx(full["copy_loss"], rel=1e-6)


@pytest.mark.parametrize("change, message", [
    ({"copy_weight": 0.3, "copy_min_id": 3, "copy_max_id": 100}, "beyond the model's vocabulary of 64"),
    ({"copy_weight": 0.3, "copy_min_id": 50, "copy_max_id": 10}, "copy_min_id < copy_max_id"),
    ({"copy_weight": -1.0}, "must be >= 0"),
    ({"copy_warmup_steps": 3, "copy_length": 1, "copy_max_id": 64}, "copy_length >= 2"),
])
def test_a_copy_task_that_cannot_work_is_named(change, message):
    examples = [fake(10, 3, i) for i in range(8)]
    with pytest.raises(ValueError, match=message):
        sft_train(tiny_model(), examples, replace(SFTConfig(steps=1, batch_size=4, warmup_steps=0), **change), 0,
                  progress=False)
