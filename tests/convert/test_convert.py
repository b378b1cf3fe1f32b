"""launch.convert on tiny files in the released layouts: equal logits, strict errors."""

import json
import pathlib
import pickle

import jax.numpy as jnp
import numpy as np
import pytest
import torch

import minigpt4_jax
from launch import convert as convert_cli
from minigpt4_jax import checkpoint
from minigpt4_jax.convert.assign import ConversionError
from minigpt4_jax.families import preset
from tests import reference
from tests.convert import layouts

TOL = 1e-5


def test_lavis_files_convert_to_equal_logits(release, converted):
  assert (release.llm_dir / 'model.safetensors.index.json').is_file()  # sharded LLaMA
  model = minigpt4_jax.load(converted, dtype=jnp.float32).model
  err = layouts.logits_error(release, model)
  assert err <= TOL, err
  # MiniGPT-4 drops EVA-CLIP's last block: the file has one more than we build.
  assert model.cfg.vision.depth == release.cfg.vision.depth
  assert (checkpoint.tokenizer_dir(converted) / 'tokenizer.model').is_file()


def test_no_qformer_variant_from_bin_shards_prefixed_vision_and_blip2_dir(tokenizer_dir, tmp_path):
  release = layouts.write_release(tmp_path / 'rel', preset('tiny_no_qformer'), tokenizer_dir,
                                  safetensors=False, vision_prefix='visual_encoder.')
  assert (release.llm_dir / 'pytorch_model.bin.index.json').is_file()
  convert_cli.main(layouts.cli_args(release, tmp_path / 'lavis') + ['--dtype', 'float32'])
  model = minigpt4_jax.load(tmp_path / 'lavis', dtype=jnp.float32).model
  assert model.cfg.qformer is None and model.cfg.num_image_tokens == 64
  np.testing.assert_array_equal(np.asarray(model.ln_vision.scale[...]), 1.0)
  assert layouts.logits_error(release, model) <= TOL

  # The same ViT from a transformers BLIP-2 directory, its Q-Former left unused.
  qformer, query_tokens = reference.blip2_qformer(preset('tiny').qformer)
  blip2_dir = layouts.write_blip2_dir(tmp_path / 'blip2', release.vision, qformer, query_tokens)
  convert_cli.main(['--blip2', str(blip2_dir), '--no-qformer', '--llm', str(release.llm_dir),
                    '--projector', str(release.projector_file), '--out', str(tmp_path / 'hf'),
                    '--dtype', 'float32'])
  assert layouts.logits_error(release, minigpt4_jax.load(tmp_path / 'hf', jnp.float32).model) <= TOL


def test_transformers_blip2_layout(release, tmp_path):
  blip2_dir = layouts.write_blip2_dir(tmp_path / 'blip2', release.vision, release.qformer,
                                      release.query_tokens)
  convert_cli.main(['--blip2', str(blip2_dir), '--llm', str(release.llm_dir), '--projector',
                    str(release.projector_file), '--out', str(tmp_path / 'ckpt'),
                    '--dtype', 'float32'])  # heads come from the directory's config.json
  assert layouts.logits_error(release, minigpt4_jax.load(tmp_path / 'ckpt', jnp.float32).model) <= TOL


def test_bfloat16_towers_float32_projector(release, tmp_path):
  convert_cli.main(layouts.cli_args(release, tmp_path / 'ckpt'))  # default --dtype
  assert json.loads((tmp_path / 'ckpt' / 'config.json').read_text())['dtype'] == 'bfloat16'
  for group in ('llm_layers_000', 'vision_blocks_000', 'qformer', 'llm'):
    stored = checkpoint.read_group(tmp_path / 'ckpt', group)
    assert {a.dtype for a in stored.values()} == {jnp.dtype(jnp.bfloat16)}, group
  stored = checkpoint.read_group(tmp_path / 'ckpt', 'projector')
  assert {a.dtype for a in stored.values()} == {np.dtype(np.float32)}
  model = checkpoint.load(tmp_path / 'ckpt')
  assert model.llm.layers[0].attn.q_proj.kernel.dtype == jnp.bfloat16
  assert model.projector.kernel.dtype == jnp.float32


@pytest.mark.parametrize('edit, message', [
    (lambda s: s.pop('blocks.0.attn.v_bias'),
     r'edited_eva.pth: 1 parameter\(s\) not filled: vision/blocks/0/attn/v_bias'),
    (lambda s: s.__setitem__('blocks.0.attn.k_bias', torch.zeros(64)),
     r"edited_eva.pth: unknown key 'blocks.0.attn.k_bias' \(shape \(64,\)\)"),
    (lambda s: s.__setitem__('blocks.1.mlp.fc2.bias', torch.zeros(65)),
     r"edited_eva.pth: key 'blocks.1.mlp.fc2.bias' -> vision/blocks/1/mlp/fc2/bias: "
     r'expected shape \(64,\), found \(65,\)'),
], ids=['missing', 'unknown', 'shape'])
def test_converter_errors_name_file_key_and_shapes(release, tmp_path, edit, message):
  eva = layouts.write_edited_eva(release, tmp_path / 'edited_eva.pth', edit)
  args = layouts.cli_args(release, tmp_path / 'ckpt')
  args[args.index('--vision') + 1] = str(eva)
  with pytest.raises(ConversionError, match=message):
    convert_cli.main(args)
  # Nothing that looks like a checkpoint is left behind, complete or partial.
  assert not (tmp_path / 'ckpt').exists()
  assert not list(tmp_path.glob('.ckpt.*'))


def test_projector_of_the_other_variant_is_refused(release, tmp_path):
  llama2_proj = tmp_path / 'pretrained_minigpt4_llama2.pth'
  width = release.cfg.vision.width
  torch.save({'model': {'llama_proj.weight': torch.zeros(64, 4 * width),
                        'llama_proj.bias': torch.zeros(64)}}, llama2_proj)
  args = layouts.cli_args(release, tmp_path / 'ckpt')
  args[args.index('--projector') + 1] = str(llama2_proj)
  with pytest.raises(ConversionError, match=r'llama2.pth: llama_proj.weight has shape '
                     r'\(64, 256\), expected \(64, 32\); it is a no-Q-Former'):
    convert_cli.main(args)


class _RunsCode:
  def __init__(self, marker: pathlib.Path):
    self.marker = marker

  def __reduce__(self):
    return (pathlib.Path.touch, (self.marker,))


def test_pickle_with_code_is_refused_and_never_run(release, tmp_path):
  marker = tmp_path / 'code_ran'
  bad = tmp_path / 'evil.pth'
  torch.save({'model': {'llama_proj.weight': _RunsCode(marker)}}, bad, pickle_module=pickle)
  args = layouts.cli_args(release, tmp_path / 'ckpt')
  args[args.index('--projector') + 1] = str(bad)
  with pytest.raises(ConversionError, match=r'evil.pth: refused to unpickle'):
    convert_cli.main(args)
  assert not marker.exists()


@pytest.mark.parametrize('args, error, message', [
    (['--vision', 'nowhere.pth'], FileNotFoundError, r'nowhere.pth: no such checkpoint file'),
    (['--vision', 'x.pth', '--blip2', 'dir'], ConversionError, r'--blip2 replaces --vision'),
    (['--vision', 'x.pth', '--qformer', 'y.pth', '--no-qformer'], ConversionError,
     r'--no-qformer contradicts --qformer'),
], ids=['missing-file', 'blip2-and-vision', 'no-qformer-and-qformer'])
def test_bad_command_lines_are_named(release, tmp_path, args, error, message):
  with pytest.raises(error, match=message):
    convert_cli.main(args + ['--llm', str(release.llm_dir), '--out', str(tmp_path / 'ckpt')])
