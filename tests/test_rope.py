"""rawllm.rope: frequencies and tables against transformers, both layouts, ALiBi, bad input, the explorer."""
import math

import pytest
import torch
from transformers import LlamaConfig, PhiConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
from transformers.models.deepseek_v3.modeling_deepseek_v3 import apply_rotary_pos_emb_interleave
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb
from transformers.models.phi.modeling_phi import PhiRotaryEmbedding
from transformers.models.phi3.modeling_phi3 import apply_rotary_pos_emb as partial_apply_rotary_pos_emb

from rawllm.rope import (alibi_bias, alibi_slopes, apply_rope, half_split_permutation, position_explorer,
                         rope_cos_sin, rope_frequencies, rope_table, scores_by_distance)


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def hf_config(head_dim, theta, scaling, config_class=LlamaConfig):
    """A tiny config carrying `scaling` the way transformers expects it.

    For dynamic, transformers reads the original length from `max_position_embeddings`; for yarn we set
    max_position_embeddings to the original length (no implicit factor), for llama3 to factor times it.
    """
    params = dict(scaling, rope_theta=theta)
    original = params.get("original_max_position_embeddings", 2048)
    if params["rope_type"] == "dynamic":
        del params["original_max_position_embeddings"]
    max_positions = int(original * params["factor"]) if params["rope_type"] == "llama3" else original
    return config_class(hidden_size=2 * head_dim, num_attention_heads=2, head_dim=head_dim,
                        max_position_embeddings=max_positions, rope_parameters=params)


def hf_frequencies(head_dim, theta, scaling, seq_len=None):
    config = hf_config(head_dim, theta, scaling)
    if scaling["rope_type"] == "default":
        return LlamaRotaryEmbedding.compute_default_rope_parameters(config)
    return ROPE_INIT_FUNCTIONS[scaling["rope_type"]](config, "cpu", seq_len=seq_len)


HEAD_DIMS_THETAS = [(16, 10_000.0), (64, 10_000.0), (128, 500_000.0), (96, 1_000_000.0)]
ORIG = 2048
YARN = [{"factor": 4.0},
        {"factor": 2.5},
        {"factor": 16.0, "beta_fast": 16, "beta_slow": 2},
        {"factor": 8.0, "attention_factor": 1.3},
        {"factor": 40.0, "mscale": 1.0, "mscale_all_dim": 1.0, "beta_fast": 32, "beta_slow": 1},
        {"factor": 40.0, "mscale": 0.707, "mscale_all_dim": 1.0},
        {"factor": 32.0, "truncate": False},
        {"factor": 1.0}]
CASES = ([({"rope_type": "default"}, None)] +
         [({"rope_type": "linear", "factor": f}, None) for f in (1.0, 2.0, 8.0)] +
         [({"rope_type": "dynamic", "factor": f, "original_max_position_embeddings": ORIG}, n)
          for f in (2.0, 8.0) for n in (None, 1, ORIG - 1, ORIG, ORIG + 1, 3 * ORIG, 20 * ORIG)] +
         [({"rope_type": "yarn", "original_max_position_embeddings": ORIG, **y}, None) for y in YARN] +
         [({"rope_type": "llama3", "factor": f, "low_freq_factor": lo, "high_freq_factor": hi,
            "original_max_position_embeddings": ORIG}, None) for f, lo, hi in ((8.0, 1.0, 4.0), (32.0, 2.0, 8.0))])


@pytest.mark.parametrize("head_dim,theta", HEAD_DIMS_THETAS)
def test_frequencies_and_attention_factor_equal_transformers(head_dim, theta):
    for scaling, seq_len in CASES:
        ours, ours_factor = rope_frequencies(head_dim, theta, scaling, seq_len=seq_len)
        ref, ref_factor = hf_frequencies(head_dim, theta, scaling, seq_len=seq_len)
        assert torch.equal(ours, ref), (scaling, seq_len)
        assert ours_factor == ref_factor, (scaling, seq_len)
    assert rope_frequencies(64, 10_000.0, None)[0].shape == (32,)


def test_scaling_changes_what_it_should():
    base, _ = rope_frequencies(64)
    dyn = {"rope_type": "dynamic", "factor": 4.0, "original_max_position_embeddings": 100}
    assert torch.equal(rope_frequencies(64, scaling=dyn, seq_len=100)[0], base)
    assert (rope_frequencies(64, scaling=dyn, seq_len=101)[0][1:] < base[1:]).all()
    yarn, factor = rope_frequencies(64, scaling={"rope_type": "yarn", "factor": 4.0,
                                                 "original_max_position_embeddings": 512})
    assert yarn[0] == base[0] and torch.isclose(yarn[-1], base[-1] / 4) and factor == pytest.approx(0.1 * math.log(4) + 1)


def test_partial_rotary_matches_transformers():
    scaling = {"rope_type": "linear", "factor": 2.0, "partial_rotary_factor": 0.5}
    ours, _ = rope_frequencies(64, 10_000.0, scaling)
    ref, _ = hf_frequencies(64, 10_000.0, scaling)
    assert ours.shape == (16,) and torch.equal(ours, ref)
    config = hf_config(64, 10_000.0, {"rope_type": "default", "partial_rotary_factor": 0.5}, PhiConfig)
    hf_cos, hf_sin = PhiRotaryEmbedding(config)(torch.zeros(1), torch.arange(40)[None])
    cos, sin = rope_cos_sin(64, 40, scaling={"rope_type": "default", "partial_rotary_factor": 0.5})
    assert cos.shape == (40, 32) and torch.equal(cos, hf_cos[0]) and torch.equal(sin, hf_sin[0])
    q, k = torch.randn(2, 2, 3, 40, 64)
    hf_q, hf_k = partial_apply_rotary_pos_emb(q, k, hf_cos, hf_sin)
    assert torch.equal(apply_rope(q, cos, sin), hf_q) and torch.equal(apply_rope(k, cos, sin), hf_k)
    assert torch.equal(apply_rope(q, cos, sin)[..., 32:], q[..., 32:])


@pytest.mark.parametrize("scaling", [
    {"rope_type": "default"},
    {"rope_type": "linear", "factor": 4.0},
    {"rope_type": "dynamic", "factor": 4.0, "original_max_position_embeddings": 256},
    {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 256},
    {"rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 256, "mscale": 0.707, "mscale_all_dim": 1.0},
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 256}], ids=lambda s: s["rope_type"])
def test_tables_equal_llama_rotary_embedding_with_attention_scaling(scaling):
    n = 1000                                                          # beyond 256: dynamic scaling kicks in
    cos, sin = rope_cos_sin(32, n, 10_000.0, scaling)
    module = LlamaRotaryEmbedding(hf_config(32, 10_000.0, scaling))
    hf_cos, hf_sin = module(torch.zeros(1), torch.arange(n)[None])
    # dynamic: transformers computes the new base in float32 from a tensor length, we in float64
    tol = dict(rtol=0, atol=1e-4) if scaling["rope_type"] == "dynamic" else dict(rtol=0, atol=0)
    torch.testing.assert_close(cos, hf_cos[0], **tol)
    torch.testing.assert_close(sin, hf_sin[0], **tol)
    if scaling["rope_type"] == "yarn":
        assert cos[0, 0] == module.attention_scaling != 1.0


def test_half_split_rotation_equals_transformers_with_3d_tables_and_offsets():
    cos, sin = rope_cos_sin(64, 300, 500_000.0)
    q, k = torch.randn(2, 2, 4, 7, 64)
    position_ids = torch.tensor([[0, 1, 2, 3, 4, 5, 6], [200, 201, 202, 203, 204, 205, 206]])
    c, s = cos[position_ids], sin[position_ids]                       # (batch, seq, head_dim)
    hf_q, hf_k = apply_rotary_pos_emb(q, k, c, s)
    assert torch.equal(apply_rope(q, c, s), hf_q) and torch.equal(apply_rope(k, c, s), hf_k)
    assert torch.equal(apply_rope(q[1:], cos[200:], sin[200:]), hf_q[1:])  # a longer table: first rows used


def complex_rope(x, positions, theta):
    d = x.shape[-1]
    inv_freq = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = positions.double()[:, None] * inv_freq
    z = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d // 2, 2))
    return torch.view_as_real(z * torch.exp(1j * angles)).flatten(-2)


def test_interleaved_equals_complex_reference_deepseek_and_permuted_half_split():
    torch.manual_seed(0)
    cos, sin = rope_cos_sin(32, 64)
    x = torch.randn(2, 3, 64, 32)
    inter = apply_rope(x, cos, sin, interleaved=True)
    torch.testing.assert_close(inter.double(), complex_rope(x, torch.arange(64), 10_000.0), rtol=0, atol=1e-5)
    perm = half_split_permutation(32)
    assert perm.tolist() == list(range(0, 32, 2)) + list(range(1, 32, 2))
    torch.testing.assert_close(apply_rope(x[..., perm], cos, sin), inter[..., perm], rtol=0, atol=1e-6)
    ds_q, _ = apply_rotary_pos_emb_interleave(x, x, cos[None], sin[None])
    torch.testing.assert_close(inter[..., perm], ds_q, rtol=0, atol=1e-6)
    c3, s3 = cos[None].expand(2, -1, -1), sin[None].expand(2, -1, -1)
    assert torch.equal(apply_rope(x, c3, s3, interleaved=True), inter)
    w_q, w_k = torch.randn(2, 32, 48)                                 # one head: rows of q_proj and k_proj
    h = torch.randn(1, 1, 10, 48)
    scores = [apply_rope(h @ wq.T, cos, sin, i) @ apply_rope(h @ wk.T, cos, sin, i).transpose(-1, -2)
              for wq, wk, i in ((w_q, w_k, True), (w_q[perm], w_k[perm], False))]
    torch.testing.assert_close(scores[0], scores[1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("interleaved", [False, True])
def test_score_depends_only_on_the_offset(interleaved):
    inv_freq, factor = rope_frequencies(64, scaling={"rope_type": "yarn", "factor": 4.0,
                                                     "original_max_position_embeddings": 128})
    cos, sin = rope_table(inv_freq.double(), 600, factor)              # float64 angles: no rounding noise
    q, k = torch.randn(2, 1, 1, 1, 64, dtype=torch.float64)
    rq = apply_rope(q.expand(1, 1, 600, 64), cos, sin, interleaved)[0, 0]
    rk = apply_rope(k.expand(1, 1, 600, 64), cos, sin, interleaved)[0, 0]
    for offset in (0, 3, 250):
        m = torch.arange(offset, 600)
        scores = (rq[m] * rk[m - offset]).sum(-1)
        assert scores.max() - scores.min() < 1e-9
    assert abs((rq[10] @ rk[3]) - (rq[3] @ rk[10])) > 1e-3           # the sign of the offset matters


def published_alibi_slopes(n):
    """Press et al.: for n a power of two, 2^(-8i/n), i = 1..n; otherwise those of the closest power of two p < n,
    then every other slope of 2p heads (i = 1, 3, 5, ...) until there are n."""
    if n & (n - 1) == 0:
        return [2 ** (-8 * i / n) for i in range(1, n + 1)]
    p = 2 ** int(math.log2(n))
    return published_alibi_slopes(p) + published_alibi_slopes(2 * p)[0::2][: n - p]


@pytest.mark.parametrize("n", [1, 2, 8, 12, 16, 20, 40])
def test_alibi_slopes_follow_the_published_formula(n):
    torch.testing.assert_close(alibi_slopes(n), torch.tensor(published_alibi_slopes(n)))


def test_alibi_slopes_for_8_and_12_heads_explicitly():
    eight = [1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]
    assert alibi_slopes(8).tolist() == eight
    torch.testing.assert_close(alibi_slopes(12), torch.tensor(eight + [2 ** -0.5, 2 ** -1.5, 2 ** -2.5, 2 ** -3.5]))


def test_alibi_bias_shapes_values_and_causal_mask():
    bias = alibi_bias(4, 3, 5)                                        # queries at positions 2, 3, 4
    assert bias.shape == (4, 3, 5) and bias.dtype == torch.float32
    assert bias[0, 0].tolist() == [-0.5, -0.25, 0.0, -0.25, -0.5]      # slope 2^(-8/4) = 1/4
    causal = alibi_bias(4, 3, 5, causal=True)
    assert torch.isinf(causal[:, 0, 3:]).all() and torch.isinf(causal[:, 1, 4:]).all()
    assert torch.equal(causal[:, 2], bias[:, 2])


@pytest.mark.parametrize("call,message", [
    (lambda: rope_frequencies(64, scaling={"rope_type": "ntk"}), "supported: default, linear, dynamic, yarn, llama3"),
    (lambda: rope_frequencies(64, scaling={"rope_type": "yarn", "factor": 4.0}), "original_max_position_embeddings"),
    (lambda: rope_frequencies(64, scaling={"rope_type": "llama3", "factor": 8.0, "original_max_position_embeddings": 8192}),
     "low_freq_factor, high_freq_factor"),
    (lambda: rope_frequencies(64, scaling={"rope_type": "linear"}), "needs factor"),
    (lambda: rope_frequencies(64, scaling={"rope_type": "linear", "factor": 2.0, "beta_fast": 3}), "does not use beta_fast"),
    (lambda: rope_frequencies(64, scaling={"rope_type": "linear", "factor": 0.5}), "factor must be >= 1"),
    (lambda: rope_frequencies(63), "must be even"),
    (lambda: rope_frequencies(64, 10_000.0, {"rope_type": "default", "rope_theta": 500_000.0}), "theta=10000.0"),
    (lambda: apply_rope(torch.randn(1, 2, 10, 16), *rope_cos_sin(16, 8)), "8 positions, x has 10"),
    (lambda: apply_rope(torch.randn(2, 10, 16), *rope_cos_sin(16, 10)), "(batch, heads, seq, head_dim)"),
    (lambda: apply_rope(torch.randn(1, 2, 10, 16), *rope_cos_sin(32, 10)), "at most head_dim=16"),
    (lambda: alibi_slopes(0), "positive integer"),
    (lambda: alibi_bias(4, 6, 5), "q_len=6, k_len=5"),
    (lambda: scores_by_distance(torch.randn(8), torch.randn(8), 10, "xpos"), "choose one of"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ValueError, match=None) as info:
        call()
    assert message in str(info.value)


def test_scores_by_distance_and_explorer_react_headless():
    q = torch.randn(16)
    rope = scores_by_distance(q, q, 50, "rope")
    assert rope.shape == (51,) and rope[0] == pytest.approx((q @ q).item() / 4, rel=1e-5)
    linear = scores_by_distance(q, q, 200, "linear", factor=4.0)
    torch.testing.assert_close(linear[::4][:51], rope, rtol=1e-4, atol=1e-4)   # interpolation stretches by s
    alibi = scores_by_distance(q, q, 10, "alibi", alibi_slope=0.5)
    torch.testing.assert_close(alibi, (q @ q) / 4 - 0.5 * torch.arange(11.0))
    widget = position_explorer(head_dim=16, original_context=64)
    (scheme, vectors), (factor, distance, slope), image, info = (*(c.children for c in widget.children[:2]),
                                                                 *widget.children[2:])
    first = image.value
    assert first[:4] == b"\x89PNG" and "rope" in info.value
    scheme.value = "yarn"
    assert image.value != first and "yarn" in info.value
    before = image.value
    factor.value = 8.0
    distance.value = 512
    assert image.value != before and "distance 512" in info.value
    vectors.value = "random q, k"
    slope.value = 0.25
    scheme.value = "alibi"
    assert "alibi" in info.value
