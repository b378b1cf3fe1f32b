"""launch.convert --family minigptv2 on a tiny release: logits equal to PyTorch + peft,
merged equal to kept adapters, strict key accounting, and export back to the original."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

import minigpt4_jax
from launch import convert as convert_cli
from minigpt4_jax import checkpoint
from minigpt4_jax.convert.assign import ConversionError
from minigpt4_jax.convert.export import parameter_arrays
from minigpt4_jax.families import minigptv2
from minigpt4_jax.models.configs import LoraConfig
from tests import reference
from tests.convert import v2_release as v2

TOL = 1e-5


@pytest.fixture(scope='module')
def release(tmp_path_factory, tokenizer_dir):
  return v2.write_release(tmp_path_factory.mktemp('v2'), tokenizer_dir, peft_default_names=False)


@pytest.fixture(scope='module')
def inputs(release):
  return reference.pixels(2, 448, seed=5), reference.prompt_ids(release.cfg, 2)


@pytest.fixture(scope='module')
def torch_logits(release, inputs):
  return v2.reference_logits(release, *inputs)


def logits(model, inputs):
  pixels, ids = inputs
  return np.asarray(nnx.jit(lambda m, i, p: m(i, p))(model, jnp.asarray(ids), jnp.asarray(pixels)))


@pytest.fixture(scope='module')
def merged(release, tmp_path_factory):
  out = tmp_path_factory.mktemp('merged') / 'ckpt'
  convert_cli.main(v2.cli_args(release, out))
  return out


@pytest.fixture(scope='module')
def kept(release, tmp_path_factory):
  out = tmp_path_factory.mktemp('kept') / 'ckpt'
  convert_cli.main(v2.cli_args(release, out) + ['--keep-lora'])
  return out


def test_merged_conversion_equals_pytorch_with_peft(merged, inputs, torch_logits):
  model = minigpt4_jax.load(merged, dtype=jnp.float32).model
  assert model.cfg.family == 'minigptv2' and model.cfg.lora is None
  assert model.cfg.vision.image_size == 448 and model.cfg.num_image_tokens == 256
  assert model.vision.pos_embed.shape == (1, 1025, 64)
  np.testing.assert_array_equal(np.asarray(model.ln_vision.scale[...]), 1.0)
  err = reference.max_rel_err(logits(model, inputs), torch_logits)
  assert err <= TOL, err


def test_kept_adapters_equal_pytorch_and_the_merged_model(kept, merged, inputs, torch_logits):
  assert checkpoint.load_config(kept).lora == LoraConfig(8, 2.0, ('q_proj', 'v_proj'))
  model = minigpt4_jax.load(kept, dtype=jnp.float32).model  # no special loader
  ours = logits(model, inputs)
  assert reference.max_rel_err(ours, torch_logits) <= TOL
  merged_logits = logits(minigpt4_jax.load(merged, dtype=jnp.float32).model, inputs)
  assert reference.max_rel_err(merged_logits, ours) <= TOL
  assert not hasattr(model.llm.layers[0].attn.k_proj, 'lora_a')  # q and v only


def test_later_peft_names_with_default_convert_alike(tmp_path, tokenizer_dir):
  release = v2.write_release(tmp_path / 'rel', tokenizer_dir, peft_default_names=True)
  assert any('.lora_A.default.weight' in k for k in release.state)
  convert_cli.main(v2.cli_args(release, tmp_path / 'ckpt'))
  inputs = (reference.pixels(1, 448, seed=2), reference.prompt_ids(release.cfg, 1))
  err = reference.max_rel_err(logits(minigpt4_jax.load(tmp_path / 'ckpt', jnp.float32).model, inputs),
                              v2.reference_logits(release, *inputs))
  assert err <= TOL, err


def _edited(release, path, edit):
  state = dict(release.state)
  edit(state)
  torch.save({'model': state}, path)
  return path


@pytest.mark.parametrize('edit, message', [
    (lambda s: s.pop(f'{minigptv2.LLAMA_PREFIX}1.self_attn.v_proj.lora_B.weight'),
     r"missing \['llm/layers/1/attn/v_proj/lora_b'\]"),
    (lambda s: s.__setitem__(f'{minigptv2.LLAMA_PREFIX}0.self_attn.q_proj.lora_A.default.weight',
                             s[f'{minigptv2.LLAMA_PREFIX}0.self_attn.q_proj.lora_A.weight']),
     r"q_proj.lora_A.default.weight' -> llm/layers/0/attn/q_proj/lora_a: already"),
    (lambda s: s.__setitem__(f'{minigptv2.LLAMA_PREFIX}0.self_attn.k_proj.lora_A.weight',
                             torch.zeros(8, 64)),
     r"unknown key 'llama_model.base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight'"),
    (lambda s: s.__setitem__('llama_proj.weight', torch.zeros(64, 128)),
     r'llama_proj.weight has shape \(64, 128\), expected \(64, 256\)'),
], ids=['missing-factor', 'both-namings', 'untargeted-module', 'projector-shape'])
@pytest.mark.parametrize('keep', [False, True], ids=['merge', 'keep'])
def test_checkpoint_keys_are_strictly_accounted(release, tmp_path, edit, message, keep):
  bad = _edited(release, tmp_path / 'edited_v2.pth', edit)
  args = v2.cli_args(release, tmp_path / 'ckpt', checkpoint=bad) + (['--keep-lora'] if keep else [])
  if keep and 'missing' in message:  # kept: the unfilled parameter is named instead
    message = r'1 parameter\(s\) not filled: llm/layers/1/attn/v_proj/lora_b'
  with pytest.raises(ConversionError, match=r'edited_v2.pth: .*' + message):
    convert_cli.main(args)
  assert not (tmp_path / 'ckpt').exists()


def test_export_round_trip(release, kept, tmp_path):
  out = tmp_path / 'exported.pth'
  convert_cli.main(['--export-projector', str(kept), '--out', str(out)])  # the family is kept's
  exported = torch.load(out, weights_only=True)['model']
  original = {k: v for k, v in release.state.items() if not k.endswith('inv_freq')}
  assert set(exported) == set(original)  # peft 0.2.0 names, as the original loads them
  for key, value in original.items():
    assert exported[key].dtype == torch.float32
    torch.testing.assert_close(exported[key], value, rtol=0, atol=0, msg=key)
  # The exported file converts again to the same adapters.
  convert_cli.main(v2.cli_args(release, tmp_path / 'again', checkpoint=out) + ['--keep-lora'])
  again = parameter_arrays(tmp_path / 'again', minigptv2.EXPORTED)
  first = parameter_arrays(kept, minigptv2.EXPORTED)
  assert set(again) == set(first) and len(first) == 2 + 2 * 2 * release.cfg.llm.num_layers
  for path in first:
    np.testing.assert_array_equal(again[path], first[path])


def test_merged_checkpoint_has_nothing_to_export(merged, tmp_path):
  with pytest.raises(ConversionError, match='they were merged at conversion'):
    convert_cli.main(['--export-projector', str(merged), '--out', str(tmp_path / 'x.pth')])
  assert not (tmp_path / 'x.pth').exists()


def test_training_from_kept_adapters_then_export(release, kept, tmp_path):
  """A kept-adapter checkpoint starts a run that trains LoRA + projector; the workdir
  exports back to the original format with the trained values."""
  from configs import tiny
  from minigpt4_jax.train.loop import train_and_evaluate
  c = tiny.get_config('stage1').unlock()
  c.init_from = str(kept)
  c.data.image_size = 448
  c.train.trainable = minigptv2.FAMILY.stage_trainable('stage3')  # its adapters come from kept
  c.train.update(steps=2, batch_size=8, checkpoint_every=2, log_every=1, lr=1e-2, warmup_steps=1)
  train_and_evaluate(c.lock(), tmp_path / 'run')
  out = tmp_path / 'trained.pth'
  convert_cli.main(['--export-projector', str(tmp_path / 'run'), '--out', str(out)])
  exported = torch.load(out, weights_only=True)['model']
  original = {k: v for k, v in release.state.items() if not k.endswith('inv_freq')}
  assert set(exported) == set(original)
  for key in original:  # every trained tensor moved
    assert not torch.equal(exported[key], original[key]), key


def test_a_224_checkpoint_loaded_at_448_equals_the_v2_conversion(release, merged, tmp_path):
  """EVA's load-time resize on an already converted 224-px checkpoint (the Llama-2
  MiniGPT-4 path) gives the ViT the 448-px conversion builds."""
  out = tmp_path / 'minigpt4_224'
  convert_cli.main(['--vision', str(release.eva_file), '--llm', str(release.llm_dir), '--out',
                    str(out), '--dtype', 'float32', '--vision-heads', '4'])
  base = minigpt4_jax.load(out, jnp.float32).model
  assert base.cfg.vision.image_size == 224
  at_448 = minigptv2.at_image_size(base, 448)
  v2 = minigpt4_jax.load(merged, jnp.float32).model
  assert at_448.cfg.vision == v2.cfg.vision and at_448.cfg.num_image_tokens == 256
  np.testing.assert_array_equal(np.asarray(at_448.vision.pos_embed[...]),
                                np.asarray(v2.vision.pos_embed[...]))
  pixels = jnp.asarray(reference.pixels(1, 448, seed=3))
  np.testing.assert_array_equal(np.asarray(at_448.image_features(pixels)),
                                np.asarray(v2.image_features(pixels)))
