"""rawllm.quant against bitsandbytes on a CPU: the NF4 table, the packed bytes, double quantization, dequantization,
QLoRA layers and transformers' 4-bit checkpoints."""
import json

import bitsandbytes.functional as bnb
import pytest
import torch
import torch.nn as nn
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

from rawllm.lora import add_lora, count_parameters, lora_layers, merge_lora
from rawllm.model import ModelConfig, Transformer
from rawllm.quant import (DYNAMIC, NF4, NF4Linear, NF4Weight, bits_per_parameter, dequantize_nf4, dynamic_map,
                          load_4bit_pretrained, nf4_from_quantiles, quantize_model, quantize_nf4, training_memory)

CASES = [((64, 64), torch.float32, 64), ((128, 96), torch.bfloat16, 64), ((64, 64), torch.float32, 128),
         ((300, 70), torch.float16, 64), ((33, 10), torch.float32, 32), ((512, 384), torch.float32, 256)]


def weight(shape, dtype, seed=0):
    return (torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 0.05).to(dtype)


def described(packed, absmax, shape, blocksize, dtype):
    """What bitsandbytes' codes and block scales describe: table[code] * scale, written here from the layout."""
    codes = torch.stack([packed.view(-1) >> 4, packed.view(-1) & 15], 1).view(-1).long()[:shape[0] * shape[1]]
    table = bnb.get_4bit_type("nf4", device="cpu")
    scales = absmax.repeat_interleave(blocksize)[:codes.numel()]
    return (table[codes] * scales).view(shape).to(dtype)


def test_the_levels_come_from_normal_quantiles_and_equal_bitsandbytes_table():
    table = bnb.get_4bit_type("nf4", device="cpu")
    assert torch.equal(NF4, table)
    torch.testing.assert_close(nf4_from_quantiles(), table, atol=1.2e-7, rtol=0)
    assert torch.equal(dynamic_map(), bnb.create_dynamic_map()) and torch.equal(DYNAMIC, bnb.create_dynamic_map())


def test_a_value_on_a_midpoint_is_coded_as_bitsandbytes_codes_it():
    """In this weight one value lies within a float32 step of the midpoint between two levels: x / absmax and
    x * (1 / absmax) put it on different sides; bitsandbytes multiplies by the reciprocal."""
    torch.manual_seed(0)
    w = torch.randn(4096, 4096) * 0.02
    packed, _ = bnb.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=False)
    assert torch.equal(quantize_nf4(w, 64, double_quant=False).packed, packed.view(-1))


@pytest.mark.parametrize("shape,dtype,blocksize", CASES)
def test_packed_bytes_and_scales_are_bitsandbytes_own(shape, dtype, blocksize):
    w = weight(shape, dtype)
    w.view(-1)[:blocksize] = 0                                    # a block of zeros
    packed, state = bnb.quantize_4bit(w, blocksize=blocksize, quant_type="nf4", compress_statistics=False)
    q = quantize_nf4(w, blocksize, double_quant=False)
    assert torch.equal(q.packed, packed.view(-1))
    assert torch.equal(q.absmax, state.absmax)
    assert q.packed[: blocksize // 2].tolist() == [0x77] * (blocksize // 2)       # zero is level 7, twice a byte
    restored = dequantize_nf4(q)
    assert restored.dtype == dtype and restored.shape == w.shape
    assert torch.equal(restored, described(packed, state.absmax, shape, blocksize, dtype))


@pytest.mark.parametrize("shape,dtype,blocksize", [((64, 64), torch.float32, 64), ((300, 70), torch.float16, 64),
                                                   ((1000, 1000), torch.float32, 64)])
def test_dequantized_weights_equal_bitsandbytes_dequantize_4bit(shape, dtype, blocksize):
    w = weight(shape, dtype)
    for double in (False, True):
        packed, state = bnb.quantize_4bit(w, blocksize=blocksize, quant_type="nf4", compress_statistics=double)
        theirs = NF4Weight(packed.view(-1), state.absmax, shape, dtype, blocksize, state.offset,
                           state.state2.absmax if double else None)          # bitsandbytes' codes, our dequantizer
        torch.testing.assert_close(dequantize_nf4(theirs), bnb.dequantize_4bit(packed, state), atol=1e-6, rtol=1e-6)
        if not double:
            assert torch.equal(dequantize_nf4(quantize_nf4(w, blocksize, double_quant=False)), dequantize_nf4(theirs))


@pytest.mark.parametrize("shape,dtype,blocksize", CASES + [((2000, 1000), torch.float32, 64)])
def test_double_quantization_differs_only_where_bitsandbytes_misses_the_nearest_code(shape, dtype, blocksize):
    w = weight(shape, dtype, seed=2)
    packed, state = bnb.quantize_4bit(w, blocksize=blocksize, quant_type="nf4", compress_statistics=True)
    q = quantize_nf4(w, blocksize, double_quant=True)
    assert torch.equal(q.packed, packed.view(-1))
    assert torch.equal(q.offset, state.offset) and torch.equal(q.absmax2, state.state2.absmax)
    ours, theirs = q.absmax.long(), state.absmax.long()
    differ = ours != theirs
    assert differ.float().mean() <= 0.01
    # where they differ, ours is the nearer code to the scaled statistic (bitsandbytes' CPU search is not exact)
    flat = torch.nn.functional.pad(w.float().view(-1), (0, -w.numel() % blocksize)).view(-1, blocksize)
    centred = flat.abs().max(1).values - q.offset
    scaled = centred / state.state2.absmax.repeat_interleave(256)[:centred.numel()]
    code = bnb.create_dynamic_map()
    assert ((scaled - code[ours]).abs() <= (scaled - code[theirs]).abs()).all()


def tiny(seed=0, tie=True):
    torch.manual_seed(seed)
    return Transformer(ModelConfig(vocab_size=96, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=128,
                                   max_seq_len=32, tie_embeddings=tie)).eval()


@pytest.mark.parametrize("double", [False, True])
def test_a_transformers_4bit_checkpoint_loads_with_the_same_weights_and_logits(tmp_path, double):
    tiny().save_pretrained(tmp_path / "fp32")
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=double,
                                bnb_4bit_compute_dtype=torch.float32)
    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "fp32", quantization_config=config, device_map="cpu").eval()
    hf.save_pretrained(tmp_path / "nf4")
    ours = load_4bit_pretrained(tmp_path / "nf4")
    layers = {n: m for n, m in ours.named_modules() if isinstance(m, NF4Linear)}
    assert len(layers) == 2 * 7 and "lm_head" not in layers
    for name, layer in layers.items():
        param = hf.get_submodule(name).weight
        torch.testing.assert_close(layer.dequantize(), bnb.dequantize_4bit(param.data, param.quant_state),
                                   atol=1e-6, rtol=1e-6)
    # transformers' fp32 model holding those dequantized weights computes our logits (bitsandbytes' own CPU
    # forward is not the reference: on CPUs with AVX512-BF16 it repacks the weights and computes in bf16)
    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "fp32").eval()
    with torch.no_grad():
        for name, layer in layers.items():
            plain.get_submodule(name).weight.copy_(layer.dequantize())
        x = torch.randint(0, 96, (2, 10), generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(ours(x), plain(x).logits, atol=1e-5, rtol=1e-5)


def test_checkpoints_that_are_not_nf4_are_refused(tmp_path):
    tiny().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="no quantization_config"):
        load_4bit_pretrained(tmp_path)
    hf = json.loads((tmp_path / "config.json").read_text())
    hf["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "fp4"}
    (tmp_path / "config.json").write_text(json.dumps(hf))
    with pytest.raises(ValueError, match="only NF4 codes"):
        load_4bit_pretrained(tmp_path)


@pytest.mark.parametrize("tensor,blocksize,message", [
    (torch.randn(7), 64, "even, non-zero number of elements; this one has 7"),
    (torch.randn(3, 5), 64, "this one has 15"),
    (torch.zeros(0), 64, "this one has 0"),
    (torch.arange(64), 64, "float32, float16 or bfloat16 tensor, got torch.int64"),
    (torch.randn(64), 48, "blocksize must be one of"),
    (torch.tensor([1.0, float("nan")]), 64, "NaN or infinite"),
])
def test_bad_tensors_are_named(tensor, blocksize, message):
    with pytest.raises(ValueError, match=message):
        quantize_nf4(tensor, blocksize)


def test_bits_per_parameter_is_what_the_tensors_hold():
    w = torch.randn(4096, 4096)
    for double, bits in ((False, 4.5), (True, 4 + 8 / 64 + 32 / (64 * 256))):
        q = quantize_nf4(w, 64, double_quant=double)
        assert bits_per_parameter(64, double) == pytest.approx(bits)
        assert q.nbytes() * 8 / w.numel() == pytest.approx(bits, abs=1e-5)      # the offset is one float more


def test_qlora_trains_only_the_adapters_and_merges_into_plain_layers():
    model = tiny()
    reference = {n: m.weight.detach().clone() for n, m in model.named_modules()
                 if isinstance(m, nn.Linear) and n != "lm_head"}
    quantize_model(model)
    assert all(isinstance(model.get_submodule(n), NF4Linear) for n in reference)
    assert isinstance(model.lm_head, nn.Linear) and model.lm_head.weight is model.model.embed_tokens.weight
    add_lora(model, ("q_proj", "v_proj", "down_proj"), r=4, alpha=8)
    counts = count_parameters(model)
    assert counts["trainable"] == sum(p.numel() for p in model.parameters() if p.requires_grad) > 0
    x = torch.randint(0, 96, (2, 10))
    model(x).logsumexp(-1).mean().backward()
    assert all((p.grad is not None) == p.requires_grad for p in model.parameters())
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_B.weight.normal_(0, 0.1)
        expected = model(x)
        layer = lora_layers(model)["model.layers.0.self_attn.q_proj"]
        merged_q = layer.base.dequantize() + layer.delta_weight()
        merge_lora(model)
        assert type(model.model.layers[0].self_attn.q_proj) is nn.Linear
        torch.testing.assert_close(model.model.layers[0].self_attn.q_proj.weight, merged_q)
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-5)
    error = (layer.base.dequantize() - reference["model.layers.0.self_attn.q_proj"]).abs().mean()
    assert 0 < error < 0.1 * reference["model.layers.0.self_attn.q_proj"].abs().mean()


def test_training_memory_counts_each_kind_of_tensor():
    model = tiny(tie=False)
    x = torch.randint(0, 96, (4, 16))
    full = training_memory(model, lambda: model(x).logsumexp(-1).mean(), torch.optim.AdamW(model.parameters()))
    n = sum(p.numel() for p in model.parameters())
    assert full["weights"] == 4 * n and full["gradients"] == 4 * n and full["optimizer"] == 8 * n
    assert full["activations"] > 4 * 4 * 16 * 64 * 2 * 7         # at least the inputs of 14 linear layers
    lora = add_lora(tiny(tie=False), ("q_proj", "v_proj"), r=4, alpha=8)
    trainable = [p for p in lora.parameters() if p.requires_grad]
    small = training_memory(lora, lambda: lora(x).logsumexp(-1).mean(), torch.optim.AdamW(trainable))
    k = sum(p.numel() for p in trainable)
    assert small["gradients"] == 4 * k and small["optimizer"] == 8 * k and small["weights"] == 4 * (n + k)


def test_the_4bit_matmul_keeps_no_full_precision_weight_for_backward():
    torch.manual_seed(0)
    linear = nn.Linear(256, 192)
    layer = NF4Linear.from_linear(linear)
    x = torch.randn(3, 5, 256, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        y = layer(x)
    assert not any(t.shape == (192, 256) for t in saved)
    y.square().sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    torch.nn.functional.linear(x2, layer.dequantize(), layer.bias).square().sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    lora = add_lora(tiny(tie=False), ("q_proj", "v_proj"), r=4, alpha=8)
    qlora = add_lora(quantize_model(tiny(tie=False)), ("q_proj", "v_proj"), r=4, alpha=8)
    ids = torch.randint(0, 96, (4, 16))
    a, b = (training_memory(m, lambda m=m: m(ids).logsumexp(-1).mean(),
                            torch.optim.AdamW([p for p in m.parameters() if p.requires_grad])) for m in (lora, qlora))
    assert b["activations"] <= 1.05 * a["activations"] and b["weights"] < 0.5 * a["weights"]
    assert b["gradients"] == a["gradients"] and b["optimizer"] == a["optimizer"]


def test_the_gpu_qlora_path_runs_on_local_files(tmp_path):
    """The notebook's GPU cell on a tiny model: from_pretrained in bf16, NF4 with bf16 compute, an adapter on every
    linear layer, sft_train on a local chat file; the adapters learn and the 4-bit codes do not move."""
    from rawllm.sft import SFTConfig, encode_chat, load_chat_tokenizer, load_chat_rows, sft_train
    chat_tokenizer = load_chat_tokenizer()
    torch.manual_seed(0)
    Transformer(ModelConfig(vocab_size=chat_tokenizer.vocab_size, d_model=64, n_layers=2, n_heads=4, d_ff=128,
                            max_seq_len=128, tie_embeddings=True)).save_pretrained(tmp_path / "hub")
    model = quantize_model(Transformer.from_pretrained(tmp_path / "hub", dtype=torch.bfloat16),
                           compute_dtype=torch.bfloat16)
    add_lora(model, ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"), r=4, alpha=8)
    rows = [{"messages": [{"role": "user", "content": f"What is {i} + 1?"},
                          {"role": "assistant", "content": str(i + 1)}]} for i in range(12)]
    (tmp_path / "chats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples = [encode_chat(chat_tokenizer, r["messages"]) for r in load_chat_rows(str(tmp_path / "chats.jsonl"))]
    codes = {n: m.packed.clone() for n, m in model.named_modules() if isinstance(m, NF4Linear)}
    history = sft_train(model, examples, SFTConfig(steps=6, batch_size=4, warmup_steps=0, lr=1e-2, packing=True,
                                                   seq_len=128), 0, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    assert all(torch.equal(m.packed, codes[n]) for n, m in model.named_modules() if isinstance(m, NF4Linear))
    assert next(iter(lora_layers(model).values())).lora_A.weight.dtype == torch.float32


def test_adapted_and_quantized_models_generate_with_the_kv_cache():
    from rawllm.generate import generate
    model = add_lora(quantize_model(tiny()), ("q_proj", "k_proj", "v_proj"), r=4, alpha=8).eval()
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_B.weight.normal_(0, 0.1)
    prompt = torch.randint(0, 96, (2, 6), generator=torch.Generator().manual_seed(0))
    cached = generate(model, prompt, 8, greedy=True)
    uncached = generate(model, prompt, 8, greedy=True, use_cache=False)
    assert torch.equal(cached, uncached) and cached.shape == (2, 8)
