"""rawllm.train: token files, samplers, the loop (accumulation, guards, MoE), checkpoints (exact resume, a kill
during a save, config mismatch), two processes under torchrun against one, the base model, the command line."""
import copy
import functools
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import rawllm.core
from rawllm.model import ModelConfig, Transformer
from rawllm.tokenizer import BPETokenizer
from rawllm.train import (EOT, BatchSampler, TrainConfig, base_model_dir, check_config, load_base_model,
                          load_checkpoint, open_tokens, prepare_tokens, read_header, save_base_model,
                          save_checkpoint, tokenizer_fingerprint, train, write_token_file)
from rawllm.world import corpus_texts

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SPECIALS = (EOT, "<|pad|>")


@pytest.fixture(scope="module")
def texts():
    return corpus_texts("val")[:60]


@pytest.fixture(scope="module")
def tokenizer(texts):
    return BPETokenizer.train(texts, 300, special_tokens=SPECIALS)


@pytest.fixture(scope="module")
def token_file(tmp_path_factory, texts, tokenizer):
    path = tmp_path_factory.mktemp("tokens") / "tiny.bin"
    write_token_file(path, iter(texts), tokenizer, "test")
    return path


def tiny_config(token_file, **changes) -> TrainConfig:
    model = ModelConfig(vocab_size=300, d_model=32, n_layers=1, n_heads=2, max_seq_len=32)
    config = TrainConfig(model=model, seq_len=16, batch_size=8, max_steps=6, warmup_steps=2, eval_interval=3,
                         eval_steps=1, data=str(token_file), seed=0)
    return replace(config, **changes)


def test_token_file_layout_and_header(token_file, texts, tokenizer):
    tokens = open_tokens(token_file, tokenizer)
    eot = tokenizer.special_tokens[EOT]
    expected = [t for text in texts for t in [eot, *tokenizer.encode(text)]]
    assert tokens.dtype == np.uint16 and tokens.tolist() == expected
    header = read_header(token_file)
    assert header["num_tokens"] == len(expected) and header["num_documents"] == len(texts)
    assert header["tokenizer"] == tokenizer_fingerprint(tokenizer) and header["vocab_size"] == 300


def test_token_file_refuses_another_tokenizer_or_a_short_file(token_file, texts, tmp_path):
    other = BPETokenizer.train(texts, 290, special_tokens=SPECIALS)
    with pytest.raises(ValueError, match=r"does not match: vocab_size: file 300, tokenizer 290; tokenizer: file"):
        open_tokens(token_file, other)
    short = tmp_path / "short.bin"
    short.write_bytes(token_file.read_bytes()[:-2])
    short.with_suffix(".json").write_text(token_file.with_suffix(".json").read_text())
    with pytest.raises(ValueError, match="the sidecar promises"):
        open_tokens(short)


def test_sampler_is_a_function_of_the_step_and_shards_by_rank(token_file, tokenizer):
    tokens = open_tokens(token_file)
    whole = BatchSampler(tokens, 16, 8, seed=3)
    x, y = whole.batch(5)
    assert x.shape == y.shape == (8, 16) and torch.equal(x[:, 1:], y[:, :-1])
    assert torch.equal(whole.batch(5)[0], x) and not torch.equal(whole.batch(6)[0], x)
    shards = [BatchSampler(tokens, 16, 8, seed=3, rank=r, world_size=2).batch(5)[0] for r in (0, 1)]
    assert torch.equal(torch.cat(shards), x)
    eot = tokenizer.special_tokens[EOT]
    aligned = BatchSampler(tokens, 16, 8, seed=3, bos_token_id=eot).batch(0)[0]
    assert (aligned[:, 0] == eot).all()


def test_prepare_tokens_streams_the_bundled_stories_through_datasets():
    from rawllm.tokenizer import load_series_tokenizer
    tok = load_series_tokenizer()
    path = prepare_tokens("stories", "val", tok)
    tokens = open_tokens(path, tok)
    eot = tok.special_tokens[EOT]
    assert read_header(path)["num_documents"] == len(corpus_texts("val")) == int((tokens == eot).sum())
    first = corpus_texts("val")[0]
    assert tokens[:len(tok.encode(first)) + 1].tolist() == [eot, *tok.encode(first)]


def test_clear_errors_for_impossible_configs(token_file):
    with pytest.raises(ValueError, match="seq_len=64 is beyond the model's context of max_seq_len=32"):
        check_config(tiny_config(token_file, seq_len=64))
    with pytest.raises(ValueError, match=r"batch_size=8 is not divisible by grad_accum_steps x world_size = 3 x 1"):
        check_config(tiny_config(token_file, grad_accum_steps=3))
    with pytest.raises(ValueError, match="grad_accum_steps x world_size = 2 x 3"):
        check_config(tiny_config(token_file, grad_accum_steps=2), world_size=3)
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        check_config(tiny_config(token_file, schedule="linear"))
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        check_config(tiny_config(token_file, optimizer="sgd"))
    with pytest.raises(ValueError, match="warmup_steps=100 must lie between 0 and max_steps=6"):
        check_config(tiny_config(token_file, warmup_steps=100))


def test_gradient_accumulation_equals_the_big_batch(token_file):
    models = [Transformer(tiny_config(token_file).model) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    for model, accum in zip(models, (1, 4)):
        train(tiny_config(token_file, grad_accum_steps=accum, max_steps=3, grad_clip=0.5), model, progress=False)
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(token_file, tmp_path, optimizer):
    config = tiny_config(token_file, optimizer=optimizer)
    expected = train(replace(config, checkpoint_dir=str(tmp_path / "whole")), progress=False)
    resumed_config = replace(config, checkpoint_dir=str(tmp_path / "run"))
    first = train(replace(resumed_config, stop_at_step=4), progress=False)
    assert len(first["loss"]) == 4 and json.loads((tmp_path / "run" / "latest.json").read_text())["step"] == 4
    history = train(resumed_config, progress=False)
    assert history["loss"] == expected["loss"] and history["val_loss"] == expected["val_loss"]
    whole, resumed = (load_file(tmp_path / run / "step-000006" / "model.safetensors") for run in ("whole", "run"))
    assert all(torch.equal(whole[name], resumed[name]) for name in whole)


def test_a_resumed_run_says_where_it_resumes(token_file, tmp_path, capsys):
    config = tiny_config(token_file, checkpoint_dir=str(tmp_path / "run"))
    train(replace(config, stop_at_step=4), progress=False)
    assert "resuming" not in capsys.readouterr().out
    train(config, progress=True)
    assert "resuming at step 4 of 6 from the latest checkpoint" in capsys.readouterr().out


def test_a_checkpoint_from_another_config_is_refused_by_name(token_file, tmp_path):
    config = tiny_config(token_file, checkpoint_dir=str(tmp_path), max_steps=2)
    train(config, progress=False)
    changed = replace(config, lr=5e-4, model=replace(config.model, d_model=64))
    with pytest.raises(ValueError, match=r"different config:\n  lr: saved 0.001, now 0.0005\n  model.d_model: saved 32"):
        train(changed, progress=False)


def test_checkpoint_keeps_the_newest_and_restores_rng(token_file, tmp_path):
    model = Transformer(tiny_config(token_file).model)
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, model, step=step, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "step-000002", "step-000003"]
    torch.manual_seed(1)
    save_checkpoint(tmp_path, model, step=4)
    drawn = torch.rand(3)
    assert load_checkpoint(tmp_path, model)["step"] == 4 and torch.equal(torch.rand(3), drawn)


KILL_SCRIPT = """
import sys, torch
from rawllm.model import ModelConfig, Transformer
from rawllm.train import save_checkpoint
model = Transformer(ModelConfig(vocab_size=4096, d_model=256, n_layers=4, n_heads=4))
for step in range(1, 100000):
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(step)
    save_checkpoint(sys.argv[1], model, step=step)
    print(step, flush=True)
"""


def test_a_run_killed_while_saving_leaves_the_previous_checkpoint_loadable(tmp_path):
    model = Transformer(ModelConfig(vocab_size=4096, d_model=256, n_layers=4, n_heads=4))
    for delay in (0.0, 0.1):
        folder = tmp_path / f"kill-{delay}"
        proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(folder)], stdout=subprocess.PIPE, text=True,
                                cwd=NOTEBOOKS, env=os.environ | {"PYTHONPATH": str(NOTEBOOKS)})
        printed = [int(proc.stdout.readline()) for _ in range(2)]
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        step = load_checkpoint(folder, model)["step"]
        assert step >= printed[-1]
        assert all((p == step).all() for p in model.parameters())


def test_two_processes_under_torchrun_equal_one_process(token_file, tmp_path):
    config = tiny_config(token_file, max_steps=2, batch_size=8, grad_accum_steps=2,
                         checkpoint_dir=str(tmp_path / "one"))
    train(config, progress=False)
    flags = ["--vocab_size", "300", "--d_model", "32", "--n_layers", "1", "--n_heads", "2", "--max_seq_len", "32",
             "--seq_len", "16", "--batch_size", "8", "--grad_accum_steps", "2", "--max_steps", "2",
             "--warmup_steps", "2", "--eval_interval", "3", "--eval_steps", "1", "--seed", "0",
             "--data", str(token_file), "--checkpoint_dir", str(tmp_path / "two"), "--quiet"]
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "-m", "rawllm.train", *flags], cwd=NOTEBOOKS, capture_output=True, text=True,
                            env=os.environ | {"PYTHONPATH": str(NOTEBOOKS), "OMP_NUM_THREADS": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    one = load_file(tmp_path / "one" / "step-000002" / "model.safetensors")
    two = load_file(tmp_path / "two" / "step-000002" / "model.safetensors")
    assert one.keys() == two.keys()
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-5, atol=1e-6)


def test_non_finite_losses_skip_the_step_then_stop(token_file):
    model = Transformer(tiny_config(token_file).model)
    with torch.no_grad():
        model.model.embed_tokens.weight[:] = float("nan")
    before = [p.clone() for p in model.parameters()]
    history = train(tiny_config(token_file, max_bad_steps=3), model, progress=False)
    assert history["stopped"] == "stopped at step 3: 3 non-finite losses in a row"
    assert history["events"][0] == "step 1: loss is nan; skipped the update (1 in a row)"
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), before) if not a.isnan().any())


def first_batch(token_file, config):
    return BatchSampler(open_tokens(token_file), config.seq_len, config.batch_size, seed=config.seed).batch(0)


def tiny_moe(**changes):
    from rawllm.moe import MoEConfig
    return MoEConfig(**dict(vocab_size=300, d_model=32, n_layers=1, n_heads=2, max_seq_len=32, n_experts=4, top_k=2,
                            d_ff=32) | changes)


def one_moe_step(token_file, config):
    """train() one step of a fresh MoE: (history, the trained model, an untouched copy of its initial weights, the
    first batch x, y)."""
    from rawllm.moe import MoETransformer
    model = MoETransformer(config.model)
    reference = copy.deepcopy(model)
    history = train(config, model, progress=False)
    return history, model, reference, *first_batch(token_file, config)


def test_mixture_of_experts_trains_with_its_balancing_loss(token_file):
    config = tiny_config(token_file, model=tiny_moe(), max_steps=1, warmup_steps=0, aux_loss_coef=0.5)
    history, model, reference, x, y = one_moe_step(token_file, config)
    with torch.no_grad():
        ce = F.cross_entropy(reference(x).flatten(0, 1), y.flatten())
        probs = reference.routings()[0].logits.softmax(-1)                       # (N, E)
        chosen = torch.zeros_like(probs).scatter(1, probs.topk(2, dim=-1).indices, 1.0)
        switch = 4 * (chosen.mean(0) * probs.mean(0)).sum()
    assert switch > 1.0                                                           # not negligible
    assert history["loss"][0] == pytest.approx((ce + 0.5 * switch).item(), rel=1e-5)


def sequence_loss_by_hand(scores, experts, k):
    """DeepSeek-V3's sequence-wise loss written out: scores (B, T, E), experts (B, T, k)."""
    B, T, E = scores.shape
    losses = []
    for b in range(B):
        f = E / (k * T) * torch.bincount(experts[b].flatten(), minlength=E).float()
        P = (scores[b] / scores[b].sum(-1, keepdim=True)).mean(0)
        losses.append((f * P).sum())
    return torch.stack(losses).mean()


def test_a_sigmoid_router_trains_with_the_sequence_loss_and_the_bias_update(token_file):
    config = tiny_config(token_file, model=tiny_moe(scoring="sigmoid", correction_bias=True), max_steps=1,
                         warmup_steps=0, grad_accum_steps=2, aux_loss_coef=0.0, seq_aux_loss_coef=0.5,
                         bias_update_rate=0.01)
    history, model, reference, x, y = one_moe_step(token_file, config)
    with torch.no_grad():
        ce = F.cross_entropy(reference(x).flatten(0, 1), y.flatten())
        routing = reference.routings()[0]
        sequence = sequence_loss_by_hand(routing.scores.view(8, 16, 4), routing.experts.view(8, 16, 2), 2)
    assert history["loss"][0] == pytest.approx((ce + 0.5 * sequence).item(), rel=1e-5)
    load = torch.bincount(routing.experts.flatten(), minlength=4).float()       # both micro-batches together
    expected_bias = 0.01 * torch.sign(load.mean() - load)
    assert expected_bias.abs().sum() > 0
    assert torch.equal(model.moe_layers()[0].gate.e_score_correction_bias, expected_bias)


def test_balancing_settings_must_fit_the_router(token_file):
    sigmoid = tiny_moe(scoring="sigmoid", correction_bias=True)
    with pytest.raises(ValueError, match="aux_loss_coef=0.01: the Switch loss balances softmax probabilities"):
        check_config(tiny_config(token_file, model=sigmoid))
    with pytest.raises(ValueError, match="bias_update_rate=0.1 needs routers with a selection bias"):
        check_config(tiny_config(token_file, model=tiny_moe(), bias_update_rate=0.1))
    with pytest.raises(ValueError, match="bias_update_rate=0.1 needs routers with a selection bias"):
        check_config(tiny_config(token_file, bias_update_rate=0.1))
    with pytest.raises(ValueError, match="seq_aux_loss_coef=0.1 needs a mixture of experts"):
        check_config(tiny_config(token_file, seq_aux_loss_coef=0.1))
    with pytest.raises(ValueError, match="must be >= 0"):
        check_config(tiny_config(token_file, model=tiny_moe(), aux_loss_coef=-1.0))
    check_config(tiny_config(token_file, model=sigmoid, aux_loss_coef=0.0, seq_aux_loss_coef=1e-4,
                             bias_update_rate=1e-3))


def test_model_loss_with_an_attention_mask_counts_the_real_tokens_only():
    from rawllm.moe import MoETransformer
    from rawllm.train import model_loss
    torch.manual_seed(0)
    model = MoETransformer(tiny_moe())
    x = torch.randint(0, 300, (2, 8))
    mask = torch.tensor([[1] * 8, [1] * 5 + [0] * 3])
    y = torch.randint(0, 300, (2, 8)).masked_fill(mask == 0, -100)
    x[1, 5:] = 0                                                                  # padding ids
    loss = model_loss(model, model, x, y, aux_loss_coef=1.0, attention_mask=mask)
    with torch.no_grad():                                      # the two rows alone, the second without its padding
        rows = [(model(ids), model.routings()[0].logits) for ids in (x[:1], x[1:, :5])]
        ce = F.cross_entropy(torch.cat([logits[0] for logits, _ in rows]), y.flatten()[mask.flatten().bool()])
        probs = torch.cat([router_logits for _, router_logits in rows]).softmax(-1)
        chosen = torch.zeros_like(probs).scatter(1, probs.topk(2, dim=-1).indices, 1.0)
        switch = 4 * (chosen.mean(0) * probs.mean(0)).sum()
    torch.testing.assert_close(loss.detach(), ce + switch)


def test_base_model_round_trip(token_file, tokenizer, tmp_path, monkeypatch):
    monkeypatch.setattr(rawllm.core, "CACHE_DIR", tmp_path)           # empty, whatever other tests left behind
    with pytest.raises(FileNotFoundError, match="run notebook 06"):
        load_base_model()
    model = Transformer(tiny_config(token_file).model)
    save_base_model(model, tokenizer, info={"val_loss": 1.0})
    loaded, tok = load_base_model()
    assert tokenizer_fingerprint(tok) == tokenizer_fingerprint(tokenizer)
    assert (base_model_dir() / "tokenizer.json").is_file()
    ids = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(loaded(ids), model.eval()(ids))


def test_command_line_help():
    result = subprocess.run([sys.executable, "-m", "rawllm.train", "--help"], cwd=NOTEBOOKS, capture_output=True,
                            text=True, env=os.environ | {"PYTHONPATH": str(NOTEBOOKS)})
    assert result.returncode == 0 and "--grad_accum_steps" in result.stdout and "--d_model" in result.stdout


def test_a_loss_spike_is_reported():
    from types import SimpleNamespace
    from rawllm.train import check_guards, new_history
    run = SimpleNamespace(history=new_history(), config=TrainConfig(model=ModelConfig()), rank=0)
    run.history["loss"] = [2.0] * 20 + [5.0]
    assert check_guards(run, 21, 5.0, 0) == (0, None)
    assert run.history["events"] == ["step 21: loss spike, 5.000 against a recent mean of 2.000"]


def test_fp16_autocast_with_a_gradient_scaler_clips_unscaled_gradients_and_resumes_the_scaler(token_file, tmp_path,
                                                                                                 monkeypatch):
    import rawllm.train
    from rawllm.train import start_run
    monkeypatch.setattr(rawllm.train, "autocast_dtype", lambda device: torch.float16)   # the T4 path, on the CPU
    monkeypatch.setattr(torch.amp, "GradScaler", functools.partial(torch.amp.GradScaler, growth_interval=1))
    config = tiny_config(token_file, max_steps=4, checkpoint_dir=str(tmp_path))
    model = Transformer(config.model)
    reference = copy.deepcopy(model)
    history = train(replace(config, stop_at_step=2), model, progress=False)
    assert all(np.isfinite(history["loss"]))
    x, y = first_batch(token_file, config)
    with torch.autocast("cpu", dtype=torch.float16):
        loss = F.cross_entropy(reference(x).flatten(0, 1).float(), y.flatten())
    loss.backward()                                                                # no scaling at all
    unscaled_norm = torch.stack([p.grad.norm() for p in reference.parameters()]).norm().item()
    assert history["grad_norm"][0] == pytest.approx(unscaled_norm, rel=1e-2)
    saved = json.loads((tmp_path / "step-000002" / "state.json").read_text())["scaler"]["scale"]
    assert saved != 2.0 ** 16                                                      # it grew from its initial value
    assert start_run(config).scaler.get_scale() == saved


def test_bf16_autocast_trains_on_the_cpu(token_file, monkeypatch):
    import rawllm.train
    config = tiny_config(token_file, max_steps=8, lr=1e-2, schedule="constant")
    fp32 = train(config, progress=False)["loss"]
    monkeypatch.setattr(rawllm.train, "autocast_dtype", lambda device: torch.bfloat16)
    bf16 = train(config, progress=False)["loss"]
    assert all(np.isfinite(bf16)) and bf16 != fp32                               # autocast did run in bf16
    assert sum(bf16[-2:]) < sum(bf16[:2]) - 0.5
    np.testing.assert_allclose(bf16, fp32, rtol=0.05)


def test_compile_trains_the_same_model(token_file, monkeypatch):
    """compile=True goes through torch.compile (TorchDynamo's capture and AOTAutograd's backward). The backend is
    "aot_eager": Inductor works here too, but generating and compiling C++ for a model takes ~40 s of CPU."""
    compiled = []
    real_compile = torch.compile

    def compile_aot_eager(model, **kwargs):
        compiled.append(model)
        return real_compile(model, backend="aot_eager", **kwargs)

    monkeypatch.setattr(torch, "compile", compile_aot_eager)
    config = tiny_config(token_file, max_steps=2)
    eager = train(config, progress=False)["loss"]
    assert train(replace(config, compile=True), progress=False)["loss"] == pytest.approx(eager, rel=1e-5)
    assert len(compiled) == 1


def test_bos_aligned_windows_start_at_endoftext(token_file, tokenizer):
    from rawllm.train import start_run
    eot = tokenizer.special_tokens[EOT]
    aligned = start_run(tiny_config(token_file, bos_aligned=True))
    assert all((sampler.batch(step)[0][:, 0] == eot).all() for sampler in (aligned.train_sampler, aligned.val_sampler)
               for step in range(5))
    packed = start_run(tiny_config(token_file)).train_sampler
    assert not all((packed.batch(step)[0][:, 0] == eot).all() for step in range(5))


def test_max_tokens_caps_the_token_file_at_whole_documents(tmp_path, texts, tokenizer):
    lengths = [len(tokenizer.encode(text)) + 1 for text in texts]
    cap = sum(lengths[:7]) - 3                                                     # inside the 7th document
    header = write_token_file(tmp_path / "capped.bin", iter(texts), tokenizer, "test", max_tokens=cap, chunk=4)
    assert header["num_documents"] == 7 and header["num_tokens"] == sum(lengths[:7])
    assert len(open_tokens(tmp_path / "capped.bin", tokenizer)) == sum(lengths[:7])
    from rawllm.tokenizer import load_series_tokenizer
    path = prepare_tokens("stories", "val", load_series_tokenizer(), max_tokens=1000)
    header = read_header(path)
    assert 1000 <= header["num_tokens"] < 1000 + 600 and header["num_documents"] < 20


def test_resuming_on_another_token_file_is_refused_naming_both(token_file, tmp_path, texts, tokenizer):
    data = tmp_path / "data.bin"
    write_token_file(data, iter(texts), tokenizer, "test")
    config = tiny_config(data, checkpoint_dir=str(tmp_path / "run"))
    train(replace(config, stop_at_step=2), progress=False)
    first = read_header(data)["num_tokens"]
    write_token_file(data, iter(texts[:40]), tokenizer, "test")                  # same path, other tokens
    second = read_header(data)["num_tokens"]
    with pytest.raises(ValueError, match=rf"trained on the token file data.bin \({first} tokens.*"
                                         rf"this run reads data.bin \({second} tokens"):
        train(config, progress=False)


def test_command_line_saves_a_mixture_of_experts_as_its_own_family(token_file, tmp_path, monkeypatch):
    """`--n_experts` without `--model_type` must not inherit the dense default `llama`, which cannot hold experts."""
    from rawllm.moe import MoETransformer
    from rawllm.train import main
    monkeypatch.setattr(rawllm.core, "CACHE_DIR", tmp_path)
    main(["--data", str(token_file), "--vocab_size", "300", "--d_model", "32", "--n_layers", "1", "--n_heads", "2",
          "--max_seq_len", "32", "--seq_len", "16", "--batch_size", "4", "--max_steps", "1", "--warmup_steps", "0",
          "--n_experts", "4", "--top_k", "1", "--save_base_model", "--quiet"])
    assert json.loads((base_model_dir() / "config.json").read_text())["model_type"] == "mixtral"
    assert isinstance(load_base_model()[0], MoETransformer)


def test_document_positions_restart_at_each_document_start():
    from rawllm.train import document_positions
    x = torch.tensor([[5, 6, 0, 7, 8, 9, 0, 4], [0, 1, 2, 3, 4, 5, 6, 7]])        # 0 starts a document
    assert document_positions(x, 0).tolist() == [[0, 1, 0, 1, 2, 3, 0, 1], [0, 1, 2, 3, 4, 5, 6, 7]]


def test_document_masking_trains_and_evaluates_each_story_on_its_own(texts, tokenizer, tmp_path):
    """The first recorded loss is the initial model's loss on batch 0 with positions restarting at each
    <|endoftext|>: computed here document by document, each segment run alone, it must be the same."""
    from rawllm.train import BatchSampler, open_tokens
    token_file = tmp_path / "sentences.bin"                          # short documents: windows straddle them
    write_token_file(token_file, iter(s for text in texts for s in text.split(". ")), tokenizer, "test")
    config = tiny_config(token_file, document_masking=True, max_steps=1, warmup_steps=0, seq_len=32)
    torch.manual_seed(0)
    model = Transformer(config.model)
    initial = copy.deepcopy(model)
    history = train(config, model, progress=False)
    x, y = BatchSampler(open_tokens(token_file), 32, 8, seed=0).batch(0)
    eot = read_header(token_file)["eot_id"]
    losses = []
    with torch.no_grad():
        for row_x, row_y in zip(x, y):
            starts = [0] + [i for i in range(1, 32) if row_x[i] == eot] + [32]
            for a, b in zip(starts, starts[1:]):
                logits = initial(row_x[None, a:b])[0]
                losses.append(F.cross_entropy(logits, row_y[a:b], reduction="sum"))
    assert any(len(set(row.tolist()) & {eot}) for row in x[:, 1:]), "the batch must straddle a document boundary"
    assert history["loss"][0] == pytest.approx((sum(losses) / x.numel()).item(), rel=1e-5)
