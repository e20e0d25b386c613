# Generated from notebooks/07_generation.ipynb by notebooks/export.py. Do not edit: change the notebook and re-export.

"""From logits to text: sampling transforms, KV-cache decoding, left-padded batches, streaming, speculative
decoding, a paged KV cache and continuous batching (notebook 07)."""
import math

import torch
import torch.nn.functional as F


def check_sampling(temperature=1.0, top_k=None, top_p=None, min_p=None, repetition_penalty=None) -> None:
    """Clear errors for sampling settings that mean nothing."""
    if not temperature > 0:
        raise ValueError(f"temperature={temperature} must be > 0: temperature 0 is greedy decoding, use greedy=True")
    if top_k is not None and (int(top_k) != top_k or top_k < 1):
        raise ValueError(f"top_k={top_k} must be an integer >= 1 (None keeps every token)")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p={top_p} must lie in (0, 1]: the probability mass the kept tokens cover")
    if min_p is not None and not 0 <= min_p <= 1:
        raise ValueError(f"min_p={min_p} must lie in [0, 1]: a fraction of the top token's probability")
    if repetition_penalty is not None and not repetition_penalty > 0:
        raise ValueError(f"repetition_penalty={repetition_penalty} must be > 0 (1 changes nothing)")


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """logits / T: T < 1 sharpens the distribution, T > 1 flattens it. (batch, vocab) -> (batch, vocab)."""
    check_sampling(temperature=temperature)
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row (and any tied with the k-th); the rest become -inf."""
    check_sampling(top_k=k)
    kth = torch.topk(logits, min(int(k), logits.shape[-1]), dim=-1).values[..., -1:]   # (batch, 1)
    return logits.masked_fill(logits < kth, -math.inf)


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probability reaches p (at least one); the rest -inf."""
    check_sampling(top_p=p)
    sorted_logits, order = torch.sort(logits, dim=-1)                   # ascending
    mass_up_to = sorted_logits.softmax(dim=-1).cumsum(dim=-1)           # this token and every less likely one
    drop_sorted = mass_up_to <= 1 - p
    drop_sorted[..., -1] = False                                        # the most likely token always stays
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, -math.inf)


def min_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the tokens whose probability is at least p times the top token's; the rest -inf."""
    check_sampling(min_p=p)
    probs = logits.softmax(dim=-1)
    drop = probs < p * probs.amax(dim=-1, keepdim=True)
    drop.scatter_(-1, probs.argmax(dim=-1, keepdim=True), False)        # the top token always stays
    return logits.masked_fill(drop, -math.inf)


def apply_repetition_penalty(logits: torch.Tensor, input_ids: torch.Tensor, penalty: float,
                             attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Penalize every token id of input_ids (batch, seq): positive logits / penalty, negative ones * penalty.
    attention_mask (batch, seq), if given, marks the real tokens (padding is not penalized)."""
    check_sampling(repetition_penalty=penalty)
    present = torch.ones_like(input_ids, dtype=logits.dtype) if attention_mask is None else attention_mask.to(logits.dtype)
    seen = torch.zeros_like(logits).scatter_reduce(-1, input_ids, present, "amax") > 0     # (batch, vocab)
    return torch.where(seen, torch.where(logits < 0, logits * penalty, logits / penalty), logits)


def process_logits(logits, history=None, history_mask=None, temperature=1.0, top_k=None, top_p=None, min_p=None,
                   repetition_penalty=None, greedy=False) -> torch.Tensor:
    """The transforms in transformers' order, on float32 logits (batch, vocab): repetition penalty over history
    (batch, seq) where history_mask is true, then, when sampling, temperature, top-k, top-p and min-p."""
    logits = logits.float()
    if repetition_penalty is not None and history is not None:
        logits = apply_repetition_penalty(logits, history, repetition_penalty, history_mask)
    if greedy:
        return logits
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    if min_p is not None:
        logits = min_p_filter(logits, min_p)
    return logits


def sampling_settings(temperature=1.0, top_k=None, top_p=None, min_p=None, repetition_penalty=None,
                      greedy=False) -> dict:
    """process_logits' keyword arguments, checked (greedy decoding ignores the sampling transforms)."""
    if not greedy:
        check_sampling(temperature, top_k, top_p, min_p)
    check_sampling(repetition_penalty=repetition_penalty)
    return dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                repetition_penalty=repetition_penalty, greedy=greedy)


def next_token_probs(logits: torch.Tensor, greedy: bool = False) -> torch.Tensor:
    """The distribution a token is drawn from: softmax of processed logits, or one-hot on the argmax if greedy."""
    if greedy:
        return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
    return logits.softmax(dim=-1)


def sample(probs: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False) -> torch.Tensor:
    """One token id per row of probs (batch, vocab): (batch,). Greedy takes the argmax without a random draw."""
    if greedy:
        return probs.argmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


def check_prompt(model, input_ids, max_new_tokens, attention_mask=None, stop_ids=(), use_cache=True):
    """(input_ids (batch, seq) on the model's device, left padding per row (batch,), stop ids), validated."""
    config = model.config
    device = next(model.parameters()).device
    input_ids = torch.as_tensor(input_ids, device=device)
    input_ids = input_ids[None] if input_ids.dim() == 1 else input_ids
    if input_ids.dim() != 2 or input_ids.dtype not in (torch.int64, torch.int32) or input_ids.shape[1] == 0:
        raise ValueError(f"input_ids must be integer token ids of shape (batch, seq) with seq >= 1, got "
                         f"{input_ids.dtype} {tuple(input_ids.shape)}")
    input_ids = input_ids.long()
    if input_ids.min() < 0 or input_ids.max() >= config.vocab_size:
        bad = input_ids[(input_ids < 0) | (input_ids >= config.vocab_size)].unique()[:8].tolist()
        raise ValueError(f"token ids {bad} in input_ids are outside the vocabulary 0 .. {config.vocab_size - 1}")
    if int(max_new_tokens) != max_new_tokens or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens} must be an integer >= 0")
    n_pad = left_padding(input_ids, attention_mask)
    prompt_len = int(input_ids.shape[1] - n_pad.min())
    if prompt_len > config.max_seq_len:
        raise ValueError(f"the prompt has {prompt_len} tokens, more than the model's context of "
                         f"max_seq_len={config.max_seq_len}: shorten it (keep its last tokens)")
    if prompt_len + max_new_tokens > config.max_seq_len:
        raise ValueError(f"the prompt's {prompt_len} tokens + max_new_tokens={max_new_tokens} exceed the model's "
                         f"context of max_seq_len={config.max_seq_len}: lower max_new_tokens or shorten the prompt")
    if n_pad.any() and use_cache and any(config.window(i) for i in range(config.n_layers)):
        raise ValueError("a left-padded batch needs every cached position, but this model's sliding-window layers "
                         "keep a rolling cache: generate the rows one at a time")
    stop = torch.tensor([stop_ids] if isinstance(stop_ids, int) else list(stop_ids), dtype=torch.long,
                        device=device).flatten()
    if stop.numel() and (stop.min() < 0 or stop.max() >= config.vocab_size):
        raise ValueError(f"stop_ids {stop.tolist()} must be token ids in the vocabulary 0 .. {config.vocab_size - 1}")
    return input_ids, n_pad, stop


def stream(model, input_ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, min_p=None,
           repetition_penalty=None, stop_ids=(), attention_mask=None, generator=None, greedy=False,
           use_cache=True):
    """Yield the next token of every row, a (batch,) tensor, up to max_new_tokens times, or until every row has
    produced one of stop_ids (a finished row repeats its stop token). The arguments are generate's."""
    settings = sampling_settings(temperature, top_k, top_p, min_p, repetition_penalty, greedy)
    input_ids, n_pad, stop = check_prompt(model, input_ids, max_new_tokens, attention_mask, stop_ids, use_cache)
    return decode_steps(model, input_ids, n_pad, max_new_tokens, stop, settings, generator, use_cache)


@torch.no_grad()
def decode_steps(model, input_ids, n_pad, max_new_tokens, stop, settings, generator, use_cache):
    """Prefill the prompt, then feed back one token at a time (see stream)."""
    B, T = input_ids.shape
    cache = model.new_cache(B, T + max_new_tokens) if use_cache else None
    tokens, real = input_ids, torch.arange(T, device=input_ids.device) >= n_pad[:, None]     # (B, T) each
    done = torch.zeros(B, dtype=torch.bool, device=input_ids.device)
    step_input, n_pad = input_ids, (n_pad if n_pad.any() else None)                       # None: no row is padded
    for _ in range(max_new_tokens):
        if use_cache:
            logits = model_logits(model, step_input, cache, tokens.shape[1] - step_input.shape[1], n_pad)[:, -1]
        else:
            logits = model_logits(model, tokens, None, 0, n_pad)[:, -1]
        probs = next_token_probs(process_logits(logits, tokens, real, **settings), settings["greedy"])
        token = torch.where(done, tokens[:, -1], sample(probs, generator, settings["greedy"]))    # (B,)
        done |= torch.isin(token, stop)
        yield token
        tokens, real = torch.cat([tokens, token[:, None]], 1), torch.cat([real, real[:, -1:]], 1)
        step_input = token[:, None]
        if done.all():
            return


def generate(model, input_ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, min_p=None,
             repetition_penalty=None, stop_ids=(), attention_mask=None, generator=None, greedy=False,
             use_cache=True) -> torch.Tensor:
    """The new token ids (batch, n) after input_ids (batch, seq), left-padded where attention_mask is 0;
    n = max_new_tokens, or fewer when every row has produced one of stop_ids (finished rows repeat their stop).
    Samples the transformed distribution (or takes the argmax if greedy); use_cache=False recomputes everything."""
    steps = list(stream(model, input_ids, max_new_tokens, temperature, top_k, top_p, min_p, repetition_penalty,
                        stop_ids, attention_mask, generator, greedy, use_cache))
    if steps:
        return torch.stack(steps, dim=1)
    rows = check_prompt(model, input_ids, 0, attention_mask)[0].shape[0]
    return torch.zeros(rows, 0, dtype=torch.long, device=next(model.parameters()).device)


def left_padding(input_ids: torch.Tensor, attention_mask=None) -> torch.Tensor:
    """The number of padding tokens at the start of each row (batch,), from a (batch, seq) 0/1 attention_mask."""
    if attention_mask is None:
        return torch.zeros(input_ids.shape[0], dtype=torch.long, device=input_ids.device)
    mask = torch.as_tensor(attention_mask, device=input_ids.device)
    if mask.shape != input_ids.shape:
        raise ValueError(f"attention_mask has shape {tuple(mask.shape)} but input_ids {tuple(input_ids.shape)}: "
                         "they must match")
    mask = mask.bool()
    n_pad = (~mask).long().cumprod(dim=-1).sum(dim=-1)                  # leading zeros of each row
    if not torch.equal(mask, torch.arange(mask.shape[1], device=mask.device) >= n_pad[:, None]):
        raise ValueError("attention_mask must be left padding: in each row zeros first, then ones (pad on the "
                         "left so that every row's next token goes in the same column)")
    if (n_pad == mask.shape[1]).any():
        raise ValueError(f"rows {(n_pad == mask.shape[1]).nonzero()[:, 0].tolist()} of attention_mask hold no token")
    return n_pad


def model_logits(model, input_ids, cache=None, start: int = 0, n_pad=None) -> torch.Tensor:
    """Logits (batch, seq, vocab) of input_ids in columns start .. start + seq - 1 of rows that begin with n_pad[b]
    padding tokens (None: no padding), through the model's own forward: attention_mask is 0 on the padding
    columns, and each row's position_ids count from its first real token."""
    if n_pad is None:
        return model(input_ids, cache=cache, start_pos=start)
    columns = torch.arange(start + input_ids.shape[1], device=input_ids.device)
    attention_mask = (columns >= n_pad[:, None]).long()                               # (B, start + T)
    position_ids = (columns[start:] - n_pad[:, None]).clamp_min(0)                    # (B, T)
    if cache is None:                                                                 # the keys are these T tokens
        attention_mask = attention_mask[:, start:]
    return model(input_ids, attention_mask=attention_mask, position_ids=position_ids, cache=cache, start_pos=start)


def rewind(cache, pos: int) -> None:
    """Forget what a model's cache (one per layer) holds from position pos on; the next write goes there.
    A rolling (sliding-window) cache can be rewound only while it still holds the window before pos; every
    layer is checked before any is changed."""
    for layer_cache in cache:
        if not layer_cache.keeps_every_position and layer_cache.pos > pos:
            window = layer_cache.k.shape[2]
            oldest_held, oldest_needed = max(0, layer_cache.pos - window), max(0, pos - window + 1)
            if oldest_needed < oldest_held:
                raise ValueError(f"a sliding-window layer's rolling cache (window {window}) no longer holds positions "
                                 f"{oldest_needed}..{oldest_held - 1}, which position {pos} attends to: it cannot "
                                 f"be rewound from {layer_cache.pos} to {pos}")
    for layer_cache in cache:
        if layer_cache.pos > pos:
            if not layer_cache.keeps_every_position:
                layer_cache.slot_positions[layer_cache.slot_positions >= pos] = -1
            layer_cache.pos = pos


def utf8_complete_prefix(data: bytes) -> int:
    """The length of the longest prefix of data that does not end inside a multi-byte UTF-8 character."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:                          # ASCII: the text ends on a whole character
            return len(data)
        if byte >= 0xC0:                         # a lead byte: its character needs 2, 3 or 4 bytes
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= needed else len(data) - back
    return len(data)                             # stray continuation bytes: decoding will replace them


class TextStreamer:
    """Token ids in, text out, never splitting a character: push(token_id) returns the text completed so far
    (maybe ""), finish() what is left."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.pending = b""

    def push(self, token_id) -> str:
        self.pending += self.tokenizer.token_bytes(int(token_id))
        complete = utf8_complete_prefix(self.pending)
        text, self.pending = self.pending[:complete].decode("utf-8", errors="replace"), self.pending[complete:]
        return text

    def finish(self) -> str:
        text, self.pending = self.pending.decode("utf-8", errors="replace"), b""
        return text


def stream_text(model, tokenizer, prompt: str, max_new_tokens: int, **kwargs):
    """Yield pieces of text as the model continues prompt (batch 1); kwargs as in generate."""
    streamer = TextStreamer(tokenizer)
    for token in stream(model, [tokenizer.encode(prompt)], max_new_tokens, **kwargs):
        piece = streamer.push(token[0])
        if piece:
            yield piece
    rest = streamer.finish()
    if rest:
        yield rest


def residual_distribution(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """normalize(max(0, p - q)) over the last dimension; where nothing is left (p == q), p itself."""
    residual = (p - q).clamp_min(0)
    total = residual.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, residual / total.clamp_min(1e-30), p)


def speculative_accept(p: torch.Tensor, q: torch.Tensor, drafts: torch.Tensor, generator=None, greedy=False):
    """Check k drafted tokens per row. p (batch, k + 1, vocab): the target's distributions after each prefix;
    q (batch, k, vocab): the draft's; drafts (batch, k). Returns (n_accepted (batch,), tokens (batch, k + 1)):
    a row keeps tokens[:, :n_accepted + 1], its accepted drafts and then a draw from the residual at its first
    rejection, or the bonus token from p[:, k] if it accepted all k (the entries after that are rejected drafts)."""
    B, k = drafts.shape
    p_draft = p[:, :k].gather(-1, drafts[..., None])[..., 0]                     # (B, k) p(x_j)
    q_draft = q.gather(-1, drafts[..., None])[..., 0]                             # (B, k) q(x_j) > 0
    u = torch.rand(B, k, generator=generator, device=p.device)
    accepted = u * q_draft < p_draft                                              # probability min(1, p / q)
    n_accepted = accepted.long().cumprod(dim=-1).sum(dim=-1)                      # (B,) leading acceptances
    rows = torch.arange(B, device=p.device)
    q_after = torch.cat([q, torch.zeros_like(p[:, :1])], dim=1)                   # (B, k + 1, vocab): no draft at k
    last = sample(residual_distribution(p[rows, n_accepted], q_after[rows, n_accepted]), generator, greedy)  # (B,)
    return n_accepted, torch.cat([drafts, last[:, None]], dim=1).scatter(1, n_accepted[:, None], last[:, None])


def check_pair(target, draft) -> None:
    if draft.config.vocab_size != target.config.vocab_size:
        raise ValueError(f"the draft model's vocabulary ({draft.config.vocab_size} tokens) differs from the "
                         f"target's ({target.config.vocab_size}): both must use the same tokenizer")
    for name, model in (("target", target), ("draft", draft)):
        if any(model.config.window(i) for i in range(model.config.n_layers)):
            raise ValueError(f"the {name} model has sliding-window layers, whose rolling cache cannot be rewound "
                             "after a rejection; speculative decoding here needs full-attention layers")


@torch.no_grad()
def speculative_generate(target, draft, input_ids, max_new_tokens, k=4, temperature=1.0, top_k=None, top_p=None,
                         min_p=None, repetition_penalty=None, stop_ids=(), attention_mask=None, generator=None,
                         greedy=False, return_stats=False):
    """generate(target, ...) with `draft` proposing k tokens per target pass: the same distribution (greedy: the
    same tokens). Returns the new ids (batch, n), and with return_stats also a dict: rounds, proposed, checked (drafts
    up to the first rejection), accepted, acceptance_rate (accepted / checked), target_forwards, draft_forwards and
    tokens_per_target_forward."""
    check_pair(target, draft)
    if int(k) != k or k < 1:
        raise ValueError(f"k={k} must be an integer >= 1: the tokens the draft proposes per round")
    settings = sampling_settings(temperature, top_k, top_p, min_p, repetition_penalty, greedy)
    check_prompt(draft, input_ids, max_new_tokens, attention_mask, stop_ids)
    input_ids, n_pad, stop = check_prompt(target, input_ids, max_new_tokens, attention_mask, stop_ids)
    B, T = input_ids.shape
    caches = [model.new_cache(B, T + max_new_tokens + k) for model in (target, draft)]
    state = dict(tokens=input_ids, real=torch.arange(T, device=input_ids.device) >= n_pad[:, None],
                 done=torch.zeros(B, dtype=torch.bool, device=input_ids.device), new=[])
    n_pad = n_pad if n_pad.any() else None                                         # None: no row is padded
    for model, cache in zip((target, draft), caches):
        if T > 1:
            model_logits(model, input_ids[:, :-1], cache, 0, n_pad)              # every token but the last
    stats = dict(rounds=0, proposed=0, checked=0, accepted=0, target_forwards=0, draft_forwards=0)
    while len(state["new"]) < max_new_tokens and not state["done"].all():
        step = speculative_round(target, draft, caches, state, min(k, max_new_tokens - len(state["new"]) - 1), n_pad,
                                 settings, generator, stats)
        append_tokens(state, step, stop, max_new_tokens)
    new = torch.stack(state["new"], 1) if state["new"] else input_ids[:, :0]
    if not return_stats:
        return new
    stats["acceptance_rate"] = stats["accepted"] / max(stats["checked"], 1)     # drafts after a rejection are not checked
    stats["tokens_per_target_forward"] = new.shape[1] / max(stats["target_forwards"], 1)
    return new, stats


def speculative_round(target, draft, caches, state, k, n_pad, settings, generator, stats) -> torch.Tensor:
    """Draft k tokens, verify them in one target pass, rewind both caches; returns the tokens all rows keep
    (batch, m + 1): the m drafts every unfinished row accepted, then each row's token at position m."""
    tokens, real, done = state["tokens"], state["real"], state["done"]
    B, L = tokens.shape
    drafts, q = tokens[:, :0], []

    def distribution(logits, j):
        """The processed next-token distribution after the tokens and the first j drafts."""
        history, mask = torch.cat([tokens, drafts[:, :j]], 1), torch.cat([real, real.new_ones(B, j)], 1)
        return next_token_probs(process_logits(logits, history, mask, **settings), settings["greedy"])

    for j in range(k):
        held = caches[1][0].pos                                       # tokens the draft's cache holds
        logits = model_logits(draft, torch.cat([tokens, drafts], 1)[:, held:], caches[1], held, n_pad)[:, -1]
        q.append(distribution(logits, j))
        drafts = torch.cat([drafts, sample(q[-1], generator, settings["greedy"])[:, None]], 1)
    logits = model_logits(target, torch.cat([tokens[:, -1:], drafts], 1), caches[0], L - 1, n_pad)  # (B, k+1, V)
    p = torch.stack([distribution(logits[:, j], j) for j in range(k + 1)], 1)
    n_accepted, candidates = speculative_accept(p, torch.stack(q, 1) if q else p[:, :0], drafts, generator,
                                                settings["greedy"])
    m = int(n_accepted[~done].min())
    for cache in caches:
        rewind(cache, L + m)
    stats.update(rounds=stats["rounds"] + 1, target_forwards=stats["target_forwards"] + 1,
                 draft_forwards=stats["draft_forwards"] + k, proposed=stats["proposed"] + k * int((~done).sum()),
                 checked=stats["checked"] + int((n_accepted[~done] + 1).clamp(max=k).sum()),
                 accepted=stats["accepted"] + int(n_accepted[~done].sum()))
    return torch.cat([drafts[:, :m], candidates[:, m:m + 1]], 1)


def append_tokens(state, step, stop, max_new_tokens) -> None:
    """Append step (batch, n) token by token: stop ids finish rows, and the budget of new tokens is kept."""
    for j in range(step.shape[1]):
        if len(state["new"]) == max_new_tokens or state["done"].all():
            return
        token = torch.where(state["done"], state["tokens"][:, -1], step[:, j])
        state["done"] |= torch.isin(token, stop)
        state["new"].append(token)
        state["tokens"] = torch.cat([state["tokens"], token[:, None]], 1)
        state["real"] = torch.cat([state["real"], state["real"][:, -1:]], 1)


def token_label(tokenizer, token_id: int) -> str:
    """A token's text for a plot axis: control characters escaped, a leading space shown as '␣'."""
    text = repr(tokenizer.decode([token_id]))[1:-1]
    return "␣" + text[1:] if text.startswith(" ") else text


def distribution_png(before: torch.Tensor, after: torch.Tensor, labels: list[str], title: str = "") -> bytes:
    """PNG bar chart of two probability vectors over the same labelled tokens."""
    import io

    from matplotlib.figure import Figure
    fig = Figure(figsize=(7, 2.8))
    ax = fig.subplots()
    ax.bar(range(len(labels)), before.cpu().numpy(), color="lightgrey", label="model")
    ax.bar(range(len(labels)), after.cpu().numpy(), width=0.5, color="tab:blue", label="after the transforms")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set(ylabel="probability", title=title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def sampling_explorer(model, tokenizer, prompt: str = "Once upon a time", n_samples: int = 4, sample_tokens: int = 12,
                      top: int = 20):
    """A prompt box and sliders (temperature, top-k, top-p, min-p); the next-token distribution as a bar chart and
    n_samples continuations, redrawn on every change (ipywidgets 7/8)."""
    import html

    import ipywidgets as widgets
    prompt_box = widgets.Text(value=prompt, description="prompt")
    sliders = dict(temperature=widgets.FloatSlider(value=1.0, min=0.1, max=2.0, step=0.05, description="temperature"),
                   top_k=widgets.IntSlider(value=0, min=0, max=100, description="top-k"),
                   top_p=widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.05, description="top-p"),
                   min_p=widgets.FloatSlider(value=0.0, min=0.0, max=0.5, step=0.01, description="min-p"))
    chart, samples = widgets.Image(format="png"), widgets.HTML()
    device = next(model.parameters()).device

    def redraw(_=None):
        ids = tokenizer.encode(prompt_box.value)[-(model.config.max_seq_len - sample_tokens):] or [0]
        s = {name: slider.value for name, slider in sliders.items()}
        settings = dict(temperature=s["temperature"], top_k=s["top_k"] or None,
                        top_p=s["top_p"] if s["top_p"] < 1 else None, min_p=s["min_p"] or None)
        with torch.no_grad():
            logits = model(torch.tensor([ids], device=device))[:, -1].float()
        before, after = logits.softmax(-1)[0], process_logits(logits, **settings).softmax(-1)[0]
        order = torch.maximum(before, after).argsort(descending=True)[:top]
        kept = int((after > 0).sum())
        chart.value = distribution_png(before[order], after[order], [token_label(tokenizer, t) for t in order.tolist()],
                                       f"next token: {kept} of {len(after)} tokens kept")
        new = generate(model, [ids] * n_samples, sample_tokens, generator=torch.Generator(device).manual_seed(0),
                       **settings)
        samples.value = "<br>".join(f"<b>{html.escape(prompt_box.value)}</b>{html.escape(tokenizer.decode(row))}"
                                    for row in new.tolist())

    for widget in (prompt_box, *sliders.values()):
        widget.observe(redraw, names="value")
    redraw()
    return widgets.VBox([prompt_box, widgets.HBox(list(sliders.values())[:2]), widgets.HBox(list(sliders.values())[2:]),
                         chart, samples])


class PagedKVCache:
    """The keys and values of many sequences in one pool of fixed-size blocks (vLLM's PagedAttention layout).
    Per layer, k and v are (num_blocks, block_size, n_kv_heads, head_dim). A sequence owns a block table, the list
    of its blocks in order: its position p lives in block table[p // block_size], slot p % block_size. Blocks
    are taken from the free list as a sequence grows and go back when it ends."""

    def __init__(self, model, num_blocks: int, block_size: int = 16):
        c, weight = model.config, next(model.parameters())
        if any(c.window(i) for i in range(c.n_layers)):
            raise ValueError("a paged cache keeps every position; this model's sliding-window layers do not attend "
                             "to all of them: serve it with the rolling cache, one sequence at a time")
        if num_blocks < 1 or block_size < 1:
            raise ValueError(f"num_blocks={num_blocks} and block_size={block_size} must be at least 1")
        shape = (c.n_layers, num_blocks, block_size, c.n_kv_heads, c.head_dim)
        self.k = torch.zeros(shape, dtype=weight.dtype, device=weight.device)
        self.v = torch.zeros_like(self.k)
        self.block_size = block_size
        self.free = list(range(num_blocks - 1, -1, -1))        # a stack: pop() hands out the lowest free block
        self.tables, self.lengths = {}, {}                     # sequence id -> its blocks, its stored tokens

    @property
    def num_blocks(self) -> int:
        return self.k.shape[1]

    @property
    def block_bytes(self) -> int:
        """Bytes of one block: its keys and values in every layer."""
        return 2 * self.k[:, 0].nbytes

    def blocks_for(self, n_tokens: int) -> int:
        return -(-n_tokens // self.block_size)

    def blocks_in_use(self) -> int:
        return self.num_blocks - len(self.free)


def add_sequence(cache: PagedKVCache, seq_id) -> None:
    """Give a new sequence an empty block table."""
    if seq_id in cache.tables:
        raise ValueError(f"sequence {seq_id!r} is already in the cache")
    cache.tables[seq_id], cache.lengths[seq_id] = [], 0


def reserve(cache: PagedKVCache, seq_id, n_new: int) -> None:
    """Take free blocks until the sequence's table holds its tokens plus n_new more."""
    need = cache.blocks_for(cache.lengths[seq_id] + n_new) - len(cache.tables[seq_id])
    if need > len(cache.free):
        raise ValueError(f"the paged cache is out of blocks: sequence {seq_id!r} needs {need} more, {len(cache.free)} "
                         f"of {cache.num_blocks} are free; finish or free a sequence, or make num_blocks larger")
    cache.tables[seq_id] += [cache.free.pop() for _ in range(need)]


def free_sequence(cache: PagedKVCache, seq_id) -> None:
    """A finished sequence gives its blocks back to the free list."""
    cache.free += reversed(cache.tables.pop(seq_id))
    del cache.lengths[seq_id]


def slot_indices(cache: PagedKVCache, seq_id, start: int, end: int) -> torch.Tensor:
    """Where positions start .. end - 1 of a sequence live in the pool flattened to (num_blocks * block_size)."""
    positions = torch.arange(start, end)
    table = torch.tensor(cache.tables[seq_id], dtype=torch.long)
    return table[positions // cache.block_size] * cache.block_size + positions % cache.block_size


class PagedLayerView:
    """One layer's view of a PagedKVCache for one forward pass over some sequences, each bringing n new tokens.
    The model calls update(k, v) as it does on a KVCache: the new keys go to their slots through the block tables,
    and every sequence's keys come back gathered into (batch, heads, pos + n, dim), padded on the left to the
    longest one (pos), so that every sequence's new tokens sit in the same columns. The model's attention_mask
    hides the padding."""
    keeps_every_position = True

    def __init__(self, cache: PagedKVCache, layer: int, read: torch.Tensor, n_new: int):
        self.cache, self.layer, self.read = cache, layer, read     # read: (batch, pos + n) slots, left-padded
        self.write = read[:, -n_new:].flatten()                    # the new tokens' slots: the last n of each row
        self.pos = read.shape[1] - n_new                           # the longest stored sequence

    def update(self, k: torch.Tensor, v: torch.Tensor):
        B, H, n, D = k.shape
        pool_k, pool_v = self.cache.k[self.layer].view(-1, H, D), self.cache.v[self.layer].view(-1, H, D)
        pool_k[self.write] = k.transpose(1, 2).reshape(B * n, H, D)
        pool_v[self.write] = v.transpose(1, 2).reshape(B * n, H, D)
        k_all, v_all = pool_k[self.read].transpose(1, 2), pool_v[self.read].transpose(1, 2)   # (B, H, pos + n, D)
        return k_all, v_all, torch.arange(self.read.shape[1], device=k.device)


@torch.no_grad()
def paged_forward(model, cache: PagedKVCache, seq_ids: list, input_ids: torch.Tensor) -> torch.Tensor:
    """Logits (batch, n, vocab) of n new tokens per sequence, input_ids (batch, n), through the paged cache: blocks
    are reserved, keys written, read back through the block tables, and the sequences' lengths advanced."""
    n, device = input_ids.shape[1], input_ids.device
    for seq_id in seq_ids:
        reserve(cache, seq_id, n)
    lengths = torch.tensor([cache.lengths[s] for s in seq_ids])
    longest = int(lengths.max())
    n_pad = longest - lengths                                          # left padding of each row when gathered
    read = torch.zeros(len(seq_ids), longest + n, dtype=torch.long)    # padding reads slot 0, masked below
    for row, s in enumerate(seq_ids):
        read[row, int(n_pad[row]):] = slot_indices(cache, s, 0, cache.lengths[s] + n)
    read = read.to(device)
    views = [PagedLayerView(cache, i, read, n) for i in range(model.config.n_layers)]
    attention_mask = (torch.arange(longest + n) >= n_pad[:, None]).long().to(device)      # (batch, pos + n)
    position_ids = (lengths[:, None] + torch.arange(n)).to(device)                        # each row's own positions
    logits = model(input_ids, attention_mask=attention_mask, position_ids=position_ids, cache=views)
    for s in seq_ids:
        cache.lengths[s] += n
    return logits


def worst_case(cache: PagedKVCache, request) -> int:
    """Blocks a request can come to hold: its prompt and every new token but the last (which is never stored)."""
    return cache.blocks_for(len(request[0]) + request[1] - 1)


def check_requests(model, requests, cache: PagedKVCache, max_batch: int) -> None:
    """ValueError naming the first request that cannot be served."""
    if max_batch < 1:
        raise ValueError(f"max_batch={max_batch} must be at least 1")
    for i, request in enumerate(requests):
        if len(request) != 2 or not len(request[0]) or int(request[1]) != request[1] or request[1] < 1:
            raise ValueError(f"request {i} must be (prompt ids, max_new_tokens >= 1) with a non-empty prompt")
        if len(request[0]) + request[1] > model.config.max_seq_len:
            raise ValueError(f"request {i}: {len(request[0])} prompt tokens + {request[1]} new ones exceed the "
                             f"model's context of {model.config.max_seq_len}")
        if worst_case(cache, request) > cache.num_blocks:
            raise ValueError(f"request {i} needs {worst_case(cache, request)} blocks of {cache.block_size} tokens, "
                             f"more than the pool's {cache.num_blocks}")


@torch.no_grad()
def continuous_batching(model, requests: list, max_batch: int = 8, num_blocks: int = 256, block_size: int = 16,
                        stop_ids=(), on_step=None) -> tuple[list, dict]:
    """Greedy answers to requests [(prompt ids, max_new_tokens), ...] with continuous batching: at every decoding
    step, waiting requests join the running batch (each prefilled alone) while there is room, and finished ones
    leave and free their blocks. A request is admitted only when the free pool covers its prompt and all of its
    new tokens, so nothing is ever preempted. Returns (new tokens per request, in order; stats)."""
    cache, device = PagedKVCache(model, num_blocks, block_size), next(model.parameters()).device
    stop = set([stop_ids] if isinstance(stop_ids, int) else stop_ids)
    check_requests(model, requests, cache, max_batch)
    waiting, running, outputs = list(range(len(requests))), [], [[] for _ in requests]
    promised, stats = 0, {"batch_sizes": [], "blocks_in_use": [], "steps": 0}
    while waiting or running:
        while waiting and len(running) < max_batch and promised + worst_case(cache, requests[waiting[0]]) <= num_blocks:
            i = waiting.pop(0)
            promised += worst_case(cache, requests[i])
            add_sequence(cache, i)
            prompt = torch.tensor([requests[i][0]], device=device)
            outputs[i].append(int(paged_forward(model, cache, [i], prompt)[0, -1].argmax()))
            running.append(i)
        if running:
            stats["batch_sizes"].append(len(running))
            stats["blocks_in_use"].append(cache.blocks_in_use())
        for i in [i for i in running if outputs[i][-1] in stop or len(outputs[i]) == requests[i][1]]:
            running.remove(i)                                               # finished: leave, free the blocks
            promised -= worst_case(cache, requests[i])
            free_sequence(cache, i)
        if running:
            last = torch.tensor([[outputs[i][-1]] for i in running], device=device)
            for i, token in zip(running, paged_forward(model, cache, running, last)[:, -1].argmax(-1).tolist()):
                outputs[i].append(token)
            stats["steps"] += 1
        if on_step is not None:
            on_step(len(running), len(waiting))
    stats.update(peak_blocks=max(stats["blocks_in_use"], default=0), block_bytes=cache.block_bytes)
    return outputs, stats
