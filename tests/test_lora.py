"""rawllm.lora against PEFT on the transformers twin of the same tiny model: LoRA, rsLoRA, DoRA and PiSSA outputs,
merged and unmerged, and adapter files both ways."""
import json

import pytest
import torch
import torch.nn as nn
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

from rawllm.lora import (LoRALinear, adapters_disabled, add_lora, count_parameters, load_adapter, lora_layers,
                         merge_lora, save_adapter)
from rawllm.model import ModelConfig, Transformer

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def tiny(model_type="llama", seed=0, tie=False):
    torch.manual_seed(seed)
    config = ModelConfig(vocab_size=96, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=96, max_seq_len=32,
                         tie_embeddings=tie, model_type=model_type, qk_norm=model_type == "qwen3",
                         qkv_bias=model_type == "qwen2")
    return Transformer(config).eval()


def twin(model, path):
    """The transformers model with the same weights as ours (before any adapter)."""
    model.save_pretrained(path)
    return AutoModelForCausalLM.from_pretrained(path).eval()


def scramble(model, seed=1):
    """Non-zero B (and magnitudes off their initial norms): at init B = 0 would hide every mistake."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".lora_" in name:
                p.add_(torch.randn(p.shape, generator=g) * 0.1)


def peft_state(ours: nn.Module) -> dict:
    """Our adapter tensors under the names PEFT's live model uses (adapter name 'default')."""
    out = {}
    for name, layer in lora_layers(ours).items():
        out[f"base_model.model.{name}.lora_A.default.weight"] = layer.lora_A.weight.detach()
        out[f"base_model.model.{name}.lora_B.default.weight"] = layer.lora_B.weight.detach()
        if layer.lora_magnitude_vector is not None:
            out[f"base_model.model.{name}.lora_magnitude_vector.default.weight"] = layer.lora_magnitude_vector.detach()
    return out


def ids(seed=3, batch=2, length=12):
    return torch.randint(0, 96, (batch, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("model_type", ["llama", "qwen3", "qwen2"])
@pytest.mark.parametrize("rslora,dora", [(False, False), (True, False), (False, True), (True, True)])
def test_outputs_equal_peft_with_the_same_weights(tmp_path, model_type, rslora, dora):
    ours = tiny(model_type)
    hf = twin(ours, tmp_path)
    add_lora(ours, ALL_LINEAR, r=4, alpha=8, use_rslora=rslora, use_dora=dora)
    scramble(ours)
    peft = get_peft_model(hf, LoraConfig(r=4, lora_alpha=8, target_modules=list(ALL_LINEAR), use_rslora=rslora,
                                         use_dora=dora, task_type="CAUSAL_LM")).eval()
    missing = peft.load_state_dict(peft_state(ours), strict=False)
    assert not missing.unexpected_keys
    x = ids()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), peft(x).logits, atol=1e-5, rtol=1e-5)
        with adapters_disabled(ours), peft.disable_adapter():
            torch.testing.assert_close(ours(x), peft(x).logits, atol=1e-5, rtol=1e-5)
        merged = peft.merge_and_unload()
        merge_lora(ours)
        assert not lora_layers(ours) and all(type(m) is not LoRALinear for m in ours.modules())
        torch.testing.assert_close(ours(x), merged(x).logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dora", [False, True])
def test_merge_then_unmerge_gives_back_the_weights_and_the_outputs(dora):
    model = tiny()
    add_lora(model, ("q_proj", "down_proj"), r=4, alpha=16, use_dora=dora)
    scramble(model)
    x = ids()
    with torch.no_grad():
        before = {n: p.clone() for n, p in model.state_dict().items()}
        expected = model(x)
        for layer in lora_layers(model).values():
            layer.merge()
        assert all(layer.merged for layer in lora_layers(model).values())
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-5)
        changed = [n for n in before if not torch.equal(before[n], model.state_dict()[n])]
        assert changed and all(".base.weight" in n for n in changed)
        for layer in lora_layers(model).values():
            layer.unmerge()
        for name, value in model.state_dict().items():
            torch.testing.assert_close(value, before[name], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("rslora,dora", [(False, False), (True, True)])
def test_our_adapter_file_loads_in_peft_and_peft_gives_our_logits(tmp_path, rslora, dora):
    ours = tiny(tie=True)
    hf = twin(ours, tmp_path / "base")
    add_lora(ours, ("q_proj", "v_proj", "down_proj"), r=4, alpha=16, use_rslora=rslora, use_dora=dora)
    scramble(ours)
    save_adapter(ours, tmp_path / "adapter")
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["target_modules"] == ["down_proj", "q_proj", "v_proj"] and config["use_dora"] == dora
    peft = PeftModel.from_pretrained(hf, tmp_path / "adapter").eval()
    x = ids()
    with torch.no_grad():
        torch.testing.assert_close(peft(x).logits, ours(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("rslora,dora,targets", [(False, False, ["q_proj", "v_proj"]),
                                                 (True, False, ["k_proj", "o_proj", "up_proj"]),
                                                 (False, True, ["q_proj", "gate_proj"]),
                                                 (False, False, r".*\.mlp\.(up|down)_proj")])
def test_an_adapter_peft_saved_loads_into_our_model(tmp_path, rslora, dora, targets):
    ours = tiny()
    hf = twin(ours, tmp_path / "base")
    peft = get_peft_model(hf, LoraConfig(r=8, lora_alpha=4, target_modules=targets, use_rslora=rslora,
                                         use_dora=dora, task_type="CAUSAL_LM")).eval()
    scramble(peft, seed=5)
    peft.save_pretrained(tmp_path / "adapter")
    load_adapter(ours, tmp_path / "adapter")
    layer = next(iter(lora_layers(ours).values()))
    assert (layer.r, layer.alpha, layer.use_rslora, layer.use_dora) == (8, 4, rslora, dora)
    x = ids()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), peft(x).logits, atol=1e-5, rtol=1e-5)


def test_pissa_initialisation_equals_peft(tmp_path):
    ours = tiny()
    hf = twin(ours, tmp_path)
    x = ids()
    with torch.no_grad():
        before = ours(x)
    add_lora(ours, ("q_proj", "up_proj"), r=4, alpha=8, init="pissa")
    peft = get_peft_model(hf, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "up_proj"],
                                         init_lora_weights="pissa", task_type="CAUSAL_LM")).eval()
    theirs = {k.replace(".base_layer.", ".base.").replace(".default.", ".").removeprefix("base_model.model."): v
              for k, v in peft.state_dict().items()}
    for name, value in ours.state_dict().items():
        torch.testing.assert_close(value, theirs[name], atol=1e-5, rtol=1e-4, msg=name)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), before, atol=1e-5, rtol=1e-5)      # PiSSA leaves the output unchanged
    assert lora_layers(ours)["model.layers.0.self_attn.q_proj"].lora_B.weight.abs().sum() > 0


@pytest.mark.parametrize("dora", [False, True])
def test_gradients_equal_peft(tmp_path, dora):
    ours = tiny()
    hf = twin(ours, tmp_path)
    add_lora(ours, ALL_LINEAR, r=4, alpha=8, use_dora=dora)
    scramble(ours)
    peft = get_peft_model(hf, LoraConfig(r=4, lora_alpha=8, target_modules=list(ALL_LINEAR), use_dora=dora,
                                         task_type="CAUSAL_LM"))
    peft.load_state_dict(peft_state(ours), strict=False)
    x = ids()
    ours(x).logsumexp(-1).mean().backward()
    peft(x).logits.logsumexp(-1).mean().backward()
    theirs = {n.removeprefix("base_model.model.").replace(".default", ""): p for n, p in peft.named_parameters()
              if p.requires_grad}
    mine = {n.replace("lora_magnitude_vector", "lora_magnitude_vector.weight"): p for n, p in ours.named_parameters()
            if p.requires_grad}
    assert sorted(mine) == sorted(theirs)
    for name, p in mine.items():
        torch.testing.assert_close(p.grad, theirs[name].grad, atol=1e-6, rtol=1e-4, msg=name)


def test_only_the_adapters_train_and_the_count_says_so():
    model = tiny(tie=True)
    total = sum(p.numel() for p in model.parameters())
    add_lora(model, ("q_proj", "v_proj"), r=2, alpha=4)
    per_layer = 2 * (64 + 64) + 2 * (64 + 32)          # q: 64 -> 64, v: 64 -> 32 (2 key/value heads of 16)
    counts = count_parameters(model)
    assert counts == {"trainable": 2 * per_layer, "total": total + 2 * per_layer}
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        f"model.layers.{i}.self_attn.{m}_proj.lora_{ab}.weight" for i in range(2) for m in "qv" for ab in "AB"}


def test_moe_experts_take_adapters():
    from rawllm.moe import MoEConfig, MoETransformer
    torch.manual_seed(0)
    model = MoETransformer(MoEConfig(vocab_size=96, d_model=32, n_layers=2, n_heads=4, max_seq_len=32, n_experts=4,
                                     top_k=2, moe_d_ff=32, n_shared_experts=1)).eval()
    x = ids()
    with torch.no_grad():
        before = model(x)
    add_lora(model, ("q_proj", "gate_proj", "down_proj"), r=2, alpha=4)
    names = list(lora_layers(model))
    assert "model.layers.1.mlp.experts.3.down_proj" in names and "model.layers.0.mlp.shared_experts.gate_proj" in names
    with torch.no_grad():
        after = model(x)
    torch.testing.assert_close(after[0] if isinstance(after, tuple) else after,
                               before[0] if isinstance(before, tuple) else before)     # B = 0: nothing changed yet


@pytest.mark.parametrize("kwargs,message", [
    ({"r": 0}, "rank r must be a positive integer"),
    ({"r": 2.5}, "rank r must be a positive integer"),
    ({"alpha": 0}, "alpha must be a positive number"),
    ({"dropout": 1.0}, r"dropout must lie in \[0, 1\)"),
    ({"init": "svd"}, "unknown init 'svd'"),
    ({"target_modules": ("q_proj", "qkv_proj")}, r"no linear layer matches target module\(s\) \['qkv_proj'\]"),
    ({"target_modules": "nothing.*"}, r"no linear layer matches"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        add_lora(tiny(), **kwargs)


def test_adapters_twice_and_files_lora_cannot_build_are_refused(tmp_path):
    model = add_lora(tiny(), ("q_proj",))
    with pytest.raises(ValueError, match="already has LoRA adapters"):
        add_lora(model, ("v_proj",))
    with pytest.raises(ValueError, match="has no LoRA adapters"):
        save_adapter(tiny(), tmp_path / "none")
    with pytest.raises(ValueError, match="PiSSA"):
        save_adapter(add_lora(tiny(), ("q_proj",), init="pissa"), tmp_path / "pissa")
    save_adapter(model, tmp_path / "a")
    config = json.loads((tmp_path / "a" / "adapter_config.json").read_text())
    (tmp_path / "a" / "adapter_config.json").write_text(json.dumps({**config, "rank_pattern": {"q_proj": 4}}))
    with pytest.raises(ValueError, match="rank_pattern"):
        load_adapter(tiny(), tmp_path / "a")
    (tmp_path / "a" / "adapter_config.json").write_text(json.dumps({**config, "peft_type": "IA3"}))
    with pytest.raises(ValueError, match="'IA3' adapter"):
        load_adapter(tiny(), tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="no adapter_config.json"):
        load_adapter(tiny(), tmp_path / "missing")


def test_dropout_only_acts_in_training():
    model = add_lora(tiny(), ("q_proj",), r=4, alpha=8, dropout=0.5)
    scramble(model)
    x = ids()
    with torch.no_grad():
        model.eval()
        assert torch.equal(model(x), model(x))
        model.train()
        torch.manual_seed(0)
        assert not torch.allclose(model(x), model.eval()(x))


def test_trained_token_rows_equal_peft_trainable_tokens_both_ways(tmp_path):
    from rawllm.lora import train_token_rows
    ours = tiny(tie=True)
    hf = twin(ours, tmp_path / "base")
    add_lora(ours, ("q_proj", "v_proj"), r=4, alpha=8)
    train_token_rows(ours, [3, 7])
    scramble(ours)
    x = ids()
    ours(x).logsumexp(-1).mean().backward()
    grad = ours.model.embed_tokens.weight.grad
    assert grad[[3, 7]].abs().sum() > 0 and grad[[0, 1, 2, 4, 5, 6]].abs().sum() == 0
    with torch.no_grad():
        ours.model.embed_tokens.weight[[3, 7]] += 0.5
        before = ours(x)
    counts = count_parameters(ours)
    adapters = sum(layer.lora_A.weight.numel() + layer.lora_B.weight.numel() for layer in lora_layers(ours).values())
    assert counts["trainable"] == adapters + 2 * 64                     # two rows of the 64-wide embedding
    save_adapter(ours, tmp_path / "adapter")
    peft = PeftModel.from_pretrained(hf, tmp_path / "adapter").eval()
    with torch.no_grad():
        torch.testing.assert_close(peft(x).logits, before, atol=1e-5, rtol=1e-5)
        mine = load_adapter(tiny(tie=True), tmp_path / "adapter")
        torch.testing.assert_close(mine(x), before, atol=1e-5, rtol=1e-5)
        with adapters_disabled(ours), peft.disable_adapter():
            torch.testing.assert_close(ours(x), peft(x).logits, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(ours(x), tiny(tie=True)(x), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours(x), before)                       # the trained rows are back
        merge_lora(ours)
        torch.testing.assert_close(ours(x), before, atol=1e-5, rtol=1e-5)
