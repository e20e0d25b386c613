# Generated from notebooks/05_mixture_of_experts.ipynb by notebooks/export.py. Do not edit: change the notebook and re-export.

"""Mixture of experts: routers, dispatch, load balancing, and Mixtral / Qwen3-MoE / DeepSeek-V3 checkpoints (notebook 05)."""
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

import rawllm.model as model_module
from rawllm.attention import MultiHeadAttention, MultiHeadLatentAttention, RMSNorm, mla_softmax_scale
from rawllm.model import (ModelConfig, SwiGLU, Transformer, check_checkpoint, checkpoint_tensors, read_safetensors,
                          write_hf_folder)


class Routing(NamedTuple):
    """What a router decides for N tokens over E experts, choosing k each."""
    logits: torch.Tensor          # (N, E) the router's raw output
    scores: torch.Tensor          # (N, E) softmax probabilities or sigmoid affinities
    experts: torch.Tensor         # (N, k) chosen expert ids
    weights: torch.Tensor         # (N, k) the weights their outputs are summed with


def check_top_k(n_experts: int, top_k: int, n_group: int = 1, topk_group: int = 1) -> None:
    if not 1 <= top_k <= n_experts:
        raise ValueError(f"top_k={top_k} must be between 1 and the number of experts n_experts={n_experts}")
    if n_group < 1 or n_experts % n_group:
        raise ValueError(f"n_experts={n_experts} experts cannot be divided into n_group={n_group} equal groups")
    if not 1 <= topk_group <= n_group:
        raise ValueError(f"topk_group={topk_group} must be between 1 and n_group={n_group}")
    if top_k > topk_group * (n_experts // n_group):
        raise ValueError(f"top_k={top_k} experts cannot be chosen from topk_group={topk_group} groups of "
                         f"{n_experts // n_group} experts")


def softmax_top_k(logits: torch.Tensor, top_k: int, renormalize: bool = True) -> Routing:
    """Mixtral and Qwen3-MoE: probabilities p = softmax(logits) in float32, the k largest, optionally divided by
    their sum. logits (N, E) -> Routing with weights (N, k) in the logits' dtype."""
    check_top_k(logits.shape[-1], top_k)
    probs = logits.float().softmax(dim=-1)                                  # (N, E)
    weights, experts = probs.topk(top_k, dim=-1)                            # (N, k) each
    if renormalize:
        weights = weights / weights.sum(dim=-1, keepdim=True)
    return Routing(logits, probs, experts, weights.to(logits.dtype))


def group_limited_mask(scores: torch.Tensor, n_group: int, topk_group: int) -> torch.Tensor:
    """DeepSeek-V3's node limit: experts form n_group groups; a group scores the sum of its two best experts;
    only the experts of the topk_group best groups stay eligible. scores (N, E) -> bool mask (N, E)."""
    N, E = scores.shape
    grouped = scores.view(N, n_group, E // n_group)
    group_scores = grouped.topk(min(2, E // n_group), dim=-1).values.sum(dim=-1)      # (N, n_group)
    best_groups = group_scores.topk(topk_group, dim=-1, sorted=False).indices        # (N, topk_group)
    keep = torch.zeros_like(group_scores, dtype=torch.bool).scatter_(1, best_groups, True)
    return keep[:, :, None].expand(N, n_group, E // n_group).reshape(N, E)


def sigmoid_top_k(logits: torch.Tensor, top_k: int, bias: torch.Tensor | None = None, n_group: int = 1,
                  topk_group: int = 1, normalize: bool = True, scaling: float = 1.0) -> Routing:
    """DeepSeek-V3: affinities s = sigmoid(logits); the choice uses s + bias within the best groups, the
    weights use s alone, divided by their sum if `normalize`, times `scaling`. logits (N, E) -> Routing."""
    check_top_k(logits.shape[-1], top_k, n_group, topk_group)
    scores = logits.float().sigmoid()                                       # (N, E)
    for_choice = scores if bias is None else scores + bias.float()
    if n_group > 1:
        eligible = group_limited_mask(for_choice, n_group, topk_group)
        for_choice = for_choice.masked_fill(~eligible, float("-inf"))
    experts = for_choice.topk(top_k, dim=-1, sorted=False).indices          # (N, k)
    weights = scores.gather(1, experts)
    if normalize:
        weights = weights / (weights.sum(dim=-1, keepdim=True) + 1e-20)
    return Routing(logits, scores, experts, weights * scaling)


class Router(nn.Module):
    """Hugging Face's `gate`: a linear map d_model -> n_experts (weight (E, d)), then a routing rule."""

    def __init__(self, d_model: int, n_experts: int, top_k: int, scoring: str = "softmax",
                 norm_topk_prob: bool = True, n_group: int = 1, topk_group: int = 1,
                 routed_scaling_factor: float = 1.0, correction_bias: bool = False):
        super().__init__()
        if scoring not in ("softmax", "sigmoid"):
            raise ValueError(f"scoring must be 'softmax' or 'sigmoid', got {scoring!r}")
        check_top_k(n_experts, top_k, n_group, topk_group)
        self.top_k, self.scoring, self.norm_topk_prob = top_k, scoring, norm_topk_prob
        self.n_group, self.topk_group, self.routed_scaling_factor = n_group, topk_group, routed_scaling_factor
        self.weight = nn.Parameter(torch.empty(n_experts, d_model))
        nn.init.normal_(self.weight, 0.0, 0.02)
        self.e_score_correction_bias = nn.Buffer(torch.zeros(n_experts)) if correction_bias else None

    def forward(self, x: torch.Tensor) -> Routing:
        """x (N, d_model) -> Routing over the N tokens. Autocast is off here: under mixed precision the logits
        stay float32 (a bf16 rounding can flip a close choice); without it they are in the weight's dtype."""
        with torch.autocast(x.device.type, enabled=False):
            if self.scoring == "softmax":
                return softmax_top_k(F.linear(x.to(self.weight.dtype), self.weight), self.top_k, self.norm_topk_prob)
            logits = F.linear(x.float(), self.weight.float())           # DeepSeek-V3 routes in float32, always
        return sigmoid_top_k(logits, self.top_k, self.e_score_correction_bias, self.n_group, self.topk_group,
                             self.norm_topk_prob, self.routed_scaling_factor)


def dispatch_loop(x: torch.Tensor, experts: nn.ModuleList, routing: Routing) -> torch.Tensor:
    """The readable dispatch: for each expert, a boolean mask finds its (token, slot) pairs; it runs on those
    tokens and its weighted output is added back. x (N, d) -> (N, d). An expert with no token still runs, on
    an empty slice, so that its weights get a (zero) gradient: DDP expects one for every parameter."""
    out = torch.zeros_like(x)
    for e, expert in enumerate(experts):
        token, slot = torch.where(routing.experts == e)                     # (n_e,), (n_e,)
        y = expert(x[token]) * routing.weights[token, slot, None]           # (n_e, d), n_e may be 0
        out = out.index_add(0, token, y.to(x.dtype))
    return out


def expert_capacity(n_tokens: int, n_experts: int, top_k: int, capacity_factor: float) -> int:
    """Slots per expert: capacity_factor times the even share n_tokens * top_k / n_experts, rounded up."""
    return math.ceil(capacity_factor * n_tokens * top_k / n_experts)


def dispatch_sorted(x: torch.Tensor, experts: nn.ModuleList, routing: Routing, capacity: int | None = None):
    """The fast dispatch: sort the N*k (token, expert) pairs by expert so that every expert reads one contiguous
    slice; with `capacity`, an expert keeps its first `capacity` pairs (earlier tokens first) and drops the rest,
    whose tokens then get nothing from it (the block's residual carries them). Every expert runs, an idle one on an
    empty slice (a zero gradient for DDP). Returns (out (N, d), kept (N, k))."""
    N, k = routing.experts.shape
    flat = routing.experts.reshape(-1)                                      # (N*k,) pair p = token * k + slot
    order = flat.argsort(stable=True)                                       # pairs grouped by expert, in token order
    counts = torch.bincount(flat, minlength=len(experts))                   # (E,)
    kept = torch.ones(N * k, dtype=torch.bool, device=x.device)
    if capacity is not None:
        starts = counts.cumsum(0) - counts                                  # first sorted position of each expert
        rank = torch.arange(N * k, device=x.device) - starts[flat[order]]   # position within its expert's slice
        kept[order[rank >= capacity]] = False
        order = order[rank < capacity]
        counts = counts.clamp(max=capacity)
    tokens = order // k
    inputs = x[tokens]                                                      # (kept pairs, d), sorted by expert
    y = torch.cat([expert(chunk) for expert, chunk in zip(experts, inputs.split(counts.tolist()))])  # idle ones too
    y = y * routing.weights.reshape(-1)[order, None]
    return torch.zeros_like(x).index_add(0, tokens, y.to(x.dtype)), kept.view(N, k)


def expert_load(experts: torch.Tensor, n_experts: int, token_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Tokens per expert: chosen ids (N, k) (or (..., k)) -> counts (E,) as float. With token_mask, (batch, seq)
    or (N,) holding 1 for a real token and 0 for padding, only the real tokens count."""
    weights = None
    if token_mask is not None:
        weights = token_mask.reshape(-1, 1).float().expand(-1, experts.shape[-1]).reshape(-1)   # (N * k,)
    return torch.bincount(experts.reshape(-1), weights=weights, minlength=n_experts).float()


def max_violation(load: torch.Tensor) -> float:
    """How far the busiest expert is above the mean: max(load) / mean(load) - 1 (0 when perfectly balanced)."""
    return (load.max() / load.float().mean() - 1).item()


def masked_mean(values: torch.Tensor, token_mask: torch.Tensor | None = None, n_layers: int = 1) -> torch.Tensor:
    """The mean over dim 0 of values (n_layers * N, ...) taking only real tokens: token_mask ((batch, seq) or
    (N,), 1 = real, 0 = padding) is repeated for each of the n_layers stacked layers; None: the plain mean."""
    if token_mask is None:
        return values.mean(dim=0)
    weights = token_mask.reshape(-1).to(values.dtype).repeat(n_layers)      # (n_layers * N,)
    weights = weights.view(-1, *[1] * (values.ndim - 1))
    return (values * weights).sum(dim=0) / weights.sum().clamp(min=1)


def load_balancing_loss(router_logits, top_k: int, token_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Switch Transformer / Mixtral auxiliary loss, E * sum_i f_i P_i, where f_i is the fraction of tokens whose
    top-k includes expert i and P_i the mean router probability of expert i, over all tokens of all layers.
    router_logits: (N, E) or a sequence of them (one per layer); token_mask (batch, seq) or (N,): real tokens only."""
    layers = list(router_logits) if isinstance(router_logits, (list, tuple)) else [router_logits]
    probs = torch.cat(layers).float().softmax(dim=-1)                       # (layers * N, E)
    chosen = F.one_hot(probs.topk(top_k, dim=-1).indices, probs.shape[-1]).sum(1).float()   # (layers * N, E) 0/1
    f, P = masked_mean(chosen, token_mask, len(layers)), masked_mean(probs, token_mask, len(layers))
    return probs.shape[-1] * (f * P).sum()


def router_z_loss(router_logits, token_mask: torch.Tensor | None = None) -> torch.Tensor:
    """ST-MoE's z-loss: mean over (real) tokens of logsumexp(logits)^2, which keeps the router's logits small.
    router_logits: (N, E) or a sequence of them (one per layer)."""
    layers = list(router_logits) if isinstance(router_logits, (list, tuple)) else [router_logits]
    return masked_mean(torch.cat(layers).float().logsumexp(dim=-1).pow(2), token_mask, len(layers))


def sequence_balance_loss(scores: torch.Tensor, experts: torch.Tensor, top_k: int,
                          token_mask: torch.Tensor | None = None) -> torch.Tensor:
    """DeepSeek-V3's sequence-wise auxiliary loss (before its factor alpha), averaged over the batch:
    sum_i f_i P_i with f_i = E / (k T) * #{t: i chosen for t} and P_i = mean_t s_it / sum_j s_jt.
    scores (B, T, E) affinities, experts (B, T, k) chosen ids; with token_mask (B, T), 1 = real token, T counts
    a sequence's real tokens and a sequence without any is left out of the mean."""
    B, T, E = scores.shape
    mask = scores.new_ones(B, T) if token_mask is None else token_mask.reshape(B, T).to(scores.dtype)
    real = mask.sum(dim=1)                                                  # (B,) tokens per sequence
    counts = (F.one_hot(experts, E).sum(dim=2) * mask[..., None]).sum(dim=1)                  # (B, E)
    f = counts * E / (top_k * real.clamp(min=1))[:, None]
    p = (scores / scores.sum(dim=-1, keepdim=True) * mask[..., None]).sum(dim=1) / real.clamp(min=1)[:, None]
    return (f * p).sum(dim=-1).sum() / (real > 0).sum().clamp(min=1)


@torch.no_grad()
def update_expert_bias(bias: torch.Tensor, load: torch.Tensor, gamma: float = 1e-3) -> torch.Tensor:
    """DeepSeek-V3's auxiliary-loss-free balancing, in place: b_i += gamma * sign(mean load - load_i), so an
    overloaded expert becomes less likely to be chosen and an idle one more likely. Returns bias."""
    return bias.add_(gamma * torch.sign(load.float().mean() - load.float()))


@dataclass
class MoEConfig(ModelConfig):
    """A ModelConfig with mixture-of-experts feed-forward layers (and, for DeepSeek-V3, latent attention)."""
    n_experts: int = 8                      # routed experts per MoE layer
    top_k: int = 2                          # experts each token is routed to
    moe_d_ff: int | None = None             # hidden width of one expert; None: d_ff
    n_shared_experts: int = 0               # experts every token uses, fused into one SwiGLU of n * moe_d_ff
    scoring: str = "softmax"                # "softmax" (Mixtral, Qwen3-MoE) or "sigmoid" (DeepSeek-V3)
    norm_topk_prob: bool = True             # divide the k chosen weights by their sum
    routed_scaling_factor: float = 1.0      # multiplies the routed experts' weights (DeepSeek-V3: 2.5)
    n_group: int = 1                        # expert groups for group-limited routing
    topk_group: int = 1                     # groups a token may use
    correction_bias: bool = False           # a per-expert bias used only for the choice (e_score_correction_bias)
    first_k_dense_replace: int = 0          # the first layers keep a dense SwiGLU of width d_ff
    capacity_factor: float | None = None    # slots per expert over the even share; None: no limit
    attention: str = "mha"                  # "mha" (notebook 02's grouped-query) or "mla" (latent attention)
    kv_lora_rank: int = 0                   # the MLA fields, as DeepSeek-V3 names them
    q_lora_rank: int | None = None
    qk_nope_head_dim: int = 0
    v_head_dim: int = 0
    rope_interleave: bool = False
    model_type: str = "mixtral"             # the Hugging Face family save_pretrained writes

    def __post_init__(self):
        super().__post_init__()
        self.moe_d_ff = self.moe_d_ff or self.d_ff
        check_top_k(self.n_experts, self.top_k, self.n_group, self.topk_group)
        if self.attention not in ("mha", "mla"):
            raise ValueError(f"attention must be 'mha' or 'mla', got {self.attention!r}")

    def is_moe(self, layer_idx: int) -> bool:
        return layer_idx >= self.first_k_dense_replace


class MoE(nn.Module):
    """Router (`gate`) + routed `experts` (SwiGLUs) + optional `shared_experts`, with Hugging Face's names.
    x (batch, seq, d_model) -> (output of the same shape, Routing over the batch * seq tokens)."""

    def __init__(self, config: MoEConfig):
        super().__init__()
        c = config
        self.gate = Router(c.d_model, c.n_experts, c.top_k, c.scoring, c.norm_topk_prob, c.n_group, c.topk_group,
                           c.routed_scaling_factor, c.correction_bias)
        self.experts = nn.ModuleList(SwiGLU(c.d_model, c.moe_d_ff, bias=c.mlp_bias) for _ in range(c.n_experts))
        self.shared_experts = (SwiGLU(c.d_model, c.moe_d_ff * c.n_shared_experts, bias=c.mlp_bias)
                               if c.n_shared_experts else None)
        self.capacity_factor = c.capacity_factor
        self.dispatch = "sorted"                                    # or "loop", the readable version

    def forward(self, x: torch.Tensor):
        tokens = x.reshape(-1, x.shape[-1])                                 # (N, d)
        routing = self.gate(tokens)
        if self.dispatch == "loop":
            out = dispatch_loop(tokens, self.experts, routing)
        else:
            capacity = None
            if self.capacity_factor is not None and self.training:
                capacity = expert_capacity(len(tokens), len(self.experts), routing.experts.shape[1],
                                           self.capacity_factor)
            out = dispatch_sorted(tokens, self.experts, routing, capacity)[0]
        if self.shared_experts is not None:
            out = out + self.shared_experts(tokens)
        return out.view_as(x), routing


class MoEBlock(nn.Module):
    """Notebook 04's pre-norm block with an MoE (or, in the first_k_dense_replace layers, a SwiGLU) as its MLP
    and grouped-query or latent attention. Keeps the last Routing in `.routing` for the balancing losses."""

    def __init__(self, config: MoEConfig, layer_idx: int):
        super().__init__()
        c = config
        if c.attention == "mla":
            scale = mla_softmax_scale(c.qk_nope_head_dim + c.head_dim, (c.rope_scaling or {}).get("factor", 1.0),
                                      (c.rope_scaling or {}).get("mscale_all_dim", 0.0))
            self.self_attn = MultiHeadLatentAttention(
                c.d_model, c.n_heads, c.kv_lora_rank, c.head_dim, c.qk_nope_head_dim, c.v_head_dim, c.q_lora_rank,
                bias=c.qkv_bias, norm_eps=c.norm_eps, softmax_scale=scale, rope_interleave=c.rope_interleave)
        else:
            self.self_attn = MultiHeadAttention(c.d_model, c.n_heads, c.n_kv_heads, c.head_dim, qk_norm=c.qk_norm,
                                                bias=c.qkv_bias, o_bias=c.o_bias, sliding_window=c.window(layer_idx),
                                                norm_eps=c.norm_eps, attn_implementation=c.attn_implementation)
        self.mlp = MoE(c) if c.is_moe(layer_idx) else SwiGLU(c.d_model, c.d_ff, bias=c.mlp_bias)
        self.input_layernorm = RMSNorm(c.d_model, c.norm_eps)
        self.post_attention_layernorm = RMSNorm(c.d_model, c.norm_eps)
        self.routing = None

    def forward(self, x, position_embeddings, attention_mask=None, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), position_embeddings, attention_mask=attention_mask, cache=cache)
        h = self.post_attention_layernorm(x)
        if isinstance(self.mlp, MoE):
            out, self.routing = self.mlp(h)
            return x + out
        return x + self.mlp(h)


class MoETransformer(Transformer):
    """Notebook 04's Transformer (forward, cache, decoding, counting) with MoE blocks:
    model(input_ids (batch, seq)) -> logits (batch, seq, vocab); model.routings() -> the last Routing per MoE layer."""

    block = MoEBlock                              # everything else is notebook 04's Transformer

    def moe_layers(self) -> list[MoE]:
        return [layer.mlp for layer in self.model.layers if isinstance(layer.mlp, MoE)]

    def routings(self) -> list[Routing]:
        return [layer.routing for layer in self.model.layers if isinstance(layer.mlp, MoE)]

    def set_dispatch(self, dispatch: str) -> None:
        """"loop" (readable) or "sorted" (fast) in every MoE layer."""
        if dispatch not in ("loop", "sorted"):
            raise ValueError(f"dispatch must be 'loop' or 'sorted', got {dispatch!r}")
        for moe in self.moe_layers():
            moe.dispatch = dispatch

    @classmethod
    def from_pretrained(cls, path, dtype: torch.dtype | None = None) -> "MoETransformer":
        """Load a Hugging Face folder of a Mixtral, Qwen3-MoE or DeepSeek-V3 model."""
        return load_moe_pretrained(path, dtype)

    def save_pretrained(self, path) -> None:
        """config.json and model.safetensors in the hub layout (one tensor per expert) that transformers loads."""
        write_moe_pretrained(self, path)


def active_parameters(config: MoEConfig) -> dict:
    """Parameters per MoE layer's feed-forward part: total (all experts) and active (what one token uses)."""
    c = config
    expert = 3 * c.d_model * c.moe_d_ff
    shared = 3 * c.d_model * c.moe_d_ff * c.n_shared_experts
    router = c.n_experts * c.d_model
    return {"total": c.n_experts * expert + shared + router, "active": c.top_k * expert + shared + router}


EXPERT_COLOURS = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5")


@torch.no_grad()
def routing_table_html(model: MoETransformer, tokenizer, text: str, layer: int) -> str:
    """An HTML table: each token of `text`, its experts and weights in MoE layer number `layer` (0-based)."""
    ids = tokenizer.encode(text)[:model.config.max_seq_len]
    if not ids:
        return "<i>(no tokens)</i>"
    device = next(model.parameters()).device
    model(torch.tensor([ids], device=device))
    routing = model.routings()[layer]
    rows = []
    for position, token in enumerate(ids):
        experts, weights = routing.experts[position].tolist(), routing.weights[position].tolist()
        pairs = sorted(zip(weights, experts), reverse=True)
        colour = EXPERT_COLOURS[pairs[0][1] % len(EXPERT_COLOURS)]
        cells = " ".join(f"e{e}&nbsp;{w:.2f}" for w, e in pairs)
        piece = tokenizer.decode([token]).replace("&", "&amp;").replace("<", "&lt;")
        rows.append(f"<tr style='background:{colour}'><td><code>{piece!r}</code></td><td>{cells}</td></tr>")
    return "<table><tr><th>token</th><th>experts (weight)</th></tr>" + "".join(rows) + "</table>"


def routing_explorer(model: MoETransformer, tokenizer, text: str = "Mia found a red ball in the garden."):
    """ipywidgets (7.x API): a text box and a layer selector over the routing table; returns the VBox."""
    import ipywidgets as widgets
    box = widgets.Text(value=text, description="text", layout=widgets.Layout(width="90%"))
    layer = widgets.Dropdown(options=[(f"MoE layer {i}", i) for i in range(len(model.moe_layers()))], value=0,
                             description="layer")
    table = widgets.HTML()

    def refresh(_=None):
        table.value = routing_table_html(model, tokenizer, box.value, layer.value)

    box.observe(refresh, names="value")
    layer.observe(refresh, names="value")
    refresh()
    return widgets.VBox([box, layer, table])


MOE_FAMILIES = {"mixtral": ("mistral", "MixtralForCausalLM"), "qwen3_moe": ("qwen3", "Qwen3MoeForCausalLM"),
                   "deepseek_v3": ("llama", "DeepseekV3ForCausalLM")}     # model_type -> (dense base, class)
MIXTRAL_EXPERT_NAMES = {"gate_proj": "w1", "down_proj": "w2", "up_proj": "w3"}


def moe_config_from_hf(hf: dict) -> MoEConfig:
    """An MoEConfig from a Mixtral, Qwen3-MoE or DeepSeek-V3 config.json dict; the attention and RoPE fields are
    read by notebook 04's config_from_hf for the dense family each one extends."""
    model_type = hf.get("model_type")
    if model_type not in MOE_FAMILIES:
        raise ValueError(f"model_type {model_type!r} is not an MoE family; supported: {', '.join(MOE_FAMILIES)}")
    dense = dict(hf, model_type=MOE_FAMILIES[model_type][0])
    n_experts = hf.get("num_local_experts") or hf.get("num_experts") or hf.get("n_routed_experts")
    moe = dict(n_experts=n_experts, top_k=hf.get("num_experts_per_tok", 2), model_type=model_type)
    if model_type == "mixtral":
        moe.update(moe_d_ff=hf["intermediate_size"])
    elif model_type == "qwen3_moe":
        if hf.get("decoder_sparse_step", 1) != 1 or hf.get("mlp_only_layers"):
            raise ValueError("Qwen3-MoE configs with dense layers (decoder_sparse_step != 1 or mlp_only_layers) "
                             "are not supported")
        moe.update(moe_d_ff=hf["moe_intermediate_size"], norm_topk_prob=bool(hf.get("norm_topk_prob", False)))
    else:
        dense.update(head_dim=hf["qk_rope_head_dim"], num_key_value_heads=hf["num_attention_heads"],
                     mlp_bias=False)
        moe.update(moe_d_ff=hf["moe_intermediate_size"], n_shared_experts=hf.get("n_shared_experts") or 0,
                   scoring="sigmoid", norm_topk_prob=bool(hf.get("norm_topk_prob", True)),
                   routed_scaling_factor=float(hf.get("routed_scaling_factor", 1.0)), n_group=hf.get("n_group", 1),
                   topk_group=hf.get("topk_group", 1), correction_bias=True,
                   first_k_dense_replace=hf.get("first_k_dense_replace", 0), attention="mla",
                   kv_lora_rank=hf["kv_lora_rank"], q_lora_rank=hf.get("q_lora_rank"),
                   qk_nope_head_dim=hf["qk_nope_head_dim"], v_head_dim=hf["v_head_dim"],
                   rope_interleave=bool(hf.get("rope_interleave", True)))
    base = model_module.config_from_hf(dense)
    return MoEConfig(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, **moe})


def moe_hf_config(config: MoEConfig, dtype: torch.dtype = torch.float32) -> dict:
    """The config.json dict of `config` in its model_type's layout; ValueError if the family cannot express it."""
    c = config
    if c.model_type not in MOE_FAMILIES:
        raise ValueError(f"model_type {c.model_type!r} is not an MoE family; supported: {', '.join(MOE_FAMILIES)}")
    base_type, architecture = MOE_FAMILIES[c.model_type]
    base = {f: getattr(c, f) for f in ModelConfig.__dataclass_fields__}
    hf = model_module.hf_config(ModelConfig(**dict(base, model_type=base_type)), dtype)
    hf.update(architectures=[architecture], model_type=c.model_type, num_experts_per_tok=c.top_k)
    if c.model_type == "mixtral":
        hf.update(num_local_experts=c.n_experts)
    elif c.model_type == "qwen3_moe":
        hf.update(num_experts=c.n_experts, moe_intermediate_size=c.moe_d_ff, norm_topk_prob=c.norm_topk_prob,
                  decoder_sparse_step=1, mlp_only_layers=[])
    else:
        hf.pop("mlp_bias", None)
        hf.update(n_routed_experts=c.n_experts, moe_intermediate_size=c.moe_d_ff, n_shared_experts=c.n_shared_experts,
                  norm_topk_prob=c.norm_topk_prob, routed_scaling_factor=c.routed_scaling_factor, n_group=c.n_group,
                  topk_group=c.topk_group, first_k_dense_replace=c.first_k_dense_replace,
                  kv_lora_rank=c.kv_lora_rank, q_lora_rank=c.q_lora_rank, qk_rope_head_dim=c.head_dim,
                  qk_nope_head_dim=c.qk_nope_head_dim, v_head_dim=c.v_head_dim, rope_interleave=c.rope_interleave,
                  num_nextn_predict_layers=0)
    back = moe_config_from_hf(hf)
    differences = [f"{name}={getattr(c, name)!r}" for name in MoEConfig.__dataclass_fields__
                   if name not in ("attn_implementation", "capacity_factor") and getattr(c, name) != getattr(back, name)]
    if differences:
        raise ValueError(f"model_type {c.model_type!r} cannot express {', '.join(differences)}")
    return hf


def hub_name(name: str, model_type: str) -> str:
    """Our state_dict name -> the checkpoint's (Mixtral keeps `block_sparse_moe` and w1/w2/w3)."""
    if model_type != "mixtral" or ".mlp." not in name:
        return name
    name = name.replace(".mlp.", ".block_sparse_moe.")
    for ours, theirs in MIXTRAL_EXPERT_NAMES.items():
        name = name.replace(f".{ours}.", f".{theirs}.")
    return name


def unfuse_experts(tensors: dict) -> dict:
    """transformers 5 keeps experts stacked in memory (experts.gate_up_proj (E, 2f, d), experts.down_proj (E, d, f));
    split such tensors into the per-expert layout of the hub."""
    for name in [n for n in tensors if n.endswith("experts.gate_up_proj")]:
        prefix = name.removesuffix("gate_up_proj")
        gate_up, down = tensors.pop(name), tensors.pop(prefix + "down_proj")
        for e, (gate, up) in enumerate(zip(*gate_up.chunk(2, dim=1))):
            tensors.update({f"{prefix}{e}.gate_proj.weight": gate, f"{prefix}{e}.up_proj.weight": up,
                            f"{prefix}{e}.down_proj.weight": down[e]})
    return tensors


def layer_index(name: str) -> int:
    """The block a tensor belongs to (model.layers.<i>.), or -1 for the embedding, final norm and head."""
    parts = name.split(".")
    return int(parts[2]) if parts[:2] == ["model", "layers"] else -1


def check_experts(model: MoETransformer, tensors: dict) -> None:
    """Name every expert whose weights the checkpoint lacks (before the generic key check)."""
    missing = []
    for layer_idx, layer in enumerate(model.model.layers):
        if isinstance(layer.mlp, MoE):
            for e in range(len(layer.mlp.experts)):
                prefix = f"model.layers.{layer_idx}.mlp.experts.{e}."
                absent = [hub_name(prefix + p + ".weight", model.config.model_type) for p in MIXTRAL_EXPERT_NAMES
                          if prefix + p + ".weight" not in tensors]
                if absent:
                    missing.append(f"expert {e} of layer {layer_idx} ({', '.join(absent)})")
    if missing:
        raise ValueError(f"the checkpoint lacks the weights of {len(missing)} expert(s): " + "; ".join(missing[:4])
                         + ("; ..." if len(missing) > 4 else ""))


def load_moe_pretrained(path, dtype: torch.dtype | None = None) -> MoETransformer:
    """A Mixtral, Qwen3-MoE or DeepSeek-V3 folder (config.json and safetensors) to our model."""
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {folder}")
    config = moe_config_from_hf(json.loads((folder / "config.json").read_text()))
    with torch.device("meta"):
        model = MoETransformer(config)
    ours = {hub_name(name, config.model_type): name for name in model.state_dict()}
    tensors = {ours.get(name, name): t for name, t in read_safetensors(folder).items()
               if layer_index(name) < config.n_layers}  # skips DeepSeek-V3's multi-token-prediction layers
    tensors = unfuse_experts(tensors)
    check_experts(model, tensors)
    tensors = check_checkpoint(model, tensors)
    dtype = dtype or tensors["model.embed_tokens.weight"].dtype
    tensors = {name: t.to(dtype, copy=True) for name, t in tensors.items()}
    for name in [n for n in tensors if n.endswith("e_score_correction_bias")]:
        tensors[name] = tensors[name].float()           # the bias only ranks experts: kept in float32
    model.load_state_dict(tensors, strict=False, assign=True)
    model.tie_weights()
    return model.eval()


def write_moe_pretrained(model: MoETransformer, path) -> None:
    """MoETransformer.save_pretrained: config.json and model.safetensors in the hub's one-tensor-per-expert layout."""
    tensors = {hub_name(k, model.config.model_type): v for k, v in checkpoint_tensors(model).items()}
    write_hf_folder(path, tensors, moe_hf_config(model.config, tensors["model.embed_tokens.weight"].dtype))


model_module.PRETRAINED_FAMILIES.update(dict.fromkeys(MOE_FAMILIES, load_moe_pretrained))
