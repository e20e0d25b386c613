"""rawllm.generate: logits transforms against transformers, cached / batched / streamed decoding, speculative
decoding's distribution, bad input, the sampling explorer."""
import itertools
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from conftest import NOTEBOOKS_DIR
from transformers import AutoModelForCausalLM, LlamaConfig
from transformers.generation.logits_process import (MinPLogitsWarper, RepetitionPenaltyLogitsProcessor,
                                                    TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)

import rawllm.generate as generation
from rawllm.generate import (TextStreamer, apply_repetition_penalty, apply_temperature, generate, left_padding,
                             min_p_filter, model_logits, process_logits, residual_distribution, sampling_explorer,
                             rewind, speculative_accept, speculative_generate, stream, stream_text, top_k_filter,
                             top_p_filter, utf8_complete_prefix)
from rawllm.model import ModelConfig, Transformer, greedy_decode
from rawllm.tokenizer import BPETokenizer

TINY_HF = dict(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, max_position_embeddings=128, bos_token_id=None, eos_token_id=None,
               pad_token_id=None)


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def random_model(vocab=64, d_model=32, n_layers=2, seed=0, scale=0.1, max_seq_len=128, **extra):
    """A small Transformer with weights moved off their initialisation, so its distributions are far from uniform."""
    torch.manual_seed(seed)
    model = Transformer(ModelConfig(vocab_size=vocab, d_model=d_model, n_layers=n_layers, n_heads=4, n_kv_heads=2,
                                    max_seq_len=max_seq_len, **extra)).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * scale)
    return model


def perturbed(model, scale, seed=1):
    """A copy of model with noise on its weights: a draft that agrees with it part of the time."""
    torch.manual_seed(seed)
    copy = Transformer(model.config).eval()
    copy.load_state_dict(model.state_dict())
    with torch.no_grad():
        for param in copy.parameters():
            param.add_(torch.randn_like(param) * scale)
    return copy


def left_padded(rows, pad=0):
    width = max(map(len, rows))
    ids = torch.tensor([[pad] * (width - len(r)) + list(r) for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


# ---- logits transforms ---------------------------------------------------------------------------

TRANSFORMS = {
    "temperature-0.5": (lambda x, h: apply_temperature(x, 0.5), TemperatureLogitsWarper(0.5)),
    "temperature-2": (lambda x, h: apply_temperature(x, 2.0), TemperatureLogitsWarper(2.0)),
    "top-k-1": (lambda x, h: top_k_filter(x, 1), TopKLogitsWarper(1)),
    "top-k-10": (lambda x, h: top_k_filter(x, 10), TopKLogitsWarper(10)),
    "top-k-past-vocab": (lambda x, h: top_k_filter(x, 1000), TopKLogitsWarper(1000)),
    "top-p-0.5": (lambda x, h: top_p_filter(x, 0.5), TopPLogitsWarper(0.5)),
    "top-p-0.95": (lambda x, h: top_p_filter(x, 0.95), TopPLogitsWarper(0.95)),
    "top-p-1": (lambda x, h: top_p_filter(x, 1.0), TopPLogitsWarper(1.0)),
    "top-p-tiny-keeps-one": (lambda x, h: top_p_filter(x, 1e-6), TopPLogitsWarper(1e-6)),
    "min-p-0": (lambda x, h: min_p_filter(x, 0.0), MinPLogitsWarper(0.0)),
    "min-p-0.05": (lambda x, h: min_p_filter(x, 0.05), MinPLogitsWarper(0.05)),
    "min-p-0.3": (lambda x, h: min_p_filter(x, 0.3), MinPLogitsWarper(0.3)),
    "min-p-1": (lambda x, h: min_p_filter(x, 1.0), MinPLogitsWarper(1.0)),
    "repetition-1.5": (lambda x, h: apply_repetition_penalty(x, h, 1.5), RepetitionPenaltyLogitsProcessor(1.5)),
    "repetition-0.7": (lambda x, h: apply_repetition_penalty(x, h, 0.7), RepetitionPenaltyLogitsProcessor(0.7)),
}


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("name", TRANSFORMS)
def test_transforms_equal_transformers_processors(name, ties):
    logits = torch.randn(16, 200) * 3
    if ties:
        logits = logits.round()                                   # many tokens share a logit
    history = torch.randint(0, 200, (16, 40))
    ours, processor = TRANSFORMS[name]
    expected = processor(history, logits.clone())
    got = ours(logits, history)
    torch.testing.assert_close(got, expected, atol=0, rtol=0)
    assert torch.isfinite(got).any(-1).all()                       # at least one token survives every filter


def test_filters_keep_what_they_promise():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    kept = lambda out: torch.isfinite(out[0]).nonzero()[:, 0].tolist()
    assert kept(top_k_filter(logits, 2)) == [0, 1]
    assert kept(top_p_filter(logits, 0.8)) == [0, 1]              # 0.5 + 0.3 reaches 0.8
    assert kept(top_p_filter(logits, 0.81)) == [0, 1, 2]
    assert kept(min_p_filter(logits, 0.3)) == [0, 1, 2]           # >= 0.3 * 0.5 = 0.15
    torch.testing.assert_close(apply_repetition_penalty(torch.tensor([[2.0, -2.0, 1.0]]), torch.tensor([[0, 1]]), 2.0),
                               torch.tensor([[1.0, -4.0, 1.0]]))


def test_repetition_penalty_leaves_padding_out():
    logits, ids = torch.randn(2, 10), torch.tensor([[7, 7, 3], [1, 2, 3]])
    mask = torch.tensor([[0, 0, 1], [1, 1, 1]])
    out = apply_repetition_penalty(logits, ids, 2.0, mask)
    assert torch.equal(out[0, 7], logits[0, 7]) and not torch.equal(out[0, 3], logits[0, 3])
    torch.testing.assert_close(out[1], apply_repetition_penalty(logits[1:], ids[1:], 2.0)[0])


def test_sampling_equals_transformers_generate_with_the_same_seed(tmp_path):
    """The whole chain (penalty, temperature, top-k, top-p, min-p, then one multinomial draw per step) is
    transformers' own: with the same global seed both draw the same tokens."""
    hf = AutoModelForCausalLM.from_config(LlamaConfig(**TINY_HF)).eval()
    hf.save_pretrained(tmp_path)
    ours = Transformer.from_pretrained(tmp_path)
    prompt = torch.randint(0, 96, (3, 6))
    settings = dict(temperature=0.9, top_k=30, top_p=0.9, min_p=0.02, repetition_penalty=1.2)
    torch.manual_seed(123)
    theirs = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=15, do_sample=True,
                         pad_token_id=0, **settings)
    torch.manual_seed(123)
    assert torch.equal(generate(ours, prompt, 15, **settings), theirs[:, 6:])


# ---- decoding loop -----------------------------------------------------------------------------

def test_greedy_equals_transformers_generate_alone_and_left_padded(tmp_path):
    hf = AutoModelForCausalLM.from_config(LlamaConfig(**TINY_HF)).eval()
    with torch.no_grad():
        for param in hf.parameters():
            param.add_(torch.randn_like(param) * 0.02)
    hf.save_pretrained(tmp_path)
    ours = Transformer.from_pretrained(tmp_path)
    prompt = torch.randint(0, 96, (2, 5))
    theirs = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=20, do_sample=False,
                         pad_token_id=0)
    assert torch.equal(generate(ours, prompt, 20, greedy=True), theirs[:, 5:])
    ids, mask = left_padded([torch.randint(1, 96, (n,)).tolist() for n in (2, 9, 5)])
    theirs = hf.generate(ids, attention_mask=mask, max_new_tokens=20, do_sample=False, pad_token_id=0)
    assert torch.equal(generate(ours, ids, 20, greedy=True, attention_mask=mask), theirs[:, ids.shape[1]:])


def test_cached_decoding_equals_uncached():
    model = random_model()
    prompt = torch.randint(0, 64, (3, 7))
    assert torch.equal(generate(model, prompt, 25, greedy=True), generate(model, prompt, 25, greedy=True, use_cache=False))
    assert torch.equal(generate(model, prompt, 25, greedy=True), greedy_decode(model, prompt, 25)[:, 7:])
    seeded_run = lambda use_cache: generate(model, prompt, 25, top_k=20, use_cache=use_cache,
                                            generator=torch.Generator().manual_seed(3))
    assert torch.equal(seeded_run(True), seeded_run(False))


def test_padded_logits_equal_each_row_alone_with_and_without_cache():
    model = random_model()
    rows = [torch.randint(0, 64, (n,)).tolist() for n in (3, 8, 1, 6)]
    ids, mask = left_padded(rows)
    n_pad = left_padding(ids, mask)
    full = model_logits(model, ids, None, 0, n_pad)
    cache = model.new_cache(4, 8)
    pieces = torch.cat([model_logits(model, chunk, cache, start, n_pad)
                        for chunk, start in zip(ids.split([5, 1, 2], 1), (0, 5, 6))], 1)
    for i, row in enumerate(rows):
        with torch.no_grad():
            alone = model(torch.tensor([row]))[0]
        torch.testing.assert_close(full[i, 8 - len(row):], alone, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(pieces[i, 8 - len(row):], alone, atol=1e-5, rtol=1e-5)


def test_rewind_forgets_later_positions_and_the_next_write_goes_there():
    """Prompt, then junk, rewind to the prompt's end, then a continuation: the same logits as a fresh cache fed the
    prompt and the continuation (and as the full forward), so the junk is neither seen nor kept."""
    model = random_model()
    prompt, junk, more = torch.randint(0, 64, (2, 6)), torch.randint(0, 64, (2, 5)), torch.randint(0, 64, (2, 3))
    with torch.no_grad():
        fresh = model.new_cache(2, 16)
        model(prompt, cache=fresh)
        expected = model(more, cache=fresh)
        cache = model.new_cache(2, 16)
        model(prompt, cache=cache)
        model(junk, cache=cache)
        rewind(cache, 15)                                       # past the end: nothing to forget
        assert [c.pos for c in cache] == [11, 11]
        rewind(cache, 6)
        assert [c.pos for c in cache] == [6, 6]
        after = model(more, cache=cache, start_pos=6)           # start_pos must be where the cache now ends
        torch.testing.assert_close(after, expected, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(after, model(torch.cat([prompt, more], 1))[:, 6:], atol=1e-5, rtol=1e-5)
        assert [c.pos for c in cache] == [9, 9]
        for c, f in zip(cache, fresh):
            torch.testing.assert_close(c.k[:, :, :9], f.k[:, :, :9], atol=1e-6, rtol=1e-6)
        rewind(cache, 0)                                        # all the way back: a fresh start
        torch.testing.assert_close(model(prompt, cache=cache), model(prompt), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layer_types", [None, ["full_attention", "sliding_attention"]])
def test_rewinding_a_rolling_cache_that_overwrote_positions_raises(layer_types):
    model = random_model(sliding_window=4, layer_types=layer_types)
    cache = model.new_cache(1, 16)
    with torch.no_grad():
        model(torch.randint(0, 64, (1, 6)), cache=cache)        # 6 positions in a window of 4: 0 and 1 are gone
    rewind(cache, 6)                                            # not backwards: fine
    rewind(cache, 10)
    assert {c.pos for c in cache} == {6}
    with pytest.raises(ValueError, match="rolling cache"):
        rewind(cache, 3)
    assert {c.pos for c in cache} == {6}, "a refused rewind must leave every layer as it was"


@pytest.mark.parametrize("back_to", [5, 2])
def test_a_rolling_cache_rewinds_while_it_holds_the_window(back_to):
    """Window 4: after 6 tokens positions 2..5 are held, so a rewind to 5 (which needs 2..4) works; after 3
    tokens nothing was overwritten, so a rewind to 2 works. Either way, what follows equals a fresh cache."""
    model = random_model(sliding_window=4)
    seen = 6 if back_to == 5 else 3
    tokens, more = torch.randint(0, 64, (1, seen)), torch.randint(0, 64, (1, 3))
    with torch.no_grad():
        cache = model.new_cache(1, 16)
        model(tokens, cache=cache)
        rewind(cache, back_to)
        after = model(more, cache=cache)
        expected = model(torch.cat([tokens[:, :back_to], more], 1))[:, back_to:]
    torch.testing.assert_close(after, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("use_cache", [True, False])
def test_batched_generation_equals_each_row_alone(use_cache):
    model = random_model()
    rows = [torch.randint(0, 64, (n,)).tolist() for n in (4, 1, 10, 7)]
    ids, mask = left_padded(rows, pad=5)
    together = generate(model, ids, 30, greedy=True, attention_mask=mask, repetition_penalty=1.3, use_cache=use_cache)
    for i, row in enumerate(rows):
        assert torch.equal(together[i], generate(model, [row], 30, greedy=True, repetition_penalty=1.3)[0])


def test_batched_moe_generation_equals_each_row_alone():
    from rawllm.moe import MoEConfig, MoETransformer
    torch.manual_seed(0)
    model = MoETransformer(MoEConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_experts=4, top_k=2,
                                     moe_d_ff=32, max_seq_len=64)).eval()
    rows = [torch.randint(0, 64, (n,)).tolist() for n in (2, 6)]
    ids, mask = left_padded(rows)
    together = generate(model, ids, 10, greedy=True, attention_mask=mask)
    for i, row in enumerate(rows):
        assert torch.equal(together[i], generate(model, [row], 10, greedy=True)[0])


def test_rows_stop_at_their_stop_ids_and_repeat_them():
    model = random_model()
    prompt = torch.randint(0, 64, (4, 5))
    free = generate(model, prompt, 30, greedy=True)
    stop = int(free[0, 3])
    stopped = generate(model, prompt, 30, greedy=True, stop_ids=[stop])
    for row_free, row in zip(free, stopped):
        hits = (row_free == stop).nonzero()
        end = int(hits[0]) + 1 if len(hits) else len(row_free)
        assert torch.equal(row[:end], row_free[:end]) and (row[end:] == stop).all()
    last_stop = max(int((r == stop).nonzero()[0]) + 1 if (r == stop).any() else 30 for r in free)
    assert stopped.shape[1] == last_stop
    assert generate(model, prompt, 0).shape == (4, 0)


def test_stream_yields_what_generate_returns():
    model = random_model()
    prompt = torch.randint(0, 64, (2, 4))
    steps = list(stream(model, prompt, 12, top_p=0.8, generator=torch.Generator().manual_seed(5)))
    assert all(step.shape == (2,) for step in steps)
    assert torch.equal(torch.stack(steps, 1), generate(model, prompt, 12, top_p=0.8,
                                                       generator=torch.Generator().manual_seed(5)))


# ---- streaming text ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tokenizer():
    texts = ["The little fox found a red ball. The fox was happy!", "Once upon a time, Zoë met an owl."] * 5
    return BPETokenizer.train(texts, 300, special_tokens=["<|endoftext|>"])


def test_utf8_complete_prefix():
    data = "aé🦊".encode()                                           # 1 + 2 + 4 bytes
    assert [utf8_complete_prefix(data[:n]) for n in range(len(data) + 1)] == [0, 1, 1, 3, 3, 3, 3, 7]
    assert utf8_complete_prefix(b"\x80\x80") == 2                   # stray continuation bytes are passed on


def test_streamer_never_splits_characters(tokenizer):
    text = "Zoë saw 🦊 and «bonjour» 你好."
    ids = tokenizer.encode(text)
    streamer = TextStreamer(tokenizer)
    pieces = [streamer.push(t) for t in ids] + [streamer.finish()]
    assert "".join(pieces) == text and "\ufffd" not in "".join(pieces)
    assert "\ufffd" in "".join(tokenizer.decode([t]) for t in ids)   # what decoding one token at a time does


def test_streamed_text_equals_generated_text(tokenizer):
    model = random_model(vocab=tokenizer.vocab_size)
    prompt = "Once upon a time"
    pieces = list(stream_text(model, tokenizer, prompt, 40, temperature=1.3, generator=torch.Generator().manual_seed(2)))
    new = generate(model, [tokenizer.encode(prompt)], 40, temperature=1.3, generator=torch.Generator().manual_seed(2))
    assert "".join(pieces) == tokenizer.decode(new[0].tolist())
    assert len(pieces) > 5


# ---- speculative decoding ----------------------------------------------------------------------

def test_speculative_accept_yields_the_target_distribution_at_each_position():
    """One round, many identical rows: the token at the first position (accepted draft or residual sample) follows
    p[:, 0] exactly, and the bonus token of the rows that accepted every draft follows p[:, k]."""
    vocab, k, rows = 6, 2, 200_000
    p = torch.softmax(torch.randn(1, k + 1, vocab) * 2, -1).expand(rows, -1, -1)
    q = torch.softmax(torch.randn(1, k, vocab) * 2, -1).expand(rows, -1, -1)
    generator = torch.Generator().manual_seed(0)
    drafts = torch.stack([torch.multinomial(q[:, j], 1, generator=generator)[:, 0] for j in range(k)], 1)
    n_accepted, tokens = speculative_accept(p, q, drafts, generator)
    first = torch.bincount(tokens[:, 0], minlength=vocab) / rows
    torch.testing.assert_close(first, p[0, 0], atol=5e-3, rtol=0)
    all_accepted = n_accepted == k
    bonus = torch.bincount(tokens[all_accepted, k], minlength=vocab) / all_accepted.sum()
    torch.testing.assert_close(bonus, p[0, k], atol=2.0 / all_accepted.sum().item() ** 0.5, rtol=0)
    assert torch.equal(tokens[:, :k][n_accepted[:, None] > torch.arange(k)], drafts[n_accepted[:, None] > torch.arange(k)])
    expected_accept = torch.minimum(p[0, 0], q[0, 0]).sum()
    assert abs((n_accepted >= 1).float().mean() - expected_accept) < 5e-3


def test_residual_distribution():
    p, q = torch.tensor([0.5, 0.3, 0.2]), torch.tensor([0.2, 0.5, 0.3])
    torch.testing.assert_close(residual_distribution(p, q), torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(residual_distribution(p, p), p)


def exact_distribution(model, prompt, n_new):
    continuations = torch.tensor(list(itertools.product(range(model.config.vocab_size), repeat=n_new)))
    ids = torch.cat([prompt.expand(len(continuations), -1), continuations], 1)
    with torch.no_grad():
        logp = model(ids)[:, prompt.shape[1] - 1:-1].log_softmax(-1)
    return logp.gather(-1, continuations[..., None])[..., 0].sum(1).exp()


def pooled_chi_square(counts, probs):
    """Pearson's chi-square and its degrees of freedom, outcomes expected fewer than 5 times pooled into one cell."""
    expected = probs * counts.sum()
    large = expected >= 5
    pooled = [counts[~large].sum()[None]] if (~large).any() else []         # no empty cell: 0 / 0 would be nan
    counts = torch.cat([counts[large], *pooled]).float()
    expected = torch.cat([expected[large], *([expected[~large].sum()[None]] if pooled else [])])
    return float(((counts - expected) ** 2 / expected).sum()), len(counts) - 1


def chi_square_of_samples(target, draft, prompt, n_new, n_samples, k):
    """Chi-square of speculative samples (one batch of identical rows) against the target's exact distribution."""
    new = speculative_generate(target, draft, prompt.expand(n_samples, -1), n_new, k=k,
                               generator=torch.Generator().manual_seed(0))
    vocab = target.config.vocab_size
    counts = torch.bincount((new * vocab ** torch.arange(n_new - 1, -1, -1)).sum(1), minlength=vocab ** n_new)
    return pooled_chi_square(counts, exact_distribution(target, prompt, n_new))


@pytest.fixture(scope="module")
def tiny_pair():
    target = random_model(vocab=4, d_model=16, n_layers=1, scale=0.5, max_seq_len=16, seed=0)
    draft = random_model(vocab=4, d_model=16, n_layers=1, scale=0.5, max_seq_len=16, seed=1)
    return target, draft


def test_speculative_samples_follow_the_target_distribution(tiny_pair, monkeypatch):
    """Three tokens (64 outcomes) from 30000 rows: chi-square near its degrees of freedom. Drawing from p instead
    of the residual after a rejection (a classic mistake) fails the same test by far."""
    target, draft = tiny_pair
    prompt = torch.tensor([[1, 2]])
    chi2, dof = chi_square_of_samples(target, draft, prompt, 3, 30_000, k=2)
    bound = dof + 6 * (2 * dof) ** 0.5
    assert chi2 < bound
    monkeypatch.setattr(generation, "residual_distribution", lambda p, q: p)
    wrong, _ = chi_square_of_samples(target, draft, prompt, 3, 30_000, k=2)
    assert wrong > 3 * bound


def test_speculative_with_accepting_draft_follows_the_target_distribution(tiny_pair):
    """draft == target: every proposal is accepted, each round ends with the bonus token, and the rows advance
    k + 1 tokens per round; the samples still follow the target."""
    target, _ = tiny_pair
    prompt = torch.tensor([[3, 0]])
    new, stats = speculative_generate(target, target, prompt.expand(4, -1), 7, k=3, return_stats=True,
                                      generator=torch.Generator().manual_seed(1))
    assert stats["acceptance_rate"] == 1.0 and stats["target_forwards"] == 2 and new.shape == (4, 7)
    chi2, dof = chi_square_of_samples(target, target, prompt, 3, 30_000, k=2)
    assert chi2 < dof + 6 * (2 * dof) ** 0.5


def test_speculative_one_row_at_a_time_follows_the_target(tiny_pair):
    """Batch 1, so rounds accept different numbers of drafts (the path a single prompt takes): two tokens,
    16 outcomes (the rare ones pooled), chi-square within its bound."""
    target, draft = tiny_pair
    prompt = torch.tensor([[0, 1]])
    generator = torch.Generator().manual_seed(4)
    counts = torch.zeros(16)
    for _ in range(300):
        new = speculative_generate(target, draft, prompt, 2, k=2, generator=generator)
        counts[new[0, 0] * 4 + new[0, 1]] += 1
    chi2, dof = pooled_chi_square(counts, exact_distribution(target, prompt, 2))
    assert chi2 < dof + 6 * (2 * dof) ** 0.5


TEMPERATURE_TOP_P = dict(temperature=0.8, top_p=0.8)


@pytest.fixture(scope="module")
def flat_pair():
    """Like tiny_pair with flatter distributions, so that top-p 0.8 keeps two or three of the four tokens."""
    target = random_model(vocab=4, d_model=16, n_layers=1, scale=0.1, max_seq_len=16, seed=0)
    draft = random_model(vocab=4, d_model=16, n_layers=1, scale=0.1, max_seq_len=16, seed=1)
    return target, draft


def warped_exact_distribution(model, prompt, n_new, temperature=1.0, top_p=None):
    """exact_distribution after transformers' TemperatureLogitsWarper and TopPLogitsWarper at every step."""
    vocab = model.config.vocab_size
    continuations = torch.tensor(list(itertools.product(range(vocab), repeat=n_new)))
    ids = torch.cat([prompt.expand(len(continuations), -1), continuations], 1)
    with torch.no_grad():
        scores = TemperatureLogitsWarper(temperature)(None, model(ids)[:, prompt.shape[1] - 1:-1].reshape(-1, vocab))
    if top_p is not None:
        scores = TopPLogitsWarper(top_p)(None, scores)
    logp = scores.log_softmax(-1).reshape(len(continuations), n_new, vocab)
    return logp.gather(-1, continuations[..., None])[..., 0].sum(1).exp()


def test_speculative_with_temperature_and_top_p_follows_the_processed_target(flat_pair):
    """Temperature 0.8 and top-p 0.8: three tokens (27 of 64 outcomes in the nucleus) from 30000 identical rows
    follow the target's warped distribution (transformers' warpers), never leave its nucleus, and the first token
    matches its probabilities. Sampling the target without top-p would put a third of the rows outside."""
    target, draft = flat_pair
    prompt, n_new, rows = torch.tensor([[1, 2]]), 3, 30_000
    probs = warped_exact_distribution(target, prompt, n_new, **TEMPERATURE_TOP_P)
    without_top_p = warped_exact_distribution(target, prompt, n_new, TEMPERATURE_TOP_P["temperature"])
    assert without_top_p[probs == 0].sum() > 0.3 and (probs > 0).sum() > 20     # top-p matters here
    new = speculative_generate(target, draft, prompt.expand(rows, -1), n_new, k=2, **TEMPERATURE_TOP_P,
                               generator=torch.Generator().manual_seed(0))
    vocab = target.config.vocab_size
    counts = torch.bincount((new * vocab ** torch.arange(n_new - 1, -1, -1)).sum(1), minlength=vocab ** n_new)
    assert counts[probs == 0].sum() == 0                         # nothing outside the nucleus, ever
    chi2, dof = pooled_chi_square(counts[probs > 0], probs[probs > 0])
    assert chi2 < dof + 6 * (2 * dof) ** 0.5
    first = torch.bincount(new[:, 0], minlength=vocab) / rows
    first_probs = probs.reshape(vocab, -1).sum(1)
    torch.testing.assert_close(first, first_probs, atol=4 * (0.25 / rows) ** 0.5, rtol=0)


def test_speculative_draft_and_target_process_logits_alike(flat_pair):
    """draft == target with temperature and top-p: the draft's processed distribution q must be the target's p,
    so every draft is accepted. A draft that skipped top-p (or the temperature) would propose tokens p rules out."""
    target, _ = flat_pair
    new, stats = speculative_generate(target, target, torch.tensor([[3, 0]]).expand(300, -1), 8, k=3, return_stats=True,
                                      generator=torch.Generator().manual_seed(2), **TEMPERATURE_TOP_P)
    assert new.shape == (300, 8) and stats["acceptance_rate"] == 1.0 and stats["target_forwards"] == 2


@pytest.mark.parametrize("k", [1, 3, 5])
def test_speculative_greedy_equals_greedy_generation(k):
    target = random_model(n_layers=2)
    draft = perturbed(target, 0.03)
    prompt = torch.randint(0, 64, (1, 6))
    expected = generate(target, prompt, 40, greedy=True)
    new, stats = speculative_generate(target, draft, prompt, 40, k=k, greedy=True, return_stats=True)
    assert torch.equal(new, expected)
    assert 0 < stats["acceptance_rate"] < 1                       # rounds that accept some drafts, not all
    ids, mask = left_padded([torch.randint(0, 64, (n,)).tolist() for n in (3, 7, 5)])
    together = speculative_generate(target, draft, ids, 25, k=k, greedy=True, attention_mask=mask,
                                    repetition_penalty=1.2)
    assert torch.equal(together, generate(target, ids, 25, greedy=True, attention_mask=mask, repetition_penalty=1.2))


def test_speculative_stops_like_generate():
    target = random_model()
    draft = perturbed(target, 0.03)
    prompt = torch.randint(0, 64, (3, 4))
    free = generate(target, prompt, 30, greedy=True)
    stop = int(free[1, 5])
    assert torch.equal(speculative_generate(target, draft, prompt, 30, k=3, greedy=True, stop_ids=[stop]),
                       generate(target, prompt, 30, greedy=True, stop_ids=[stop]))


# ---- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,message", [
    (dict(temperature=0.0), "temperature=0.0 must be > 0.*greedy=True"),
    (dict(temperature=-1.0), "temperature=-1.0 must be > 0"),
    (dict(top_p=0.0), r"top_p=0.0 must lie in \(0, 1\]"),
    (dict(top_p=1.5), r"top_p=1.5 must lie in \(0, 1\]"),
    (dict(top_k=0), "top_k=0 must be an integer >= 1"),
    (dict(top_k=2.5), "top_k=2.5 must be an integer >= 1"),
    (dict(min_p=-0.1), r"min_p=-0.1 must lie in \[0, 1\]"),
    (dict(repetition_penalty=0.0), "repetition_penalty=0.0 must be > 0"),
    (dict(stop_ids=[64]), r"stop_ids \[64\] must be token ids in the vocabulary 0 .. 63"),
    (dict(stop_ids=[-1]), r"stop_ids \[-1\] must be token ids"),
])
def test_bad_settings_fail_clearly(kwargs, message):
    model = random_model()
    with pytest.raises(ValueError, match=message):
        generate(model, torch.zeros(1, 3, dtype=torch.long), 5, **kwargs)
    if "stop_ids" not in kwargs:
        with pytest.raises(ValueError, match=message):
            speculative_generate(model, model, torch.zeros(1, 3, dtype=torch.long), 5, **kwargs)


def test_transforms_check_their_settings():
    logits = torch.randn(2, 10)
    with pytest.raises(ValueError, match="temperature=0 must be > 0"):
        apply_temperature(logits, 0)
    with pytest.raises(ValueError, match="top_k=0"):
        top_k_filter(logits, 0)
    with pytest.raises(ValueError, match="top_p=2"):
        top_p_filter(logits, 2)
    with pytest.raises(ValueError, match="min_p=1.5"):
        min_p_filter(logits, 1.5)


def test_greedy_ignores_temperature():
    model = random_model()
    prompt = torch.zeros(1, 3, dtype=torch.long)
    assert torch.equal(generate(model, prompt, 5, greedy=True, temperature=0.0), generate(model, prompt, 5, greedy=True))


def test_bad_prompts_fail_clearly():
    model = random_model(max_seq_len=32)
    with pytest.raises(ValueError, match="the prompt has 33 tokens, more than the model's context of max_seq_len=32"):
        generate(model, torch.zeros(1, 33, dtype=torch.long), 1)
    with pytest.raises(ValueError, match=r"the prompt's 30 tokens \+ max_new_tokens=5 exceed .* max_seq_len=32"):
        generate(model, torch.zeros(1, 30, dtype=torch.long), 5)
    with pytest.raises(ValueError, match="outside the vocabulary 0 .. 63"):
        generate(model, torch.tensor([[1, 64]]), 1)
    with pytest.raises(ValueError, match="shape \\(batch, seq\\)"):
        generate(model, torch.zeros(1, 2, 3, dtype=torch.long), 1)
    ids = torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="must be left padding"):
        generate(model, ids, 1, attention_mask=torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]]))
    with pytest.raises(ValueError, match="must match"):
        generate(model, ids, 1, attention_mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"rows \[1\] of attention_mask hold no token"):
        generate(model, ids, 1, attention_mask=torch.tensor([[0, 1, 1, 1], [0, 0, 0, 0]]))


def test_bad_model_pairs_and_windows_fail_clearly():
    target = random_model()
    with pytest.raises(ValueError, match=r"draft model's vocabulary \(65 tokens\) differs from the target's \(64\)"):
        speculative_generate(target, random_model(vocab=65), torch.zeros(1, 3, dtype=torch.long), 5)
    with pytest.raises(ValueError, match="k=0 must be an integer >= 1"):
        speculative_generate(target, target, torch.zeros(1, 3, dtype=torch.long), 5, k=0)
    windowed = random_model(sliding_window=4)
    with pytest.raises(ValueError, match="sliding-window layers"):
        speculative_generate(target, windowed, torch.zeros(1, 3, dtype=torch.long), 5)
    ids, mask = left_padded([[1, 2], [3]])
    with pytest.raises(ValueError, match="sliding-window layers keep a rolling cache"):
        generate(windowed, ids, 3, attention_mask=mask)
    assert generate(windowed, ids, 3, attention_mask=mask, use_cache=False).shape == (2, 3)


# ---- widget and module -------------------------------------------------------------------------

def test_explorer_builds_and_reacts_headless(tokenizer):
    model = random_model(vocab=tokenizer.vocab_size, scale=0.3)
    explorer = sampling_explorer(model, tokenizer, "The fox", n_samples=3, sample_tokens=6)
    prompt_box = explorer.children[0]
    temperature, top_k = explorer.children[1].children
    top_p, min_p = explorer.children[2].children
    chart, samples = explorer.children[3], explorer.children[4]
    assert chart.value[:4] == b"\x89PNG" and samples.value.count("<br>") == 2 and "<b>The fox</b>" in samples.value
    for slider, value in ((temperature, 0.3), (top_k, 3), (top_p, 0.5), (min_p, 0.2)):
        before, default = bytes(chart.value), slider.value
        slider.value = value                                       # one transform at a time changes the chart
        assert bytes(chart.value) != before
        slider.value = default
        assert bytes(chart.value) == before
    before = samples.value
    prompt_box.value = "Once upon"
    assert samples.value != before and "<b>Once upon</b>" in samples.value


def test_module_import_is_light():
    code = ("import sys, rawllm.generate; heavy = {'ipywidgets', 'matplotlib', 'transformers', 'rawllm.train'} & "
            "set(sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], cwd=NOTEBOOKS_DIR, check=True)


# The paged KV cache and continuous batching: every answer must be the one the contiguous cache gives alone.

def serving_model(**overrides):
    torch.manual_seed(3)
    config = ModelConfig(**{**dict(vocab_size=97, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=96),
                            **overrides})
    model = Transformer(config).eval()
    with torch.no_grad():                       # larger weights than the init: sharper, more varied argmaxes
        for p in model.parameters():
            p.mul_(4.0)
    return model


def random_requests(n, seed=0, max_prompt=20, max_new=30):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randint(0, 97, (int(torch.randint(1, max_prompt, (), generator=g)),), generator=g).tolist(),
             int(torch.randint(1, max_new, (), generator=g))) for _ in range(n)]


@pytest.mark.parametrize("max_batch,block_size", [(4, 4), (3, 16), (1, 1)])
def test_continuous_batching_equals_each_request_alone(max_batch, block_size):
    from rawllm.generate import continuous_batching
    model, requests = serving_model(), random_requests(11)
    answers, stats = continuous_batching(model, requests, max_batch=max_batch, num_blocks=400 // block_size,
                                         block_size=block_size)
    for (prompt, n), answer in zip(requests, answers):
        assert answer == generate(model, torch.tensor([prompt]), n, greedy=True)[0].tolist()
    assert max(stats["batch_sizes"]) == max_batch                  # the batch fills up ...
    if max_batch > 1:
        assert stats["batch_sizes"][-1] < max_batch                # ... and drains at the end


def test_continuous_batching_stops_at_a_stop_token():
    from rawllm.generate import continuous_batching
    model, requests = serving_model(), random_requests(6, seed=1, max_new=40)
    free_run = [generate(model, torch.tensor([p]), n, greedy=True)[0].tolist() for p, n in requests]
    stop = free_run[0][min(3, len(free_run[0]) - 1)]                 # a token the first answer produces
    answers, _ = continuous_batching(model, requests, max_batch=3, num_blocks=100, block_size=4, stop_ids=[stop])
    for (prompt, n), answer, unstopped in zip(requests, answers, free_run):
        expected = generate(model, torch.tensor([prompt]), n, greedy=True, stop_ids=[stop])[0].tolist()
        assert answer == expected
        if stop in unstopped:
            assert answer == unstopped[:unstopped.index(stop) + 1]
    assert any(stop in a for a in answers)


def test_a_small_pool_admits_fewer_requests_and_answers_the_same():
    from rawllm.generate import continuous_batching
    model, requests = serving_model(), [([5, 6, 7, 8, 9], 12)] * 3 + [([1, 2], 3)] * 3
    # each long request may need ceil((5 + 12 - 1) / 4) = 4 blocks: a pool of 6 holds one of them at a time
    answers, stats = continuous_batching(model, requests, max_batch=4, num_blocks=6, block_size=4)
    assert stats["peak_blocks"] <= 6 and max(stats["batch_sizes"][:11]) == 1
    for (prompt, n), answer in zip(requests, answers):
        assert answer == generate(model, torch.tensor([prompt]), n, greedy=True)[0].tolist()


def test_paged_forward_matches_the_full_forward_of_each_sequence():
    from rawllm.generate import PagedKVCache, add_sequence, paged_forward
    model = serving_model()
    sequences = {"a": list(range(3, 20)), "b": list(range(40, 45)), "c": [7]}
    cache = PagedKVCache(model, num_blocks=20, block_size=3)
    for name, ids in sequences.items():                            # prefill all but the last token, alone
        add_sequence(cache, name)
        if len(ids) > 1:
            paged_forward(model, cache, [name], torch.tensor([ids[:-1]]))
    names = list(sequences)
    step = paged_forward(model, cache, names, torch.tensor([[sequences[n][-1]] for n in names]))   # one batched step
    for row, name in enumerate(names):
        with torch.no_grad():
            full = model(torch.tensor([sequences[name]]))[0, -1]
        torch.testing.assert_close(step[row, -1], full, atol=1e-4, rtol=1e-4)
        assert cache.lengths[name] == len(sequences[name])
        assert 0 <= len(cache.tables[name]) * 3 - len(sequences[name]) < 3          # under one block wasted


def test_paged_cache_bookkeeping_and_errors():
    from rawllm.generate import PagedKVCache, add_sequence, continuous_batching, free_sequence, reserve
    model = serving_model()
    cache = PagedKVCache(model, num_blocks=5, block_size=4)
    add_sequence(cache, "x")
    reserve(cache, "x", 9)                                         # 9 tokens: 3 blocks
    assert cache.tables["x"] == [0, 1, 2] and cache.blocks_in_use() == 3
    assert cache.block_bytes == 2 * 2 * 4 * 2 * 8 * 4              # k and v, layers, slots, kv heads, head_dim, fp32
    add_sequence(cache, "y")
    with pytest.raises(ValueError, match="out of blocks: sequence 'y' needs 3 more, 2 of 5"):
        reserve(cache, "y", 12)
    with pytest.raises(ValueError, match="already in the cache"):
        add_sequence(cache, "x")
    free_sequence(cache, "x")
    reserve(cache, "y", 12)
    assert cache.tables["y"] == [0, 1, 2] and cache.blocks_in_use() == 3
    with pytest.raises(ValueError, match="request 1: 90 prompt tokens"):
        continuous_batching(model, [([1], 2), ([1] * 90, 10)])
    with pytest.raises(ValueError, match="request 0 needs 4 blocks of 4 tokens, more than the pool's 3"):
        continuous_batching(model, [([1] * 10, 6)], num_blocks=3, block_size=4)
    with pytest.raises(ValueError, match="non-empty prompt"):
        continuous_batching(model, [([], 3)])
    with pytest.raises(ValueError, match="sliding-window"):
        PagedKVCache(serving_model(sliding_window=8), num_blocks=4)
