"""rawllm.attention: against F.scaled_dot_product_attention and transformers, caches, windows, MLA, bad input, widget."""
import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from conftest import NOTEBOOKS_DIR

from rawllm.attention import (KVCache, MultiHeadAttention, MultiHeadLatentAttention, RMSNorm, RollingKVCache,
                              apply_rotary, attention_explorer, causal_mask, mla_softmax_scale, padding_mask,
                              repeat_kv, scaled_dot_product_attention, softmax)

TOL = dict(atol=1e-5, rtol=1e-5)


def rope_tables(n_positions: int, head_dim: int, theta: float = 10000.0):
    """(cos, sin) of shape (n_positions, head_dim), half-split layout, as transformers' default rope."""
    angles = torch.outer(torch.arange(n_positions).float(), 1.0 / theta ** (torch.arange(0, head_dim, 2) / head_dim))
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def float_causal(n: int) -> torch.Tensor:
    return torch.zeros(n, n).masked_fill(~causal_mask(n, n), -math.inf)[None, None]


def randomize(module: torch.nn.Module, std: float = 0.2) -> torch.nn.Module:
    torch.manual_seed(1)
    for p in module.parameters():
        torch.nn.init.normal_(p, std=std)
    return module.eval()


# ---- scaled dot-product attention against PyTorch ------------------------------------------------

@pytest.mark.parametrize("case", ["plain", "causal", "bool_padding", "float_mask", "causal_and_padding", "fewer_queries"])
def test_sdpa_values_and_gradients_match_torch(case):
    torch.manual_seed(0)
    q_len, k_len = (3, 8) if case == "fewer_queries" else (7, 7)
    q, k, v = (torch.randn(2, 3, n, 16, requires_grad=True) for n in (q_len, k_len, k_len))
    causal, mask = case in ("causal", "causal_and_padding"), None
    if case in ("bool_padding", "causal_and_padding"):
        mask = padding_mask([7, 4], 7, left=case == "bool_padding")
    elif case == "float_mask":
        mask = torch.randn(2, 1, 7, 7)
    elif case == "fewer_queries":
        mask = causal_mask(3, 8)
    ref_mask = mask & causal_mask(7, 7) if case == "causal_and_padding" else mask
    grad = torch.randn(2, 3, q_len, 16)
    ours = scaled_dot_product_attention(q, k, v, causal=causal, mask=mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=ref_mask, is_causal=causal and ref_mask is None)
    torch.testing.assert_close(ours, ref, **TOL)
    for a, b in zip(torch.autograd.grad(ours, (q, k, v), grad), torch.autograd.grad(ref, (q, k, v), grad)):
        torch.testing.assert_close(a, b, **TOL)


def test_causal_is_bottom_right_and_equals_torch_when_square():
    assert torch.equal(causal_mask(2, 5), torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool))
    assert torch.equal(causal_mask(5, 5), torch.ones(5, 5, dtype=torch.bool).tril())
    q, k, v = torch.randn(3, 1, 2, 4, 8).unbind(0)
    last = scaled_dot_product_attention(q[:, :, 3:], k, v, causal=True)           # the last query alone
    torch.testing.assert_close(last, scaled_dot_product_attention(q, k, v, causal=True)[:, :, 3:])
    with pytest.raises(ValueError, match="q_len <= k_len"):
        causal_mask(5, 3)


def test_fully_masked_rows_are_zero_with_finite_gradients_like_torch():
    q, k, v = (torch.randn(1, 2, 4, 8, requires_grad=True) for _ in range(3))
    mask = padding_mask([2], 4, left=True)                                         # queries 0, 1 see only pads
    out = scaled_dot_product_attention(q, k, v, causal=True, mask=mask)
    out.sum().backward()
    assert torch.equal(out[:, :, :2], torch.zeros(1, 2, 2, 8))
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v)) and torch.equal(q.grad[:, :, :2], torch.zeros(1, 2, 2, 8))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask & causal_mask(4, 4)), **TOL)


def test_softmax_is_stable_and_matches_torch():
    s = torch.tensor([[1000.0, 999.0, -5.0], [-1e4, 3.0, 2.0]])
    torch.testing.assert_close(softmax(s), torch.softmax(s, -1))
    assert torch.equal(softmax(torch.full((2, 3), -math.inf)), torch.zeros(2, 3))


def test_padded_batches_equal_unpadded_sequences():
    torch.manual_seed(0)
    layer = MultiHeadAttention(32, 4).eval()
    seqs = [torch.randn(1, n, 32) for n in (6, 3)]
    for left in (False, True):
        batch = torch.zeros(2, 6, 32)
        spans = [slice(6 - s.shape[1], 6) if left else slice(0, s.shape[1]) for s in seqs]
        for b, s in enumerate(seqs):
            batch[b, spans[b]] = s[0]
        with torch.no_grad():
            out = layer(batch, attention_mask=padding_mask([6, 3], 6, left=left))
            for b, s in enumerate(seqs):
                torch.testing.assert_close(out[b:b + 1, spans[b]], layer(s), **TOL)


# ---- heads, GQA, MQA -----------------------------------------------------------------------------

def test_repeat_kv_is_hugging_face_grouping():
    from transformers.models.llama.modeling_llama import repeat_kv as hf_repeat_kv
    x = torch.randn(2, 3, 5, 4)
    assert torch.equal(repeat_kv(x, 4), x.repeat_interleave(4, dim=1))
    assert torch.equal(repeat_kv(x, 4), hf_repeat_kv(x, 4))
    assert torch.equal(repeat_kv(x, 4)[:, 5], x[:, 1])                            # query head 5 uses kv head 5 // 4


@pytest.mark.parametrize("n_kv_heads", [2, 1])
def test_gqa_and_mqa_equal_mha_with_explicitly_repeated_kv_heads(n_kv_heads):
    torch.manual_seed(0)
    gqa = randomize(MultiHeadAttention(48, 6, n_kv_heads=n_kv_heads))
    mha = MultiHeadAttention(48, 6).eval()
    g = 6 // n_kv_heads
    repeat = lambda w: w.view(n_kv_heads, 1, 8, 48).expand(n_kv_heads, g, 8, 48).reshape(48, 48)
    mha.load_state_dict({**gqa.state_dict(), "k_proj.weight": repeat(gqa.k_proj.weight),
                         "v_proj.weight": repeat(gqa.v_proj.weight)})
    x = torch.randn(2, 9, 48)
    with torch.no_grad():
        torch.testing.assert_close(gqa(x), mha(x), **TOL)


@pytest.mark.parametrize("window", [None, 3])
def test_eager_and_sdpa_implementations_agree(window):
    torch.manual_seed(0)
    layer = randomize(MultiHeadAttention(32, 4, n_kv_heads=2, qk_norm=True, sliding_window=window))
    cos, sin = rope_tables(10, 8)
    x, mask = torch.randn(2, 10, 32), padding_mask([10, 7], 10)
    with torch.no_grad():
        eager = [layer(x, (cos, sin)), layer(x, (cos, sin), attention_mask=mask)]
        layer.attn_implementation = "sdpa"
        sdpa = [layer(x, (cos, sin)), layer(x, (cos, sin), attention_mask=mask)]
    for a, b in zip(eager, sdpa):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("family", ["qwen3", "llama"])
def test_layer_equals_transformers_attention(family):
    if family == "qwen3":
        from transformers import Qwen3Config as Config
        from transformers.models.qwen3.modeling_qwen3 import Qwen3Attention as Attention
        ours = MultiHeadAttention(64, 4, n_kv_heads=2, head_dim=32, qk_norm=True)
    else:
        from transformers import LlamaConfig as Config
        from transformers.models.llama.modeling_llama import LlamaAttention as Attention
        ours = MultiHeadAttention(64, 4, n_kv_heads=1, head_dim=32, bias=True)
    config = Config(hidden_size=64, num_attention_heads=4, num_key_value_heads=ours.n_kv_heads, head_dim=32,
                    attention_bias=family == "llama", rms_norm_eps=1e-6)
    config._attn_implementation = "eager"
    hf = Attention(config, layer_idx=0).eval()
    hf.load_state_dict(randomize(ours).state_dict(), strict=True)
    cos, sin = rope_tables(11, 32)
    x = torch.randn(2, 11, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x, (cos, sin)), hf(x, (cos[None], sin[None]), float_causal(11))[0], **TOL)


def test_rms_norm_matches_transformers():
    from transformers.models.qwen3.modeling_qwen3 import Qwen3RMSNorm
    ours, hf = RMSNorm(16, eps=1e-6), Qwen3RMSNorm(16, eps=1e-6)
    torch.nn.init.normal_(ours.weight)
    hf.load_state_dict(ours.state_dict())
    x = torch.randn(3, 16, dtype=torch.bfloat16)
    assert torch.equal(ours.to(torch.bfloat16)(x), hf.to(torch.bfloat16)(x))


# ---- caches ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_cached_decoding_equals_the_full_forward(implementation):
    torch.manual_seed(0)
    layer = randomize(MultiHeadAttention(32, 4, n_kv_heads=2, qk_norm=True, attn_implementation=implementation))
    cos, sin = rope_tables(12, 8)
    x = torch.randn(2, 12, 32)
    with torch.no_grad():
        full = layer(x, (cos, sin))
        cache = layer.new_cache(2, 12)
        parts = [layer(x[:, :5], (cos[:5], sin[:5]), cache=cache),                 # prefill
                 layer(x[:, 5:7], (cos[5:7], sin[5:7]), cache=cache)]              # a chunk of two
        parts += [layer(x[:, t:t + 1], (cos[t:t + 1], sin[t:t + 1]), cache=cache) for t in range(7, 12)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, **TOL)
    assert cache.pos == 12 and isinstance(cache, KVCache)


def test_cached_decoding_with_left_padding_and_per_row_positions():
    torch.manual_seed(0)
    layer = randomize(MultiHeadAttention(32, 4))
    cos, sin = rope_tables(16, 8)
    short = torch.randn(1, 6, 32)                                    # 4 prompt tokens + 2 decoded, left-padded by 3
    batch = torch.cat([torch.zeros(1, 3, 32), short], dim=1)         # (1, 9, 32)
    positions = (torch.arange(9) - 3).clamp_min(0)
    with torch.no_grad():
        alone = layer(short, (cos[:6], sin[:6]))
        cache = layer.new_cache(1, 9)
        mask = padding_mask([4], 7, left=True)                       # 3 pads, then 4 real tokens
        out = [layer(batch[:, :7], (cos[positions[:7]][None], sin[positions[:7]][None]), mask, cache)]
        for t in (7, 8):
            mask = padding_mask([t + 1 - 3], t + 1, left=True)
            out.append(layer(batch[:, t:t + 1], (cos[positions[t:t + 1]][None], sin[positions[t:t + 1]][None]), mask, cache))
    torch.testing.assert_close(torch.cat(out, dim=1)[:, 3:], alone, **TOL)


def test_sliding_window_mask_is_hugging_faces():
    from transformers.masking_utils import causal_mask_function, sliding_window_overlay
    for w in (1, 3, 8):
        hf = torch.tensor([[causal_mask_function(0, 0, i, j) and sliding_window_overlay(w)(0, 0, i, j)
                            for j in range(8)] for i in range(8)])
        assert torch.equal(causal_mask(8, 8, window=w), hf)


def test_attention_weights_follow_the_window_and_give_the_output():
    torch.manual_seed(0)
    layer = randomize(MultiHeadAttention(32, 4, n_kv_heads=2, sliding_window=3))
    x = torch.randn(1, 7, 32)
    with torch.no_grad():
        weights = layer.attention_weights(x)                                      # (1, 4, 7, 7)
        _, _, v = layer.project(x)
        out = layer.o_proj((weights @ repeat_kv(v, 2)).transpose(1, 2).reshape(1, 7, 32))
        torch.testing.assert_close(out, layer(x), **TOL)
    assert torch.equal(weights[0, 0] > 0, causal_mask(7, 7, window=3))


def test_rolling_cache_decodes_past_the_window_like_dense_attention():
    torch.manual_seed(0)
    w, total = 4, 19
    layer = randomize(MultiHeadAttention(32, 4, n_kv_heads=2, sliding_window=w))
    cos, sin = rope_tables(total, 8)
    x = torch.randn(2, total, 32)
    with torch.no_grad():
        q, k, v = layer.project(x, (cos, sin))
        dense = F.scaled_dot_product_attention(q, repeat_kv(k, 2), repeat_kv(v, 2), attn_mask=causal_mask(total, total, w))
        full = layer(x, (cos, sin))
        torch.testing.assert_close(full, layer.o_proj(dense.transpose(1, 2).reshape(2, total, 32)), **TOL)
        cache = layer.new_cache(2, max_len=total)
        chunks = [(0, 2), (2, 9)] + [(t, t + 1) for t in range(9, total)]         # includes a chunk longer than w
        out = torch.cat([layer(x[:, a:b], (cos[a:b], sin[a:b]), cache=cache) for a, b in chunks], dim=1)
    torch.testing.assert_close(out, full, **TOL)
    assert isinstance(cache, RollingKVCache) and cache.k.shape[2] == w and cache.pos == total


# ---- MLA -------------------------------------------------------------------------------------------

MLA_DIMS = dict(d_model=64, n_heads=4, kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=12)


@pytest.mark.parametrize("q_lora_rank", [32, None])
def test_mla_absorbed_decoding_equals_plain_forward(q_lora_rank):
    mla = randomize(MultiHeadLatentAttention(**MLA_DIMS, q_lora_rank=q_lora_rank))
    cos, sin = rope_tables(10, 8)
    x = torch.randn(2, 10, 64)
    with torch.no_grad():
        plain = mla(x, (cos, sin))
        torch.testing.assert_close(mla(x, (cos, sin), absorb=True), plain, **TOL)
        for absorb in (True, False):
            cache = mla.new_cache(2, 10)
            parts = [mla(x[:, :4], (cos[:4], sin[:4]), cache=cache, absorb=absorb)]
            parts += [mla(x[:, t:t + 1], (cos[t:t + 1], sin[t:t + 1]), cache=cache, absorb=absorb) for t in range(4, 10)]
            torch.testing.assert_close(torch.cat(parts, dim=1), plain, **TOL)
    assert cache.k.shape[-1] == 16 and cache.v.shape[-1] == 8 and cache.k.shape[1] == 1


YARN_DEEPSEEK = {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 256,
                 "mscale_all_dim": 0.707}


@pytest.mark.parametrize("interleave,yarn", [(False, False), (True, True), (False, True)])
def test_mla_equals_transformers_deepseek_v3_attention(interleave, yarn):
    """Each side builds its own rope tables: ours with rawllm.rope.rope_cos_sin, transformers with the model's
    DeepseekV3RotaryEmbedding (its ROPE_INIT_FUNCTIONS). With YaRN (rotary dim 16, original context 256), the ramp
    blends pairs 1..3 and the tables carry the attention factor 0.1 ln 4 + 1, so both must match."""
    from transformers import DeepseekV3Config
    from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3Attention, DeepseekV3RotaryEmbedding

    from rawllm.rope import rope_cos_sin
    dims = dict(MLA_DIMS, qk_rope_head_dim=16)
    rope = YARN_DEEPSEEK if yarn else {"rope_type": "default", "rope_theta": 10000.0}
    config = DeepseekV3Config(hidden_size=64, num_attention_heads=4, num_key_value_heads=4, q_lora_rank=32,
                              kv_lora_rank=16, qk_rope_head_dim=16, qk_nope_head_dim=16, v_head_dim=12,
                              rope_interleave=interleave, max_position_embeddings=1024, rope_parameters=dict(rope))
    config._attn_implementation = "eager"
    hf = DeepseekV3Attention(config, layer_idx=0).eval()
    scale = mla_softmax_scale(32, 4.0, 0.707) if yarn else None
    ours = randomize(MultiHeadLatentAttention(**dims, q_lora_rank=32, rope_interleave=interleave, softmax_scale=scale))
    hf.load_state_dict(ours.state_dict(), strict=True)
    assert hf.scaling == pytest.approx(ours.softmax_scale, rel=1e-12)
    T = 40
    x = torch.randn(2, T, 64)
    cos, sin = rope_cos_sin(16, T, 10000.0, rope)
    hf_cos, hf_sin = DeepseekV3RotaryEmbedding(config)(x, torch.arange(T)[None])
    plain_cos, _ = rope_tables(T, 16)
    if yarn:                                              # the YaRN tables are not the plain ones
        assert not torch.allclose(hf_cos[0], plain_cos, atol=1e-2)
    with torch.no_grad():
        torch.testing.assert_close(ours(x, (cos, sin)), hf(x, (hf_cos, hf_sin), float_causal(T))[0], **TOL)


def test_mla_cache_is_smaller_than_gqa():
    mla = MultiHeadLatentAttention(**MLA_DIMS)
    gqa = MultiHeadAttention(64, 4, n_kv_heads=2, head_dim=16)
    assert mla.new_cache(1, 100).nbytes == 100 * (16 + 8) * 4
    assert gqa.new_cache(1, 100).nbytes == 100 * 2 * 2 * 16 * 4


# ---- bad input ---------------------------------------------------------------------------------------

def test_bad_configurations_fail_clearly():
    with pytest.raises(ValueError, match="not divisible by n_kv_heads=3"):
        MultiHeadAttention(64, 8, n_kv_heads=3)
    with pytest.raises(ValueError, match="d_model=60 is not divisible by n_heads=8"):
        MultiHeadAttention(60, 8)
    MultiHeadAttention(60, 8, head_dim=16)                                        # explicit head_dim is fine
    with pytest.raises(ValueError, match="attn_implementation"):
        MultiHeadAttention(64, 8, attn_implementation="flash")


def test_cache_past_capacity_fails_clearly():
    layer = MultiHeadAttention(16, 2).eval()
    cache = layer.new_cache(1, 4)
    with torch.no_grad():
        layer(torch.randn(1, 3, 16), cache=cache)
        with pytest.raises(ValueError, match="KV cache full: writing 2 token.*position 3.*max_len=4"):
            layer(torch.randn(1, 2, 16), cache=cache)
    assert cache.pos == 3


def test_masks_of_the_wrong_shape_or_type_fail_clearly():
    q = torch.randn(2, 3, 4, 8)
    with pytest.raises(ValueError, match=r"shape \(3, 5\) does not broadcast to .* \(2, 3, 4, 4\)"):
        scaled_dot_product_attention(q, q, q, mask=torch.ones(3, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool .* or float"):
        scaled_dot_product_attention(q, q, q, mask=torch.ones(2, 1, 1, 4, dtype=torch.long))
    layer = MultiHeadAttention(16, 2)
    with pytest.raises(ValueError, match="does not broadcast"):
        layer(torch.randn(2, 4, 16), attention_mask=padding_mask([4, 2, 1], 4))
    with pytest.raises(ValueError, match="rolling cache"):
        swa = MultiHeadAttention(16, 2, sliding_window=2)
        swa(torch.randn(1, 2, 16), attention_mask=padding_mask([2], 2), cache=swa.new_cache(1, 8))


def test_bad_shapes_and_rope_tables_fail_clearly():
    q = torch.randn(1, 2, 5, 8)
    with pytest.raises(ValueError, match="cover 4 positions but the input has 5 tokens"):
        apply_rotary(q, *rope_tables(4, 8))
    with pytest.raises(ValueError, match="even head_dim"):
        apply_rotary(q, *rope_tables(5, 6))
    with pytest.raises(ValueError, match="repeat_kv"):
        scaled_dot_product_attention(torch.randn(1, 4, 5, 8), q, q)
    with pytest.raises(ValueError, match="d_model=16"):
        MultiHeadAttention(16, 2)(torch.randn(1, 5, 12))


# ---- widget and module -------------------------------------------------------------------------------

def test_explorer_builds_and_reacts_headless():
    weights = torch.softmax(torch.randn(2, 5, 5).masked_fill(~causal_mask(5, 5), -math.inf), dim=-1)
    explorer = attention_explorer(weights, ["a", " b", " c", " <d>", "."], head=0, query=4)
    head_slider, query_slider = explorer.children[0].children
    heatmap, text = explorer.children[1], explorer.children[2]
    assert "&lt;d&gt;" in text.value and heatmap.value[:4] == b"\x89PNG"
    before_html, before_png = text.value, heatmap.value
    query_slider.value = 2
    assert text.value != before_html and heatmap.value != before_png
    before_html = text.value
    head_slider.value = 1
    assert text.value != before_html
    with pytest.raises(ValueError, match="seq = 2 tokens"):
        attention_explorer(weights, ["a", "b"])


def test_module_import_is_light_and_comes_before_rope():
    code = "import sys, rawllm.attention; assert 'rawllm.rope' not in sys.modules and 'ipywidgets' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=NOTEBOOKS_DIR, check=True)


# Linear attention: the parallel and recurrent forms against the definition written as explicit sums.

def linear_attention_by_sums(q, k, v, phi, normalize):
    """o_i = sum_{j<=i} (phi(q_i) . phi(k_j)) v_j [/ sum_{j<=i} phi(q_i) . phi(k_j)], one query and key at a time."""
    B, H, L, _ = q.shape
    out = torch.zeros(B, H, L, v.shape[-1], dtype=torch.float64)
    for b in range(B):
        for h in range(H):
            for i in range(L):
                weights = [float(phi(q[b, h, i]) @ phi(k[b, h, j])) for j in range(i + 1)]
                total = sum(w * v[b, h, j].double() for j, w in enumerate(weights))
                out[b, h, i] = total / sum(weights) if normalize else total
    return out.float()


@pytest.mark.parametrize("normalize", [True, False])
def test_linear_attention_forms_equal_the_definition(normalize):
    from rawllm.attention import elu_feature_map, linear_attention, linear_attention_recurrent
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 9, 4), torch.randn(2, 3, 9, 4), torch.randn(2, 3, 9, 5)
    phi = elu_feature_map if normalize else (lambda x: x)
    expected = linear_attention_by_sums(q, k, v, lambda x: F.elu(x) + 1 if normalize else x, normalize)
    torch.testing.assert_close(linear_attention(q, k, v, phi, normalize=normalize, eps=0.0), expected, **TOL)
    recurrent, (S, z) = linear_attention_recurrent(q, k, v, phi, normalize=normalize, eps=0.0)
    torch.testing.assert_close(recurrent, expected, **TOL)
    assert S.shape == (2, 3, 4, 5) and z.shape == (2, 3, 4)
    torch.testing.assert_close(S, torch.einsum("bhtk,bhtv->bhkv", phi(k), v), **TOL)


def test_linear_attention_recurrent_continues_from_its_state():
    from rawllm.attention import linear_attention, linear_attention_recurrent
    torch.manual_seed(1)
    q, k, v = torch.randn(1, 2, 30, 8), torch.randn(1, 2, 30, 8), torch.randn(1, 2, 30, 8)
    first, state = linear_attention_recurrent(q[:, :, :11], k[:, :, :11], v[:, :, :11])
    steps = [first]
    for t in range(11, 30):                                   # decoding: one token at a time from the state
        out, state = linear_attention_recurrent(q[:, :, t:t + 1], k[:, :, t:t + 1], v[:, :, t:t + 1], state=state)
        steps.append(out)
    torch.testing.assert_close(torch.cat(steps, dim=2), linear_attention(q, k, v), **TOL)


def test_linear_attention_rejects_mismatched_shapes():
    from rawllm.attention import linear_attention, linear_attention_recurrent
    with pytest.raises(ValueError, match="head_dim"):
        linear_attention(torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 8))
    with pytest.raises(ValueError, match="batch, heads, seq, head_dim"):
        linear_attention_recurrent(torch.randn(2, 5, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 8))
