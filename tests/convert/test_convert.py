"""launch.convert on tiny files in the released layouts: equal logits, strict errors."""

import pathlib
import pickle

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import minigpt4_jax
from launch import convert as convert_cli
from minigpt4_jax import checkpoint
from minigpt4_jax.convert.assign import ConversionError
from minigpt4_jax.convert.export import projector_arrays
from minigpt4_jax.models import preset
from tests import reference
from tests.convert import layouts

TOL = 1e-5
HEADS = ['--vision-heads', '4', '--qformer-heads', '4']  # tiny widths are not EVA-g/BERT


@pytest.fixture(scope='module')
def release(tmp_path_factory, tokenizer_dir):
  return layouts.write_release(tmp_path_factory.mktemp('release'), preset('tiny'), tokenizer_dir)


def _convert(release, out, *extra):
  args = ['--vision', str(release.eva_file), '--llm', str(release.llm_dir),
          '--projector', str(release.projector_file), '--out', str(out), *HEADS, *extra]
  if release.blip2_file is not None:
    args += ['--qformer', str(release.blip2_file)]
  convert_cli.main(args)


def _assert_same_logits(release, ckpt):
  model = minigpt4_jax.load(ckpt, dtype=jnp.float32)
  pixels = reference.pixels(2, release.cfg.vision.image_size, seed=5)
  ids = reference.prompt_ids(release.cfg, 2)
  ours = model(jnp.asarray(ids), jnp.asarray(pixels))
  err = reference.max_rel_err(ours, layouts.reference_logits(release, pixels, ids))
  assert err <= TOL, err
  return model


def test_lavis_files_convert_to_equal_logits(release, tmp_path):
  _convert(release, tmp_path / 'ckpt', '--dtype', 'float32')
  model = _assert_same_logits(release, tmp_path / 'ckpt')
  # MiniGPT-4 drops EVA-CLIP's last block: the file has one more than we build.
  assert model.cfg.vision.depth == release.cfg.vision.depth
  assert (tmp_path / 'ckpt' / 'tokenizer' / 'tokenizer.model').is_file()


def test_no_qformer_variant(tokenizer_dir, tmp_path):
  release = layouts.write_release(tmp_path / 'rel', preset('tiny_no_qformer'), tokenizer_dir,
                                  safetensors=False)  # .bin shards this time
  _convert(release, tmp_path / 'ckpt', '--dtype', 'float32')
  model = _assert_same_logits(release, tmp_path / 'ckpt')
  assert model.cfg.qformer is None and model.cfg.num_image_tokens == 64
  np.testing.assert_array_equal(np.asarray(model.ln_vision.scale[...]), 1.0)


def test_transformers_blip2_layout(release, tmp_path):
  blip2_dir = tmp_path / 'blip2'
  blip2_dir.mkdir()
  state = {**{f'vision_model.{k}': v.contiguous() for k, v in release.vision.state_dict().items()},
           **{f'qformer.{k}': v.contiguous() for k, v in release.qformer.state_dict().items()},
           'query_tokens': release.query_tokens.contiguous()}
  save_file(state, blip2_dir / 'model.safetensors')
  from transformers import Blip2Config
  Blip2Config(vision_config=release.vision.config.to_dict(),
              qformer_config=release.qformer.config.to_dict()).save_pretrained(blip2_dir)
  convert_cli.main(['--blip2', str(blip2_dir), '--llm', str(release.llm_dir), '--projector',
                    str(release.projector_file), '--out', str(tmp_path / 'ckpt'),
                    '--dtype', 'float32', '--qformer-heads', '4'])
  _assert_same_logits(release, tmp_path / 'ckpt')


def test_bfloat16_towers_float32_projector(release, tmp_path):
  _convert(release, tmp_path / 'ckpt')  # default dtype
  model = minigpt4_jax.load(tmp_path / 'ckpt')
  assert model.llm.layers[0].attn.q_proj.kernel.dtype == jnp.bfloat16
  assert model.vision.blocks[0].attn.qkv.kernel.dtype == jnp.bfloat16
  assert model.projector.kernel.dtype == jnp.float32


def test_projector_export_reimport_is_bit_exact(release, tmp_path):
  _convert(release, tmp_path / 'ckpt', '--dtype', 'float32')
  convert_cli.main(['--export-projector', str(tmp_path / 'ckpt'), '--out', str(tmp_path / 'p.pth')])
  exported = torch.load(tmp_path / 'p.pth', weights_only=True)['model']
  assert exported['llama_proj.weight'].shape == release.proj.weight.shape
  assert torch.equal(exported['llama_proj.weight'], release.proj.weight.detach())
  convert_cli.main(['--vision', str(release.eva_file), '--qformer', str(release.blip2_file),
                    '--llm', str(release.llm_dir), '--projector', str(tmp_path / 'p.pth'),
                    '--out', str(tmp_path / 'again'), *HEADS])
  first, again = projector_arrays(tmp_path / 'ckpt'), projector_arrays(tmp_path / 'again')
  for name in ('kernel', 'bias'):
    assert first[name].tobytes() == again[name].tobytes()


def _edited(release, tmp_path, edit) -> pathlib.Path:
  state = torch.load(release.eva_file, weights_only=True)
  edit(state)
  path = tmp_path / 'edited_eva.pth'
  torch.save(state, path)
  return path


@pytest.mark.parametrize('edit, message', [
    (lambda s: s.pop('blocks.0.attn.v_bias'), r"not filled: vision/blocks/0/attn/v_bias"),
    (lambda s: s.__setitem__('blocks.0.attn.k_bias', torch.zeros(64)),
     r"edited_eva.pth: unknown key 'blocks.0.attn.k_bias'"),
    (lambda s: s.__setitem__('blocks.0.mlp.fc2.bias', torch.zeros(65)),
     r"edited_eva.pth: key 'blocks.0.mlp.fc2.bias' -> vision/blocks/0/mlp/fc2/bias: "
     r"expected shape \(64,\), found \(65,\)"),
], ids=['missing', 'unknown', 'shape'])
def test_converter_errors_name_file_key_and_shapes(release, tmp_path, edit, message):
  eva = _edited(release, tmp_path, edit)
  args = ['--vision', str(eva), '--qformer', str(release.blip2_file), '--llm',
          str(release.llm_dir), '--out', str(tmp_path / 'ckpt'), *HEADS]
  with pytest.raises(ConversionError, match=message):
    convert_cli.main(args)
  # Nothing that looks like a checkpoint is left behind, complete or partial.
  assert not (tmp_path / 'ckpt').exists()
  assert not list(tmp_path.glob('.ckpt.partial-*'))


class _RunsCode:
  def __reduce__(self):
    return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_pickle_with_code_is_refused_and_never_run(release, tmp_path):
  marker = tmp_path / 'code_ran'
  payload = _RunsCode()
  payload.marker = str(marker)
  bad = tmp_path / 'evil.pth'
  torch.save({'model': {'llama_proj.weight': payload}}, bad, pickle_module=pickle)
  with pytest.raises(ConversionError, match=r'evil.pth: refused to unpickle'):
    convert_cli.main(['--vision', str(release.eva_file), '--qformer', str(release.blip2_file),
                      '--llm', str(release.llm_dir), '--projector', str(bad),
                      '--out', str(tmp_path / 'ckpt'), *HEADS])
  assert not marker.exists()


def test_missing_file_is_named(release, tmp_path):
  with pytest.raises(FileNotFoundError, match='nowhere.pth'):
    convert_cli.main(['--vision', str(tmp_path / 'nowhere.pth'), '--llm', str(release.llm_dir),
                      '--out', str(tmp_path / 'ckpt'), *HEADS])


def test_incomplete_directory_is_not_a_checkpoint(tmp_path):
  (tmp_path / 'params').mkdir()
  assert not checkpoint.is_complete(tmp_path)
  with pytest.raises(FileNotFoundError, match='not a .complete. converted checkpoint'):
    minigpt4_jax.load(tmp_path)
