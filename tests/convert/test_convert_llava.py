"""launch.convert for LLaVA: llava-hf and original-pieces layouts give transformers'
LlavaForConditionalGeneration logits (f32)."""

import json
import pathlib
import shutil

import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.torch
import torch

import minigpt4_jax
from launch import convert as convert_cli
from minigpt4_jax import checkpoint
from minigpt4_jax.convert.assign import ConversionError
from minigpt4_jax.models import IMAGE_TOKEN_ID
from minigpt4_jax.models import VisionLanguageModel
from tests import reference
from tests import reference_llava as llava_ref
from tests.conftest import with_tokenizer

TOL = 1e-5


@pytest.fixture(scope='module')
def pieces(tiny_llava_cfg, hf_llava, tokenizer_dir, tmp_path_factory) -> dict[str, pathlib.Path]:
  """The same weights as LLaVA's original release: CLIP dir, LLM dir, mm_projector.bin."""
  root = tmp_path_factory.mktemp('pieces')
  hf_llava.model.vision_tower.save_pretrained(root / 'clip')
  llm = reference.llama(tiny_llava_cfg.llm)
  llm.model.load_state_dict(hf_llava.model.language_model.state_dict())
  llm.lm_head.load_state_dict(hf_llava.lm_head.state_dict())
  llm.save_pretrained(root / 'llm')
  with_tokenizer(root / 'llm', tokenizer_dir)
  proj = hf_llava.model.multi_modal_projector
  torch.save({f'model.mm_projector.{i}.{p}': getattr(proj, f'linear_{j}').state_dict()[p].clone()
              for i, j in ((0, 1), (2, 2)) for p in ('weight', 'bias')}, root / 'mm_projector.bin')
  return {'clip': root / 'clip', 'llm': root / 'llm', 'projector': root / 'mm_projector.bin'}


def _ids(tiny_llava_cfg, batch: int = 2) -> np.ndarray:
  """[BOS] text <image tokens> text, as LLaVA's v1 template lays them out."""
  rng = np.random.default_rng(7)
  image = np.full((batch, tiny_llava_cfg.num_image_tokens), IMAGE_TOKEN_ID)
  return np.concatenate([np.full((batch, 1), 1), rng.integers(3, 990, size=(batch, 5)), image,
                         rng.integers(3, 990, size=(batch, 6))], axis=1)


def _logits_error(model: VisionLanguageModel, hf_llava, tiny_llava_cfg) -> float:
  ids = _ids(tiny_llava_cfg)
  pixels = reference.pixels(2, tiny_llava_cfg.vision.image_size)
  ours = model(jnp.asarray(ids), jnp.asarray(pixels))
  err = reference.max_rel_err(ours, llava_ref.llava_logits(hf_llava, ids, pixels))
  print(f'logits rel err {err:.2e}')
  return err


def _hub_key(key: str, layout: str) -> str:
  """A key transformers 5 writes, as hub llava-hf files store it: the CLIP tower under
  ``vision_model.``; 'hub_nested' (uploads since transformers 4.52) also nests all
  under ``model.``, the LLaMA body as ``model.language_model.``."""
  key = key.replace('vision_tower.', 'vision_tower.vision_model.', 1)
  if layout == 'hub_nested':
    if key == 'language_model.lm_head.weight':
      return 'lm_head.weight'
    key = 'model.' + key.replace('language_model.model.', 'language_model.', 1)
  return key


def _rewritten(llava_hf_dir: pathlib.Path, out: pathlib.Path, layout: str) -> pathlib.Path:
  shutil.copytree(llava_hf_dir, out)
  state = safetensors.torch.load_file(out / 'model.safetensors')
  state = {_hub_key(k, layout): v for k, v in state.items()}
  safetensors.torch.save_file(state, out / 'model.safetensors', metadata={'format': 'pt'})
  return out


@pytest.mark.parametrize('layout', ['transformers5', 'hub', 'hub_nested'])
def test_llava_hf_directory_converts_to_equal_logits(tiny_llava_cfg, hf_llava, llava_hf_dir, tmp_path, layout):
  if layout != 'transformers5':
    llava_hf_dir = _rewritten(llava_hf_dir, tmp_path / layout, layout)
  convert_cli.main(['--family', 'llava', '--llava', str(llava_hf_dir), '--out', str(tmp_path / 'ckpt'),
                    '--dtype', 'float32'])
  model = minigpt4_jax.load(tmp_path / 'ckpt', dtype=jnp.float32).model
  assert model.cfg == tiny_llava_cfg
  assert _logits_error(model, hf_llava, tiny_llava_cfg) <= TOL
  assert (checkpoint.tokenizer_dir(tmp_path / 'ckpt') / 'tokenizer.model').is_file()


def test_original_pieces_convert_to_equal_logits(tiny_llava_cfg, hf_llava, pieces, tmp_path):
  convert_cli.main(['--family', 'llava', '--clip', str(pieces['clip']), '--llm', str(pieces['llm']), '--projector',
                    str(pieces['projector']), '--out', str(tmp_path / 'ckpt'),
                    '--dtype', 'float32'])
  model = minigpt4_jax.load(tmp_path / 'ckpt', dtype=jnp.float32).model
  assert model.cfg == tiny_llava_cfg
  assert _logits_error(model, hf_llava, tiny_llava_cfg) <= TOL


def test_pieces_without_projector_start_fresh_and_linear_kind(tiny_llava_cfg, pieces, tmp_path):
  convert_cli.main(['--family', 'llava', '--clip', str(pieces['clip']), '--llm', str(pieces['llm']),
                    '--projector-kind', 'linear', '--out', str(tmp_path / 'ckpt')])
  model = minigpt4_jax.load(tmp_path / 'ckpt', dtype=jnp.float32).model
  assert model.cfg.projector == 'linear'
  assert model.projector.kernel[...].dtype == jnp.float32  # the projector stays f32
  assert json.loads((tmp_path / 'ckpt' / 'config.json').read_text())['dtype'] == 'bfloat16'


def test_projector_of_other_width_is_named(pieces, tmp_path):
  bad = tmp_path / 'mm_projector.bin'
  torch.save({'model.mm_projector.weight': torch.zeros(64, 48),
              'model.mm_projector.bias': torch.zeros(64)}, bad)
  with pytest.raises(ConversionError, match=r'mm_projector\.bin: linear projector maps 48 -> 64'):
    convert_cli.main(['--family', 'llava', '--clip', str(pieces['clip']), '--llm', str(pieces['llm']),
                      '--projector', str(bad), '--out', str(tmp_path / 'ckpt')])
  assert not (tmp_path / 'ckpt').exists()


def test_projector_exports_back_to_mm_projector_bin_bit_exact(pieces, tmp_path):
  convert_cli.main(['--family', 'llava', '--clip', str(pieces['clip']), '--llm', str(pieces['llm']), '--projector',
                    str(pieces['projector']), '--out', str(tmp_path / 'ckpt')])
  convert_cli.main(['--export-projector', str(tmp_path / 'ckpt'),
                    '--out', str(tmp_path / 'mm_projector.bin')])
  exported = torch.load(tmp_path / 'mm_projector.bin', weights_only=True)
  original = torch.load(pieces['projector'], weights_only=True)
  assert exported.keys() == original.keys()
  for key, value in original.items():
    assert torch.equal(exported[key], value.float()), key
