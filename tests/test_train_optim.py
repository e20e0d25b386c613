"""rawllm.train's optimizers against torch.optim: AdamW, Muon, Newton-Schulz; parameter groups; schedules."""
import copy
import inspect
import io

import pytest
import torch
import torch.nn as nn

from rawllm.model import ModelConfig, Transformer
from rawllm.train import AdamW, Muon, lr_multiplier, make_optimizers, newton_schulz, parameter_groups


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def tiny_transformer(**overrides) -> Transformer:
    config = dict(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=32)
    return Transformer(ModelConfig(**config | overrides))


def mlp(bias=True) -> nn.Sequential:
    return nn.Sequential(nn.Linear(8, 24, bias=bias), nn.Tanh(), nn.Linear(24, 4, bias=bias))


def train_pair(nets, optimizers, steps, check):
    """Same batches, same loss for every (net, optimizer); `check` compares the nets after each step."""
    for _ in range(steps):
        x, y = torch.randn(16, 8), torch.randn(16, 4)
        for net, opt in zip(nets, optimizers):
            opt.zero_grad()
            nn.functional.mse_loss(net(x), y).backward()
            opt.step()
        check(*nets)


def assert_same_weights(a, b, atol):
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, atol=atol, rtol=0)


def two_groups(net, first_lr=3e-2):
    return [{"params": net[0].parameters(), "lr": first_lr, "weight_decay": 0.2},
            {"params": net[2].parameters(), "lr": 1e-2, "weight_decay": 0.0}]


@pytest.mark.parametrize("options", [dict(), dict(amsgrad=True), dict(maximize=True), dict(foreach=True),
                                     dict(amsgrad=True, foreach=True, maximize=True, betas=(0.8, 0.9), eps=1e-6)])
def test_adamw_equals_torch_over_20_steps_with_two_groups(options):
    net = mlp()
    nets = [net, copy.deepcopy(net)]
    optimizers = [AdamW(two_groups(nets[0]), **options), torch.optim.AdamW(two_groups(nets[1]), **options)]
    before = [p.detach().clone() for p in net.parameters()]
    train_pair(nets, optimizers, 20, lambda a, b: assert_same_weights(a, b, atol=1e-6))
    assert all((p - q).abs().max() > 1e-3 for p, q in zip(net.parameters(), before))   # the weights did move


def test_adamw_detects_a_wrong_update():
    net = mlp()
    nets = [net, copy.deepcopy(net)]
    optimizers = [AdamW(two_groups(nets[0], first_lr=3.01e-2)), torch.optim.AdamW(two_groups(nets[1]))]
    with pytest.raises(AssertionError):
        train_pair(nets, optimizers, 3, lambda a, b: assert_same_weights(a, b, atol=1e-6))


def defaults(cls) -> dict:
    return {name: p.default for name, p in inspect.signature(cls).parameters.items()
            if p.default is not inspect.Parameter.empty}


def test_defaults_are_torchs():
    assert defaults(AdamW) == defaults(torch.optim.AdamW)
    assert defaults(Muon) == defaults(torch.optim.Muon)
    assert list(inspect.signature(AdamW).parameters) == list(inspect.signature(torch.optim.AdamW).parameters)
    assert list(inspect.signature(Muon).parameters) == list(inspect.signature(torch.optim.Muon).parameters)


@pytest.mark.parametrize("flag", ["fused", "capturable", "differentiable"])
def test_adamw_refuses_implementations_it_does_not_have(flag):
    with pytest.raises(NotImplementedError, match=flag):
        AdamW(mlp().parameters(), **{flag: True})
    AdamW(mlp().parameters(), **{flag: False})


@pytest.mark.parametrize("options", [dict(), dict(adjust_lr_fn="original"), dict(adjust_lr_fn="match_rms_adamw"),
                                     dict(nesterov=False), dict(nesterov=False, adjust_lr_fn="match_rms_adamw"),
                                     dict(momentum=0.9, weight_decay=0.0, ns_steps=3)])
def test_muon_equals_torch_over_20_steps(options):
    net = mlp(bias=False)                                    # a tall (24, 8) and a wide (4, 24) matrix
    nets = [net, copy.deepcopy(net)]
    optimizers = [Muon(nets[0].parameters(), lr=0.02, **options),
                  torch.optim.Muon(nets[1].parameters(), lr=0.02, **options)]
    train_pair(nets, optimizers, 20, lambda a, b: assert_same_weights(a, b, atol=1e-6))
    assert (net[0].weight - nets[1][0].weight).abs().max() <= 1e-6


def test_muon_detects_a_wrong_scaling():
    net = mlp(bias=False)
    nets = [net, copy.deepcopy(net)]
    optimizers = [Muon(nets[0].parameters(), lr=0.02, adjust_lr_fn="match_rms_adamw"),
                  torch.optim.Muon(nets[1].parameters(), lr=0.02)]
    with pytest.raises(AssertionError):
        train_pair(nets, optimizers, 2, lambda a, b: assert_same_weights(a, b, atol=1e-6))


@pytest.mark.parametrize("shape", [(256, 64), (64, 256), (128, 128), (768, 96)])
def test_newton_schulz_singular_values_in_band(shape):
    G = torch.randn(shape)
    O = newton_schulz(G)
    assert O.shape == G.shape and O.dtype == G.dtype
    U, S, Vh = torch.linalg.svd(G.double(), full_matrices=False)
    along = torch.diagonal(U.T @ O.double() @ Vh.T)          # the polynomial's value on each singular direction
    kept = along[S >= 2e-3 * S.norm()]                       # a square matrix has a few values near 0: not lifted
    assert len(kept) >= 0.9 * len(S)
    assert 0.65 <= kept.min() and kept.max() <= 1.25
    if shape[0] != shape[1]:                                 # rectangular Gaussians: every singular value in band
        values = torch.linalg.svdvals(O.double())
        assert 0.65 <= values.min() and values.max() <= 1.25


def test_newton_schulz_is_scale_invariant_and_refuses_vectors():
    G = torch.randn(32, 48)
    torch.testing.assert_close(newton_schulz(G), newton_schulz(7.0 * G), atol=2e-2, rtol=0)
    with pytest.raises(ValueError, match="shape"):
        newton_schulz(torch.randn(5))


def test_muon_refuses_a_vector_naming_its_shape():
    model = tiny_transformer()
    with pytest.raises(ValueError, match=r"input_layernorm.weight.*\(32,\)"):
        Muon(model.named_parameters())
    with pytest.raises(ValueError, match=r"\(4,\)"):
        Muon([torch.nn.Parameter(torch.zeros(4))])
    with pytest.raises(ValueError, match="adjust_lr_fn"):
        Muon([torch.nn.Parameter(torch.zeros(4, 4))], adjust_lr_fn="other")


@pytest.mark.parametrize("tied", [False, True])
def test_parameter_groups_no_decay_for_norms_biases_embeddings(tied):
    model = tiny_transformer(tie_embeddings=tied, qkv_bias=True, qk_norm=True)
    decay, no_decay = parameter_groups(model, weight_decay=0.1)
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.1, 0.0)
    assert all(name.endswith("proj.weight") or name == "lm_head.weight" for name in decay["names"])
    assert all(p.ndim == 2 for p in decay["params"])
    assert "model.embed_tokens.weight" in no_decay["names"]
    assert any(name.endswith(".bias") for name in no_decay["names"])
    assert any(name.endswith("norm.weight") for name in no_decay["names"])
    assert ("lm_head.weight" in decay["names"]) == (not tied)
    params = decay["params"] + no_decay["params"]
    assert len(params) == len({id(p) for p in params}) == len(list(model.parameters()))
    assert sum(p.numel() for p in params) == model.num_parameters()
    assert [len(g["names"]) for g in (decay, no_decay)] == [len(g["params"]) for g in (decay, no_decay)]


@pytest.mark.parametrize("name", ["adamw", "muon"])
@pytest.mark.parametrize("tied", [False, True])
def test_make_optimizers_covers_every_parameter_once(name, tied):
    model = tiny_transformer(tie_embeddings=tied)
    optimizers = make_optimizers(model, name, lr=3e-3, weight_decay=0.1)
    assert [type(o) for o in optimizers] == ([AdamW] if name == "adamw" else [Muon, AdamW])
    owned = [p for opt in optimizers for g in opt.param_groups for p in g["params"]]
    assert len(owned) == len({id(p) for p in owned}) == len(list(model.parameters()))
    assert all(g["base_lr"] == g["lr"] for opt in optimizers for g in opt.param_groups)
    if name == "muon":
        muon_names = optimizers[0].param_groups[0]["names"]
        assert optimizers[0].param_groups[0]["lr"] == 0.02
        assert all(".layers." in n and n.endswith("proj.weight") for n in muon_names)
        assert len(muon_names) == 2 * 7                                  # q k v o gate up down, per layer
    x = torch.randint(0, 64, (2, 8))
    model(x).logsumexp(-1).mean().backward()
    for opt in optimizers:
        opt.step()
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizers(model, "sgd")


@pytest.mark.parametrize("name", ["adamw", "muon"])
def test_state_dict_round_trip_continues_exactly(name):
    def batches(n):
        g = torch.Generator().manual_seed(1)
        return [torch.randint(0, 64, (2, 8), generator=g) for _ in range(n)]

    def train(model, optimizers, data):
        for x in data:
            for opt in optimizers:
                opt.zero_grad()
            nn.functional.cross_entropy(model(x[:, :-1]).flatten(0, 1), x[:, 1:].flatten()).backward()
            for opt in optimizers:
                opt.step()

    data = batches(10)
    model = tiny_transformer()
    resumed = copy.deepcopy(model)
    optimizers = make_optimizers(model, name, lr=3e-3)
    train(model, optimizers, data)

    first = make_optimizers(resumed, name, lr=3e-3)
    train(resumed, first, data[:5])
    saved = io.BytesIO()
    torch.save({"model": resumed.state_dict(), "optimizers": [o.state_dict() for o in first]}, saved)
    saved.seek(0)
    checkpoint = torch.load(saved, weights_only=True)
    fresh = tiny_transformer()
    fresh.load_state_dict(checkpoint["model"])
    second = make_optimizers(fresh, name, lr=3e-3)
    for opt, state in zip(second, checkpoint["optimizers"]):
        opt.load_state_dict(state)
    train(fresh, second, data[5:])
    assert_same_weights(model, fresh, atol=0)


@pytest.mark.parametrize("schedule", ["cosine", "wsd", "constant"])
def test_lr_multiplier_endpoints_and_monotonicity(schedule):
    max_steps, warmup = 200, 20
    f = [lr_multiplier(t, max_steps, warmup, schedule, min_lr_ratio=0.1, decay_fraction=0.25)
         for t in range(max_steps + 1)]
    assert f[0] == pytest.approx(1 / warmup)
    assert f[warmup - 1] == pytest.approx(1.0) and f[warmup] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(f[:warmup - 1], f[1:warmup]))                 # warmup rises
    assert all(a >= b for a, b in zip(f[warmup:], f[warmup + 1:]))                 # then never rises
    assert all(0 < x <= 1 for x in f)
    assert f[max_steps] == pytest.approx(1.0 if schedule == "constant" else 0.1)
    if schedule == "wsd":
        assert f[149] == 1.0 and f[151] < 1.0                                       # decay over the last 25%
    if schedule == "cosine":
        assert f[(max_steps + warmup) // 2] == pytest.approx(0.55)                  # halfway: the mean
    assert lr_multiplier(5, 10, 0, schedule) <= 1.0


def test_lr_multiplier_rejects_bad_input():
    with pytest.raises(ValueError, match="schedule"):
        lr_multiplier(0, 10, 1, "linear")
    with pytest.raises(ValueError, match="warmup_steps"):
        lr_multiplier(0, 10, 11)


def test_make_optimizers_muon_on_a_mixture_of_experts():
    from rawllm.moe import MoEConfig, MoETransformer
    model = MoETransformer(MoEConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_experts=4, top_k=2,
                                     moe_d_ff=16, n_shared_experts=1, max_seq_len=32))
    muon, adamw = make_optimizers(model, "muon")
    muon_names = muon.param_groups[0]["names"]
    adamw_names = [n for g in adamw.param_groups for n in g["names"]]
    assert "model.layers.0.mlp.experts.3.down_proj.weight" in muon_names
    assert "model.layers.1.mlp.shared_experts.up_proj.weight" in muon_names
    assert "model.layers.0.mlp.gate.weight" in adamw_names                  # the router stays with AdamW
    assert {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight"} <= set(adamw_names)
    assert len(muon_names) + len(adamw_names) == len(list(model.parameters()))


@pytest.mark.parametrize("capability, expected", [((7, 5), torch.float16), ((8, 0), torch.bfloat16),
                                                  ((9, 0), torch.bfloat16)])
def test_newton_schulz_dtype_follows_the_gpu(monkeypatch, capability, expected):
    from rawllm.train import ns_dtype
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert ns_dtype(torch.device("cuda", 0)) == expected
    assert ns_dtype("cpu") == torch.bfloat16                 # torch.optim.Muon's dtype, which the CPU parity needs


def test_newton_schulz_runs_in_the_chosen_dtype(monkeypatch):
    import rawllm.train
    G = torch.randn(16, 24)
    monkeypatch.setattr(rawllm.train, "ns_dtype", lambda device: torch.float16)    # as on a T4
    fp16 = newton_schulz(G)
    torch.testing.assert_close(fp16, newton_schulz(G, dtype=torch.float16), rtol=0, atol=0)
    assert not torch.equal(fp16, newton_schulz(G, dtype=torch.bfloat16))
