"""rawllm.model against transformers: logits, greedy decoding, checkpoints both ways; counting; bad input."""
import json
import math
from dataclasses import replace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config

from rawllm.attention import RMSNorm
from rawllm.model import (ModelConfig, SwiGLU, Transformer, check_checkpoint, config_from_hf, greedy_decode,
                          hf_config, matmul_parameters, mean_visible_keys, parameter_counts, swiglu_hidden_size,
                          training_flops_per_token)

TINY = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256, bos_token_id=None, eos_token_id=None,
            pad_token_id=None)
LLAMA3 = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
          "high_freq_factor": 4.0, "original_max_position_embeddings": 32}
YARN = {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 32}
CONFIGS = {
    "llama-gqa-untied": lambda: LlamaConfig(**TINY),
    "llama-tied": lambda: LlamaConfig(**TINY | {"tie_word_embeddings": True}),
    "llama-mha-biases": lambda: LlamaConfig(**TINY | {"num_key_value_heads": 4}, attention_bias=True, mlp_bias=True),
    "llama-llama3-rope": lambda: LlamaConfig(**TINY, rope_parameters=LLAMA3),
    "llama-yarn-rope": lambda: LlamaConfig(**TINY, rope_parameters=YARN),
    "qwen3-qknorm-headdim": lambda: Qwen3Config(**TINY, head_dim=32),
    "qwen3-some-sliding": lambda: Qwen3Config(**TINY, head_dim=16, use_sliding_window=True, sliding_window=6,
                                              max_window_layers=1),
    "mistral-sliding": lambda: MistralConfig(**TINY, sliding_window=8),
    "qwen2-bias-tied": lambda: Qwen2Config(**TINY | {"tie_word_embeddings": True}),
}


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def saved_by_transformers(config, folder, **save_kwargs):
    """A random transformers model of `config`, its weights perturbed off their init, saved to `folder`."""
    hf = AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():
        for param in hf.parameters():
            param.add_(torch.randn_like(param) * 0.02)        # norms and biases away from 1 and 0
    hf.save_pretrained(folder, **save_kwargs)
    return hf


def logits_of(model, ids):
    with torch.no_grad():
        out = model(ids)
    return out.logits if hasattr(out, "logits") else out


@pytest.mark.parametrize("name", CONFIGS)
def test_logits_equal_transformers(name, tmp_path):
    hf = saved_by_transformers(CONFIGS[name](), tmp_path)
    ours = Transformer.from_pretrained(tmp_path)
    assert list(ours.state_dict()) == list(hf.state_dict())
    ids = torch.randint(0, 256, (2, 40))                      # longer than windows and original rope contexts
    torch.testing.assert_close(logits_of(ours, ids), logits_of(hf, ids), atol=1e-4, rtol=1e-4)


def test_eager_attention_gives_the_same_logits(tmp_path):
    hf = saved_by_transformers(CONFIGS["mistral-sliding"](), tmp_path)
    ours = Transformer.from_pretrained(tmp_path)
    eager = Transformer(replace(ours.config, attn_implementation="eager"))
    eager.load_state_dict(ours.state_dict())
    ids = torch.randint(0, 256, (2, 30))
    torch.testing.assert_close(logits_of(eager, ids), logits_of(hf, ids), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["llama-gqa-untied", "llama-yarn-rope", "qwen3-some-sliding", "mistral-sliding",
                                  "qwen2-bias-tied"])
def test_greedy_decoding_equals_generate(name, tmp_path):
    hf = saved_by_transformers(CONFIGS[name](), tmp_path)
    ours = Transformer.from_pretrained(tmp_path)
    prompt = torch.randint(0, 256, (2, 5))
    theirs = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=20, do_sample=False,
                         pad_token_id=0)
    assert torch.equal(greedy_decode(ours, prompt, 20), theirs)
    assert torch.equal(greedy_decode(ours, prompt, 20, use_cache=False), theirs)


def test_cached_forward_equals_full_forward():
    model = Transformer(ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=64,
                                    sliding_window=5, layer_types=["full_attention", "sliding_attention"])).eval()
    ids = torch.randint(0, 64, (2, 20))
    full = logits_of(model, ids)
    cache = model.new_cache(2, 20)
    pieces = [model(chunk, cache=cache) for chunk in ids.split([7, 1, 1, 11], dim=1)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)
    assert cache[0].pos == 20


def test_greedy_decode_stops_at_eos():
    model = Transformer(ModelConfig(vocab_size=32, d_model=32, n_layers=1, n_heads=4, max_seq_len=64)).eval()
    prompt = torch.randint(0, 32, (1, 4))
    free = greedy_decode(model, prompt, 10)
    eos = int(free[0, 6])
    stopped = greedy_decode(model, prompt, 10, eos_token_id=eos)
    first = (free[0, 4:] == eos).nonzero()[0].item() + 4
    assert torch.equal(stopped, free[:, :first + 1])


@pytest.mark.parametrize("model_type,extra", [
    ("llama", dict(tie_embeddings=True, rope_scaling=LLAMA3 | {"rope_theta": 10000.0})),
    ("llama", dict(qkv_bias=True, o_bias=True, mlp_bias=True, n_kv_heads=4)),
    ("mistral", dict(sliding_window=6)),
    ("qwen2", dict(qkv_bias=True, sliding_window=6, layer_types=["full_attention", "sliding_attention"])),
    ("qwen3", dict(qk_norm=True, head_dim=24, rope_scaling=YARN)),
])
def test_save_pretrained_loads_in_transformers(model_type, extra, tmp_path):
    extra = dict(extra)
    if "rope_scaling" in extra:
        extra["rope_theta"] = extra["rope_scaling"]["rope_theta"]
    config = ModelConfig(**dict(vocab_size=128, d_model=48, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=128,
                                model_type=model_type) | extra)
    ours = Transformer(config).eval()
    with torch.no_grad():
        for param in ours.parameters():
            param.add_(torch.randn_like(param) * 0.02)
    ours.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    theirs = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(theirs).__name__.lower().startswith(model_type)
    ids = torch.randint(0, 128, (2, 24))
    torch.testing.assert_close(logits_of(theirs, ids), logits_of(ours, ids), atol=1e-4, rtol=1e-4)
    again = Transformer.from_pretrained(tmp_path)
    assert again.config == config
    torch.testing.assert_close(logits_of(again, ids), logits_of(ours, ids), atol=0, rtol=0)


def test_sharded_checkpoint(tmp_path):
    hf = saved_by_transformers(CONFIGS["llama-gqa-untied"](), tmp_path, max_shard_size="60KB")
    assert (tmp_path / "model.safetensors.index.json").is_file() and not (tmp_path / "model.safetensors").exists()
    assert len(list(tmp_path.glob("model-*.safetensors"))) > 2
    ids = torch.randint(0, 256, (1, 16))
    torch.testing.assert_close(logits_of(Transformer.from_pretrained(tmp_path), ids), logits_of(hf, ids),
                               atol=1e-4, rtol=1e-4)


def test_legacy_rope_fields_and_dtype(tmp_path):
    hf = saved_by_transformers(CONFIGS["llama-llama3-rope"](), tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    rope = raw.pop("rope_parameters")
    raw["rope_theta"] = rope.pop("rope_theta")
    raw["rope_scaling"] = rope | {"type": rope.pop("rope_type")}        # the older spelling of the key
    (tmp_path / "config.json").write_text(json.dumps(raw))
    ours = Transformer.from_pretrained(tmp_path)
    assert ours.config.rope_theta == 500000.0 and ours.config.rope_scaling["rope_type"] == "llama3"
    ids = torch.randint(0, 256, (1, 40))
    torch.testing.assert_close(logits_of(ours, ids), logits_of(hf, ids), atol=1e-4, rtol=1e-4)
    half = Transformer.from_pretrained(tmp_path, dtype=torch.bfloat16)
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}
    assert (logits_of(half, ids).float() - logits_of(hf, ids)).abs().max() < 0.1


def test_rmsnorm_against_formula_and_torch():
    x = torch.randn(3, 7, 48) * 5 + 2
    ours, reference = RMSNorm(48, eps=1e-5), nn.RMSNorm(48, eps=1e-5)
    with torch.no_grad():
        gain = torch.rand(48) + 0.5
        ours.weight.copy_(gain)
        reference.weight.copy_(gain)
    formula = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * gain
    torch.testing.assert_close(ours(x), formula)
    torch.testing.assert_close(ours(x), reference(x))
    spiky = torch.randn(48).half()
    spiky[3] = 400.0                                                     # its square overflows fp16
    assert torch.isfinite(RMSNorm(48)(spiky)).all()


def test_swiglu_against_reference():
    mlp = SwiGLU(40, 96, bias=True)
    x = torch.randn(2, 5, 40)
    gate = F.silu(F.linear(x, mlp.gate_proj.weight, mlp.gate_proj.bias))
    up = F.linear(x, mlp.up_proj.weight, mlp.up_proj.bias)
    torch.testing.assert_close(mlp(x), F.linear(gate * up, mlp.down_proj.weight, mlp.down_proj.bias))
    assert swiglu_hidden_size(4096, 256) == 11008 and swiglu_hidden_size(5120, 256) == 13824


def test_init_loss_is_near_log_vocab():
    model = Transformer(ModelConfig(vocab_size=4096, d_model=128, n_layers=2, n_heads=4, tie_embeddings=True))
    ids = torch.randint(0, 4096, (2, 64))
    loss = F.cross_entropy(logits_of(model, ids[:, :-1]).flatten(0, 1), ids[:, 1:].flatten())
    assert abs(loss.item() - math.log(4096)) < 0.05


def test_gradient_checkpointing_gives_the_same_gradients():
    model = Transformer(ModelConfig(vocab_size=64, d_model=32, n_layers=3, n_heads=4, max_seq_len=32))
    ids = torch.randint(0, 64, (2, 16))
    grads = []
    for checkpointing in (False, True):
        model.gradient_checkpointing = checkpointing
        model.zero_grad()
        model(ids).logsumexp(-1).mean().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for plain, checkpointed in zip(*grads):
        torch.testing.assert_close(checkpointed, plain)


def test_parameter_and_flop_counts():
    llama2_7b = ModelConfig(vocab_size=32000, d_model=4096, n_layers=32, n_heads=32, d_ff=11008, max_seq_len=4096)
    with torch.device("meta"):
        big = Transformer(llama2_7b)
    assert big.num_parameters() == parameter_counts(big)["total"] == 6_738_415_616
    config = ModelConfig(vocab_size=100, d_model=16, n_layers=2, n_heads=2, n_kv_heads=1, d_ff=32, tie_embeddings=True,
                         sliding_window=4, layer_types=["full_attention", "sliding_attention"])
    model = Transformer(config)
    counts = parameter_counts(model)
    assert counts["lm_head"] == 0 and counts["embedding"] == 1600 and counts["total"] == model.num_parameters()
    assert counts["attention"] == 2 * (16 * 16 + 2 * 16 * 8 + 16 * 16) and counts["mlp"] == 2 * 3 * 16 * 32
    assert matmul_parameters(config) == counts["attention"] + counts["mlp"] + 1600
    assert mean_visible_keys(10, None) == 5.5 and mean_visible_keys(10, 4) == (1 + 2 + 3 + 4 * 7) / 10
    expected = 6 * matmul_parameters(config) + 12 * 2 * 8 * (mean_visible_keys(10, None) + mean_visible_keys(10, 4))
    assert training_flops_per_token(config, 10) == expected


def test_tied_model_shares_the_matrix(tmp_path):
    model = Transformer(ModelConfig(vocab_size=64, d_model=32, n_layers=1, n_heads=4, tie_embeddings=True))
    assert model.lm_head.weight is model.model.embed_tokens.weight
    model.save_pretrained(tmp_path)
    loaded = Transformer.from_pretrained(tmp_path)
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight


# ---- bad input ----

def small_model(**overrides):
    return Transformer(ModelConfig(vocab_size=50, d_model=32, n_layers=2, n_heads=4, max_seq_len=16, **overrides))


def test_sequence_longer_than_context():
    model = small_model()
    with pytest.raises(ValueError, match="past the model's context of max_seq_len=16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="past the model's context"):
        model(torch.zeros(1, 4, dtype=torch.long), start_pos=13)
    with pytest.raises(ValueError, match="KV cache full"):
        model(torch.zeros(1, 3, dtype=torch.long), cache=model.new_cache(1, 2))


@pytest.mark.parametrize("bad", [50, -1, 1000])
def test_token_ids_outside_the_vocabulary(bad):
    with pytest.raises(ValueError, match=rf"token ids \[{bad}\] are outside the vocabulary 0 \.\. 49"):
        small_model()(torch.tensor([[1, 2, bad]]))


def test_input_ids_of_the_wrong_kind():
    with pytest.raises(ValueError, match=r"shape \(batch, seq\)"):
        small_model()(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="integer token ids"):
        small_model()(torch.rand(1, 3))


def test_cache_and_start_pos_must_agree():
    model = small_model()
    cache = model.new_cache(1, 8)
    model(torch.zeros(1, 3, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match="start_pos=0 but the cache holds 3 positions"):
        model(torch.zeros(1, 1, dtype=torch.long), cache=cache, start_pos=0)
    with pytest.raises(ValueError, match="the cache has 1 layers, the model 2"):
        model(torch.zeros(1, 1, dtype=torch.long), cache=cache[:1])


def test_checkpoint_mismatch_lists_missing_unexpected_misshaped(tmp_path):
    saved_by_transformers(LlamaConfig(**TINY), tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    raw.update(num_hidden_layers=3, intermediate_size=96)
    (tmp_path / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ValueError) as error:
        Transformer.from_pretrained(tmp_path)
    message = str(error.value)
    assert "missing (9): model.layers.2." in message
    assert "mis-shaped (6): model.layers.0.mlp.down_proj.weight: checkpoint (64, 128), config (64, 96)" in message
    model = small_model()
    tensors = dict(model.state_dict()) | {"model.extra.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match=r"unexpected \(1\): model.extra.weight"):
        check_checkpoint(model, tensors)


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        Transformer.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(hf_config(small_model().config)))
    with pytest.raises(FileNotFoundError, match="no model.safetensors or model.safetensors.index.json"):
        Transformer.from_pretrained(tmp_path)


def test_unsupported_model_type():
    with pytest.raises(ValueError, match="model_type 'gpt2' is not supported; supported: llama, mistral, qwen2, qwen3"):
        config_from_hf({"model_type": "gpt2"})
    with pytest.raises(ValueError, match="model_type 'gemma' is not supported"):
        hf_config(replace(small_model().config, model_type="gemma"))


@pytest.mark.parametrize("change,message", [
    ({"hidden_act": "gelu"}, "unsupported config features: hidden_act='gelu'"),
    ({"quantization_config": {"quant_method": "gptq"}}, "quantization_config"),
    ({"rope_parameters": {"rope_type": "dynamic", "rope_theta": 1e4, "factor": 2.0,
                          "original_max_position_embeddings": 8}}, "rope_type 'dynamic' is not supported"),
    ({"rope_parameters": {"rope_type": "longrope", "rope_theta": 1e4}}, "unknown rope_type 'longrope'"),
    ({"partial_rotary_factor": 0.5}, "partial_rotary_factor"),
    ({"rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 1e4}}}, "per-layer-type"),
    ({"num_attention_heads": 3}, "not divisible by n_heads=3|multiple of n_kv_heads"),
    ({"vocab_size": None}, "config.json lacks vocab_size"),
])
def test_unsupported_config_features(change, message):
    hf = hf_config(small_model().config) | change
    with pytest.raises(ValueError, match=message):
        config_from_hf(hf)


@pytest.mark.parametrize("model_type,extra,named", [
    ("llama", dict(qk_norm=True), "qk_norm=True"),
    ("mistral", dict(qkv_bias=True), "qkv_bias=True"),
    ("qwen2", dict(qkv_bias=False), "qkv_bias=False"),
    ("llama", dict(sliding_window=4), "sliding_window=4"),
    ("qwen3", dict(mlp_bias=True), "mlp_bias=True"),
])
def test_save_refuses_what_the_family_cannot_express(model_type, extra, named):
    config = replace(small_model().config, **{"model_type": model_type, "qk_norm": model_type == "qwen3"} | extra)
    with pytest.raises(ValueError, match=f"model_type '{model_type}' cannot express .*{named}"):
        hf_config(config)


def test_bad_layer_types_and_rope():
    with pytest.raises(ValueError, match="sliding_window is not set"):
        small_model(layer_types=["full_attention", "sliding_attention"])
    with pytest.raises(ValueError, match="layer_types must list 2 entries"):
        small_model(layer_types=["full_attention"], sliding_window=4)
    with pytest.raises(ValueError, match="rope_type 'dynamic' is not supported"):
        small_model(rope_scaling={"rope_type": "dynamic", "factor": 2.0, "original_max_position_embeddings": 8})


# Residual and normalisation variants (notebook 04): switches that leave the default Llama block untouched.

def variant_model(**options):
    torch.manual_seed(0)
    return Transformer(ModelConfig(vocab_size=64, d_model=32, n_layers=6, n_heads=4, max_seq_len=32, **options))


def test_the_default_config_builds_the_plain_llama_block():
    from rawllm.model import Block, VariantBlock
    model = variant_model()
    assert all(type(layer) is Block for layer in model.model.layers)
    assert all(isinstance(layer, VariantBlock) for layer in variant_model(drop_path=0.1).model.layers)
    assert not any("layer_scale" in name for name, _ in model.named_parameters())


def test_drop_path_is_identity_in_eval_and_unbiased_in_training():
    from rawllm.model import drop_path
    torch.manual_seed(0)
    x = torch.randn(6, 4, 5)
    assert drop_path(x, 0.25, training=False) is x
    draws = torch.stack([drop_path(x, 0.25, training=True) for _ in range(6000)])
    for draw in draws[:100]:
        for row, original in zip(draw, x):                        # a whole sample's branch: dropped or kept
            assert torch.count_nonzero(row) == 0 or torch.allclose(row, original / 0.75)
    kept = (draws.flatten(2).abs().sum(-1) > 0).float().mean()
    assert abs(kept - 0.75) < 0.02
    torch.testing.assert_close(draws.mean(0), x, atol=0.08, rtol=0)


def test_deepnorm_and_layer_scale_inits_follow_their_formulas():
    model = variant_model(residual="deepnorm", layer_scale_init=0.05)
    alpha, beta, xavier = 12 ** 0.25, 48 ** -0.25, math.sqrt(2 / (32 + 32))    # N = 6: (2N)^1/4, (8N)^-1/4
    mlp_xavier = math.sqrt(2 / (32 + model.config.d_ff))
    layer = model.model.layers[3]
    assert layer.alpha == pytest.approx(alpha)
    for weight, expected in ((layer.self_attn.q_proj.weight, xavier), (layer.self_attn.k_proj.weight, xavier),
                             (layer.self_attn.v_proj.weight, beta * xavier), (layer.self_attn.o_proj.weight, beta * xavier),
                             (layer.mlp.gate_proj.weight, beta * mlp_xavier), (layer.mlp.down_proj.weight, beta * mlp_xavier)):
        assert weight.std().item() == pytest.approx(expected, rel=0.12)
    assert torch.equal(layer.attn_layer_scale.detach(), torch.full((32,), 0.05))
    assert torch.equal(layer.mlp_layer_scale.detach(), torch.full((32,), 0.05))


def test_each_residual_variant_computes_its_formula():
    x = torch.randn(2, 7, 32)
    rope = variant_model().position_embeddings(torch.arange(7), "cpu")
    with torch.no_grad():
        for residual, alpha in (("post_norm", 1.0), ("deepnorm", 12 ** 0.25)):
            b = variant_model(residual=residual).model.layers[1].eval()
            h = b.input_layernorm(alpha * x + b.self_attn(x, rope))
            torch.testing.assert_close(b(x, rope), b.post_attention_layernorm(alpha * h + b.mlp(h)))
        b = variant_model(residual="parallel").model.layers[1].eval()
        assert b.post_attention_layernorm is None
        n = b.input_layernorm(x)
        torch.testing.assert_close(b(x, rope), x + b.self_attn(n, rope) + b.mlp(n))
        b = variant_model(layer_scale_init=0.3).model.layers[1].eval()
        h = x + 0.3 * b.self_attn(b.input_layernorm(x), rope)
        torch.testing.assert_close(b(x, rope), h + 0.3 * b.mlp(b.post_attention_layernorm(h)))


@pytest.mark.parametrize("options", [dict(residual="post_norm"), dict(residual="deepnorm"), dict(residual="parallel"),
                                     dict(layer_scale_init=0.1, drop_path=0.2)])
def test_variants_train_and_decode_with_the_cache(options):
    model = variant_model(**options)
    ids = torch.randint(0, 64, (3, 12))
    loss = F.cross_entropy(model(ids[:, :-1]).flatten(0, 1), ids[:, 1:].flatten())
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters())
    model.eval()
    assert torch.equal(greedy_decode(model, ids[:, :4], 6), greedy_decode(model, ids[:, :4], 6, use_cache=False))


def test_variants_are_refused_where_they_cannot_go(tmp_path):
    with pytest.raises(ValueError, match="residual='sandwich'"):
        ModelConfig(residual="sandwich")
    with pytest.raises(ValueError, match="drop_path=1"):
        ModelConfig(drop_path=1.0)
    with pytest.raises(ValueError, match="layer_scale_init=0"):
        ModelConfig(layer_scale_init=0.0)
    with pytest.raises(ValueError, match="cannot express residual='parallel'"):
        variant_model(residual="parallel").save_pretrained(tmp_path)
    from rawllm.moe import MoEConfig, MoETransformer
    with pytest.raises(ValueError, match="written for the dense Block, not MoEBlock"):
        MoETransformer(MoEConfig(vocab_size=64, d_model=32, n_layers=1, n_heads=4, moe_d_ff=16, n_experts=4,
                                 residual="post_norm"))
