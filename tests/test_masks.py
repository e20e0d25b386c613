"""One forward pass for every caller: attention_mask (padding, left and right, with and without a KV cache),
position_ids (packed documents), hidden_states, against transformers with the same weights."""
import pytest
import torch
from transformers import AutoModelForCausalLM, DeepseekV3Config, LlamaConfig, MistralConfig, MixtralConfig, Qwen3Config

from rawllm.model import ModelConfig, Transformer, build_attention_mask, document_ids
from rawllm.moe import MoETransformer

TINY = dict(vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=128, bos_token_id=None, eos_token_id=None, pad_token_id=None)
FAMILIES = {
    "llama": lambda: LlamaConfig(**TINY, num_key_value_heads=2),
    "qwen3": lambda: Qwen3Config(**TINY, num_key_value_heads=2, head_dim=32),
    "mistral-sliding": lambda: MistralConfig(**TINY, num_key_value_heads=2, sliding_window=6),
    "mixtral": lambda: MixtralConfig(**TINY, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2),
    "deepseek_v3": lambda: DeepseekV3Config(**TINY, num_key_value_heads=4, n_routed_experts=4, num_experts_per_tok=2,
                                            moe_intermediate_size=32, n_shared_experts=1, n_group=2, topk_group=1,
                                            first_k_dense_replace=1, kv_lora_rank=32, q_lora_rank=48,
                                            qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16),
}
LENGTHS = [9, 4, 12, 1]                                   # real tokens per row; the batch is 12 columns wide


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def twins(name, folder):
    """A transformers model with random weights (off their init) and our model loaded from its checkpoint."""
    hf = AutoModelForCausalLM.from_config(FAMILIES[name]()).eval()
    with torch.no_grad():
        for tensor in [*hf.parameters(), *(b for n, b in hf.named_buffers() if "e_score" in n)]:
            tensor.add_(torch.randn_like(tensor) * 0.05)
    hf.save_pretrained(folder)
    return hf, Transformer.from_pretrained(folder)


def padded_batch(lengths, side, width=12):
    """(input_ids, attention_mask, position_ids) of rows with `lengths` real tokens, padded on `side` with random
    ids (a model that read the padding would show it), positions counting from each row's first real token."""
    ids = torch.randint(0, 256, (len(lengths), width))
    columns = torch.arange(width)
    n_pad = torch.tensor([width - n for n in lengths])[:, None]
    mask = (columns >= n_pad) if side == "left" else (columns < width - n_pad)
    positions = (mask.long().cumsum(-1) - 1).clamp_min(0)
    return ids, mask.long(), positions


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("name", FAMILIES)
def test_padded_batch_equals_transformers_on_real_tokens(name, side, tmp_path):
    hf, ours = twins(name, tmp_path)
    ids, mask, positions = padded_batch(LENGTHS, side)
    with torch.no_grad():
        expected = hf(ids, attention_mask=mask, position_ids=positions).logits
        got = ours(ids, attention_mask=mask, position_ids=positions)
    real = mask.bool()
    assert torch.isfinite(got).all(), "padding rows must not turn into NaN"
    torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["llama", "mixtral"])
def test_padded_rows_equal_the_same_prompts_alone(name, tmp_path):
    _, ours = twins(name, tmp_path)
    ids, mask, positions = padded_batch(LENGTHS, "left")
    with torch.no_grad():
        batch = ours(ids, attention_mask=mask, position_ids=positions)
        for row, n in enumerate(LENGTHS):
            alone = ours(ids[row:row + 1, -n:])
            torch.testing.assert_close(batch[row, -n:], alone[0], atol=1e-5, rtol=1e-5)


def test_hidden_states_equal_transformers_last_hidden_state(tmp_path):
    hf, ours = twins("qwen3", tmp_path)
    ids, mask, positions = padded_batch(LENGTHS, "right")
    with torch.no_grad():
        expected = hf.model(ids, attention_mask=mask, position_ids=positions).last_hidden_state
        got = ours.hidden_states(ids, attention_mask=mask, position_ids=positions)
    assert got.shape == (len(LENGTHS), 12, 64)
    real = mask.bool()
    torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.lm_head(got), ours(ids, attention_mask=mask, position_ids=positions))


@pytest.mark.parametrize("name", ["llama", "mixtral"])
def test_packed_documents_equal_the_documents_one_by_one(name, tmp_path):
    hf, ours = twins(name, tmp_path)
    docs = [torch.randint(0, 256, (n,)) for n in (5, 7, 4)]
    row = torch.cat(docs)[None]
    positions = torch.cat([torch.arange(len(d)) for d in docs])[None]
    with torch.no_grad():
        packed = ours(row, position_ids=positions)
        reference = hf(row, position_ids=positions, use_cache=False).logits      # transformers' packed path
        one_by_one = torch.cat([hf(d[None]).logits for d in docs], dim=1)
    torch.testing.assert_close(packed, one_by_one, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(packed, reference, atol=1e-5, rtol=1e-5)


def test_document_ids_start_where_positions_do_not_step_by_one():
    positions = torch.tensor([[0, 1, 2, 0, 1, 0, 0, 1], [3, 4, 5, 6, 7, 8, 9, 10]])
    assert document_ids(positions).tolist() == [[0, 0, 0, 1, 1, 2, 3, 3], [0, 0, 0, 0, 0, 0, 0, 0]]


def test_the_mask_hides_padding_keys_and_other_documents_but_never_a_token_from_itself():
    mask = build_attention_mask(torch.tensor([[0, 1, 1, 1]]), torch.tensor([[0, 0, 1, 0]]), n_cached=0, n_new=4)
    assert mask.shape == (1, 1, 4, 4)
    assert mask[0, 0].long().tolist() == [[1, 0, 0, 0],       # a padding query sees only itself
                                          [0, 1, 1, 0],       # document 1 = columns 1, 2
                                          [0, 1, 1, 0],
                                          [0, 0, 0, 1]]       # document 2 = column 3
    cached = build_attention_mask(torch.tensor([[0, 1, 1, 1, 1]]), torch.tensor([[3]]), n_cached=4, n_new=1)
    assert cached[0, 0].long().tolist() == [[0, 1, 1, 1, 1]]  # one new token: every real key, documents ignored
    assert build_attention_mask(None, None, 0, 4) is None      # plain causal: SDPA's fast path


@pytest.mark.parametrize("name", ["llama", "qwen3", "mixtral"])
def test_padded_cached_decoding_equals_generate(name, tmp_path):
    hf, ours = twins(name, tmp_path)
    ids, mask, positions = padded_batch([5, 8, 3], "left", width=8)
    new_tokens = 6
    expected = hf.generate(ids, attention_mask=mask, max_new_tokens=new_tokens, do_sample=False,
                           pad_token_id=0)[:, ids.shape[1]:]
    cache = ours.new_cache(ids.shape[0], ids.shape[1] + new_tokens)
    tokens = []
    with torch.no_grad():
        logits = ours(ids, attention_mask=mask, position_ids=positions, cache=cache)
        for _ in range(new_tokens):
            token = logits[:, -1].argmax(-1)[:, None]                                  # (batch, 1)
            tokens.append(token)
            mask = torch.cat([mask, torch.ones_like(token)], dim=1)                     # (batch, cached + 1)
            positions = positions[:, -1:] + 1
            logits = ours(token, attention_mask=mask, position_ids=positions, cache=cache)
    assert torch.equal(torch.cat(tokens, dim=1), expected)


def test_padded_decoding_with_and_without_cache_agree_on_right_padding(tmp_path):
    """Right padding with a cache: the padding columns stay masked for every later token."""
    _, ours = twins("llama", tmp_path)
    ids, mask, _ = padded_batch([6, 3], "right", width=6)
    step = torch.randint(0, 256, (2, 1))
    full_ids, full_mask = torch.cat([ids, step], 1), torch.cat([mask, torch.ones(2, 1, dtype=torch.long)], 1)
    with torch.no_grad():
        cache = ours.new_cache(2, 7)
        ours(ids, attention_mask=mask, cache=cache)
        cached = ours(step, attention_mask=full_mask, cache=cache)[:, -1]
        uncached = ours(full_ids, attention_mask=full_mask)[:, -1]
    torch.testing.assert_close(cached, uncached, atol=1e-5, rtol=1e-5)


def test_eager_attention_and_gradient_checkpointing_take_the_mask(tmp_path):
    _, ours = twins("llama", tmp_path)
    eager = Transformer(ModelConfig(**{**vars(ours.config), "attn_implementation": "eager"}))
    eager.load_state_dict(ours.state_dict())
    ids, mask, positions = padded_batch(LENGTHS, "left")
    real = mask.bool()
    torch.testing.assert_close(eager(ids, attention_mask=mask, position_ids=positions)[real],
                               ours(ids, attention_mask=mask, position_ids=positions)[real], atol=1e-5, rtol=1e-5)
    grads = []
    for checkpointing in (False, True):
        ours.train().zero_grad()
        ours.gradient_checkpointing = checkpointing
        ours(ids, attention_mask=mask, position_ids=positions)[real].logsumexp(-1).sum().backward()
        grads.append([p.grad.clone() for p in ours.parameters()])
    for plain, checkpointed in zip(*grads):
        torch.testing.assert_close(plain, checkpointed)


def test_moe_routing_is_recorded_after_a_padded_call(tmp_path):
    _, ours = twins("mixtral", tmp_path)
    assert isinstance(ours, MoETransformer)
    ids, mask, positions = padded_batch(LENGTHS, "left")
    with torch.no_grad():
        ours(ids, attention_mask=mask, position_ids=positions)
    routings = ours.routings()
    assert len(routings) == 2 and all(r.experts.shape == (ids.numel(), 2) for r in routings)


def test_forward_reads_no_tensor_values_on_an_accelerator():
    """On a GPU, reading a value in Python (`.min()`, `.item()`, `.any()`) makes the host wait for the device.
    Tensors on the meta device have no values at all: a forward pass that runs there reads none."""
    config = ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=32)
    with torch.device("meta"):
        model = Transformer(config)
        ids = torch.zeros(3, 10, dtype=torch.long)
        logits = model(ids, attention_mask=torch.ones(3, 10, dtype=torch.long),
                       position_ids=torch.zeros(3, 10, dtype=torch.long))
        cache = model.new_cache(3, 16)
        model(ids, cache=cache)
        model(ids[:, :1], attention_mask=torch.ones(3, 11, dtype=torch.long), cache=cache)
    assert logits.shape == (3, 10, 64)


@pytest.mark.parametrize("kwargs, message", [
    (dict(attention_mask=torch.ones(2, 5)), r"attention_mask must be \(batch, cached \+ new tokens\) = \(2, 0 \+ 6\)"),
    (dict(position_ids=torch.zeros(2, 5, dtype=torch.long)), r"position_ids must be \(batch, seq\) = \(2, 6\)"),
    (dict(position_ids=torch.zeros(2, 6)), "position_ids must be integers"),
])
def test_bad_masks_and_positions_are_named(kwargs, message):
    model = Transformer(ModelConfig(vocab_size=64, d_model=32, n_layers=1, n_heads=4, max_seq_len=32))
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(2, 6, dtype=torch.long), **kwargs)
