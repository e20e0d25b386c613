"""rawllm.moe against transformers: routers, the balancing loss, Mixtral / Qwen3-MoE / DeepSeek-V3 logits and
checkpoints both ways; the two dispatches; capacity; the bias update; bad input; the routing explorer."""
import math
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, DeepseekV3Config, MixtralConfig, Qwen3MoeConfig
from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock, load_balancing_loss_func

import rawllm.model
from rawllm.model import SwiGLU, Transformer, greedy_decode
from rawllm.moe import (MoE, MoEConfig, MoETransformer, Router, dispatch_loop, dispatch_sorted, expert_capacity,
                        expert_load, load_balancing_loss, max_violation, moe_hf_config, routing_explorer,
                        router_z_loss, sequence_balance_loss, sigmoid_top_k, softmax_top_k, update_expert_bias)

TINY = dict(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
            num_experts_per_tok=2, max_position_embeddings=128, bos_token_id=None, eos_token_id=None,
            pad_token_id=None)
YARN = {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 16,
        "beta_fast": 32, "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707}
CONFIGS = {
    "mixtral": lambda: MixtralConfig(**TINY, num_key_value_heads=2, num_local_experts=4),
    "mixtral-tied-sliding": lambda: MixtralConfig(**TINY | {"tie_word_embeddings": True}, num_key_value_heads=2,
                                                  num_local_experts=4, sliding_window=8),
    "qwen3_moe-norm": lambda: Qwen3MoeConfig(**TINY, num_key_value_heads=2, num_experts=8, moe_intermediate_size=32,
                                             head_dim=16, norm_topk_prob=True),
    "qwen3_moe-no-norm": lambda: Qwen3MoeConfig(**TINY, num_key_value_heads=2, num_experts=8,
                                                moe_intermediate_size=32, head_dim=16, norm_topk_prob=False),
    "deepseek_v3": lambda: DeepseekV3Config(**TINY, num_key_value_heads=4, n_routed_experts=8, moe_intermediate_size=32,
                                            n_shared_experts=1, n_group=4, topk_group=2, first_k_dense_replace=1,
                                            kv_lora_rank=32, q_lora_rank=48, qk_rope_head_dim=8, qk_nope_head_dim=16,
                                            v_head_dim=16, routed_scaling_factor=2.5),
    "deepseek_v3-no-q-lora": lambda: DeepseekV3Config(**TINY, num_key_value_heads=4, n_routed_experts=4,
                                                      moe_intermediate_size=32, n_shared_experts=2, n_group=1,
                                                      topk_group=1, first_k_dense_replace=0, kv_lora_rank=32,
                                                      q_lora_rank=None, qk_rope_head_dim=8, qk_nope_head_dim=16,
                                                      v_head_dim=16, rope_interleave=False),
    "deepseek_v3-yarn": lambda: DeepseekV3Config(**TINY, num_key_value_heads=4, n_routed_experts=8,
                                                 moe_intermediate_size=32, n_shared_experts=1, n_group=2, topk_group=1,
                                                 first_k_dense_replace=1, kv_lora_rank=32, q_lora_rank=48,
                                                 qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16,
                                                 rope_parameters=YARN),
}


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def saved_reference(name, folder):
    """A transformers model of CONFIGS[name] with random weights (and correction bias), saved by transformers."""
    reference = AutoModelForCausalLM.from_config(CONFIGS[name]()).eval()
    with torch.no_grad():
        for tensor in [*reference.parameters(), *(b for n, b in reference.named_buffers() if "e_score" in n)]:
            tensor.normal_(0.0, 0.1)
    reference.save_pretrained(folder)
    return reference


# ---- models against transformers ----------------------------------------------------------------------

@pytest.mark.parametrize("name", CONFIGS)
def test_logits_equal_transformers_and_round_trip(name, tmp_path):
    reference = saved_reference(name, tmp_path / "hf")
    ours = Transformer.from_pretrained(tmp_path / "hf")
    assert isinstance(ours, MoETransformer)
    ids = torch.randint(0, 128, (2, 24))
    with torch.no_grad():
        expected = reference(ids).logits
        torch.testing.assert_close(ours(ids), expected, atol=1e-4, rtol=0)
    assert torch.equal(greedy_decode(ours, ids[:1, :5], 6), greedy_decode(ours, ids[:1, :5], 6, use_cache=False))
    ours.save_pretrained(tmp_path / "ours")
    assert sorted(load_file(tmp_path / "ours" / "model.safetensors")) == sorted(
        load_file(tmp_path / "hf" / "model.safetensors"))                   # the hub layout, key for key
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "ours").eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, expected, atol=1e-4, rtol=0)


def test_fused_expert_tensors_are_split(tmp_path):
    reference = saved_reference("qwen3_moe-norm", tmp_path / "hf")
    fused = {name: tensor for name, tensor in reference.state_dict().items()}     # transformers' in-memory layout
    assert any(name.endswith("experts.gate_up_proj") for name in fused)
    save_file({k: v.contiguous() for k, v in fused.items()}, tmp_path / "hf" / "model.safetensors")
    ids = torch.randint(0, 128, (1, 12))
    with torch.no_grad():
        torch.testing.assert_close(MoETransformer.from_pretrained(tmp_path / "hf")(ids), reference(ids).logits,
                                   atol=1e-4, rtol=0)


def test_router_rules_equal_transformers():
    from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3TopkRouter
    x, weight, bias = torch.randn(50, 16), torch.randn(8, 16), torch.randn(8) * 0.2
    hf = DeepseekV3TopkRouter(DeepseekV3Config(hidden_size=16, n_routed_experts=8, num_experts_per_tok=3, n_group=4,
                                               topk_group=2, routed_scaling_factor=2.5))
    hf.weight.data.copy_(weight)
    hf.e_score_correction_bias.copy_(bias)
    _, hf_weights, hf_experts = hf(x)
    ours = sigmoid_top_k(x @ weight.T, 3, bias, 4, 2, scaling=2.5)
    a, b = ours.experts.sort(-1), hf_experts.sort(-1)
    assert torch.equal(a.values, b.values)
    torch.testing.assert_close(ours.weights.gather(1, a.indices), hf_weights.gather(1, b.indices))
    plain = softmax_top_k(x @ weight.T, 2, renormalize=False)
    assert plain.weights.sum(-1).max() < 1 and torch.allclose(softmax_top_k(x @ weight.T, 2).weights.sum(-1),
                                                               torch.ones(50))


def test_aux_loss_equals_load_balancing_loss_func():
    layers = (torch.randn(40, 8) + torch.linspace(2, 0, 8), torch.randn(40, 8))
    torch.testing.assert_close(load_balancing_loss(layers, 2), load_balancing_loss_func(layers, num_experts=8, top_k=2))


# ---- dispatch, capacity, balancing ---------------------------------------------------------------------

def test_sorted_dispatch_equals_loop_values_and_gradients():
    experts = nn.ModuleList(SwiGLU(16, 24) for _ in range(6))
    router = Router(16, 6, 2)
    x = torch.randn(100, 16, requires_grad=True)
    results = []
    for dispatch in (dispatch_loop, lambda *a: dispatch_sorted(*a)[0]):
        out = dispatch(x, experts, router(x))
        results.append((out, torch.autograd.grad(out.pow(2).sum(), [x, router.weight, *experts.parameters()])))
    torch.testing.assert_close(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b)


def test_capacity_drops_overflow_and_respects_limit():
    experts = nn.ModuleList(SwiGLU(8, 8) for _ in range(4))
    x = torch.randn(64, 8)
    routing = softmax_top_k(torch.randn(64, 4) + torch.tensor([3.0, 0, 0, 0]), 2)
    capacity = expert_capacity(64, 4, 2, 1.0)
    out, kept = dispatch_sorted(x, experts, routing, capacity)
    assert capacity == 32 and (~kept).any()
    assert expert_load(routing.experts[kept], 4).max() <= capacity
    assert torch.all(out[(~kept).all(1)] == 0)
    full, kept_all = dispatch_sorted(x, experts, routing, capacity=10**6)
    assert kept_all.all()
    torch.testing.assert_close(full, dispatch_loop(x, experts, routing))


def test_bias_update_lowers_max_violation_on_skewed_router():
    generator = torch.Generator().manual_seed(0)
    weight, skew, bias = torch.randn(8, 16, generator=generator) * 0.1, torch.linspace(1.0, 0.0, 8), torch.zeros(8)
    violations = []
    for _ in range(300):
        logits = torch.randn(512, 16, generator=generator) @ weight.T + skew
        load = expert_load(sigmoid_top_k(logits, 2, bias).experts, 8)
        violations.append(max_violation(load))
        update_expert_bias(bias, load, 0.01)
    assert violations[0] > 1.0 and sum(violations[-20:]) / 20 < 0.25 * violations[0]


def test_readable_and_fast_dispatch_in_a_model():
    model = MoETransformer(MoEConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, moe_d_ff=16, n_experts=4,
                                     top_k=2, n_shared_experts=1))
    ids = torch.randint(0, 64, (2, 8))
    fast = model(ids)
    model.set_dispatch("loop")
    torch.testing.assert_close(model(ids), fast)
    assert [r.experts.shape for r in model.routings()] == [torch.Size([16, 2])] * 2


# ---- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(n_experts=4, top_k=5), "top_k=5"),
    (dict(n_experts=8, top_k=2, n_group=4, topk_group=5), "topk_group=5"),
    (dict(n_experts=10, top_k=2, n_group=4, topk_group=2), "cannot be divided"),
    (dict(n_experts=8, top_k=6, n_group=4, topk_group=2), "cannot be chosen"),
])
def test_bad_routing_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MoEConfig(vocab_size=64, d_model=32, n_layers=1, n_heads=4, **kwargs)
    with pytest.raises(ValueError, match=message):
        Router(32, kwargs.pop("n_experts"), kwargs.pop("top_k"), "sigmoid", **kwargs)


def test_missing_expert_is_named(tmp_path):
    saved_reference("mixtral", tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    del tensors["model.layers.1.block_sparse_moe.experts.2.w3.weight"]
    save_file(tensors, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match=r"expert 2 of layer 1 \(model\.layers\.1\.block_sparse_moe\.experts\.2\.w3"):
        Transformer.from_pretrained(tmp_path)


def test_family_cannot_express_config():
    config = MoEConfig(vocab_size=64, d_model=32, n_layers=1, n_heads=4, n_shared_experts=1, model_type="mixtral")
    with pytest.raises(ValueError, match="n_shared_experts"):
        moe_hf_config(config)


def test_model_module_without_moe_says_import(tmp_path):
    saved_reference("mixtral", tmp_path)
    code = (f"import rawllm.model as m\ntry:\n    m.Transformer.from_pretrained({str(tmp_path)!r})\n"
            "except ValueError as e:\n    assert 'import rawllm.moe' in str(e), e\nelse:\n    raise SystemExit(1)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=rawllm.model.__file__.rsplit("/rawllm/", 1)[0])


# ---- benchmark sanity, widget, module --------------------------------------------------------------------

def test_moe_layer_equals_transformers_sparse_block():
    hf_config = MixtralConfig(hidden_size=32, intermediate_size=48, num_local_experts=4, num_experts_per_tok=2)
    block = MixtralSparseMoeBlock(hf_config)
    ours = MoE(MoEConfig(vocab_size=8, d_model=32, n_layers=1, n_heads=4, moe_d_ff=48, n_experts=4, top_k=2))
    with torch.no_grad():
        nn.init.normal_(block.gate.weight)
        nn.init.normal_(block.experts.gate_up_proj, std=0.1)
        nn.init.normal_(block.experts.down_proj, std=0.1)
        ours.gate.weight.copy_(block.gate.weight)
        for e, expert in enumerate(ours.experts):
            gate, up = block.experts.gate_up_proj[e].chunk(2)
            expert.gate_proj.weight.copy_(gate); expert.up_proj.weight.copy_(up)
            expert.down_proj.weight.copy_(block.experts.down_proj[e])
    x = torch.randn(2, 10, 32)
    torch.testing.assert_close(ours(x)[0], block(x))


def test_routing_explorer_builds_and_reacts_headless():
    class CharTokenizer:
        def encode(self, text):
            return [ord(c) % 64 for c in text]

        def decode(self, ids):
            return "".join(chr(97 + i % 26) for i in ids)

    model = MoETransformer(MoEConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, moe_d_ff=16, n_experts=4,
                                     first_k_dense_replace=0)).eval()
    explorer = routing_explorer(model, CharTokenizer(), "ab")
    text, layer, table = explorer.children
    assert table.value.count("<tr") == 3 and "e" in table.value
    text.value = "abcdef"
    assert table.value.count("<tr") == 7
    before = table.value
    layer.value = 1
    assert table.value != before
    text.value = ""
    assert "no tokens" in table.value


def test_import_is_light():
    code = "import sys, rawllm.moe; assert 'ipywidgets' not in sys.modules and 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=rawllm.model.__file__.rsplit("/rawllm/", 1)[0])


# ---- reference values, padding masks, float32 routing, capacity only in training -------------------------------

def test_aux_loss_and_sequence_loss_equal_hand_computed_values():
    # two tokens, four experts: p1 = (.4, .3, .2, .1) picks {0} (k=1) or {0, 1} (k=2); p2 = (.1, .6, .2, .1) picks
    # {1} or {1, 2}; P = (.25, .45, .2, .1); k=1: f = (.5, .5, 0, 0), 4 (.5 .25 + .5 .45) = 1.4;
    # k=2: f = (.5, 1, .5, 0), 4 (.5 .25 + .45 + .5 .2) = 2.7
    logits = torch.tensor([[0.4, 0.3, 0.2, 0.1], [0.1, 0.6, 0.2, 0.1]]).log() + torch.tensor([[1.0], [-2.0]])
    torch.testing.assert_close(load_balancing_loss(logits, 1), torch.tensor(1.4))
    torch.testing.assert_close(load_balancing_loss(logits, 2), torch.tensor(2.7))
    # sequence 1: normalised scores (.5, .3, .2), (.2, .2, .6), experts 0 then 2: f = 3/2 (1, 0, 1),
    # P = (.35, .25, .4), loss 1.5 (.35 + .4) = 1.125; sequence 2: (.25, .25, .5) twice, expert 2 twice:
    # f = (0, 0, 3), loss 1.5; the batch mean is 1.3125
    scores = torch.tensor([[[1.0, 0.6, 0.4], [0.1, 0.1, 0.3]], [[0.25, 0.25, 0.5], [0.5, 0.5, 1.0]]])
    experts = torch.tensor([[[0], [2]], [[2], [2]]])
    torch.testing.assert_close(sequence_balance_loss(scores, experts, 1), torch.tensor(1.3125))


def test_router_z_loss_equals_a_hand_computed_value():
    # logsumexp of (0, 0) is ln 2, of (ln 3, 0) is ln 4 = 2 ln 2: mean of ln^2 2 and 4 ln^2 2 is 2.5 ln^2 2
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    torch.testing.assert_close(router_z_loss(logits), torch.tensor(2.5 * math.log(2.0) ** 2))
    torch.testing.assert_close(router_z_loss([logits, logits[:1]]), torch.tensor(2.0 * math.log(2.0) ** 2))


def test_masked_losses_equal_the_losses_of_the_real_tokens_alone():
    B, T, E, k = 3, 6, 5, 2
    lengths = torch.tensor([6, 2, 4])
    mask = (torch.arange(T) < lengths[:, None]).long()                       # (B, T), padding at the end
    real = mask.reshape(-1).bool()
    layers = [torch.randn(B * T, E), torch.randn(B * T, E)]
    torch.testing.assert_close(load_balancing_loss(layers, k, mask), load_balancing_loss([l[real] for l in layers], k))
    torch.testing.assert_close(load_balancing_loss(layers, k, mask),
                               load_balancing_loss_func(tuple(layers), num_experts=E, top_k=k, attention_mask=mask))
    torch.testing.assert_close(router_z_loss(layers, mask), router_z_loss([l[real] for l in layers]))
    scores = torch.rand(B, T, E)
    experts = scores.topk(k, dim=-1).indices
    per_sequence = [sequence_balance_loss(scores[b:b + 1, :n], experts[b:b + 1, :n], k) for b, n in enumerate(lengths)]
    torch.testing.assert_close(sequence_balance_loss(scores, experts, k, mask), torch.stack(per_sequence).mean())
    flat = experts.reshape(-1, k)
    expected = torch.zeros(E)
    for token in range(B * T):
        if real[token]:
            expected[flat[token]] += 1
    assert torch.equal(expert_load(flat, E, mask), expected)


@pytest.mark.parametrize("scoring", ["softmax", "sigmoid"])
def test_router_logits_are_float32_under_bf16_autocast(scoring):
    router = Router(32, 8, 2, scoring, correction_bias=scoring == "sigmoid")
    x = torch.randn(10, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        routing = router(x)
    assert routing.logits.dtype == torch.float32
    torch.testing.assert_close(routing.logits, x @ router.weight.detach().T)


def test_capacity_drops_tokens_in_training_only():
    config = MoEConfig(vocab_size=8, d_model=8, n_layers=1, n_heads=2, moe_d_ff=8, n_experts=4, top_k=1,
                       capacity_factor=1.0)
    moe = MoE(config)
    with torch.no_grad():
        moe.gate.weight.zero_()
        moe.gate.weight[0, 0] = 100.0                                        # every token picks expert 0
    x = torch.randn(1, 16, 8)
    x[..., 0] = x[..., 0].abs() + 0.1
    with torch.no_grad():
        everyone = moe.experts[0](x[0])                                      # weight 1: top-1, renormalised
        dropped = everyone.clone()
        dropped[4:] = 0                                                      # capacity ceil(16 * 1 / 4) = 4
        torch.testing.assert_close(moe.train()(x)[0][0], dropped)
        torch.testing.assert_close(moe.eval()(x)[0][0], everyone)
