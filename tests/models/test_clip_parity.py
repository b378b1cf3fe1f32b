"""CLIP ViT and LLaVA projectors against transformers' PyTorch classes (f32)."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx
from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

from minigpt4_jax.convert import tables
from minigpt4_jax.families import llava as llava_family
from minigpt4_jax.convert.assign import load_state_dict
from minigpt4_jax.models.clip_vit import ClipViT
from minigpt4_jax.models.configs import ClipVitConfig
from minigpt4_jax.models import VisionLanguageModel
from tests import reference
from tests import reference_llava as llava_ref

TOL = 1e-5


@pytest.mark.parametrize('image_size', [224, 336])
def test_clip_vit_matches_second_to_last_layer(image_size):
  cfg = ClipVitConfig(image_size=image_size, patch_size=14, width=32, depth=2, num_heads=4,
                      mlp_dim=64)
  ref = llava_ref.clip_vision(cfg)
  model = VisionLanguageModel(dataclasses.replace(llava_ref.tiny(), vision=cfg), rngs=nnx.Rngs(0))
  layout = tables.CLIP_HF.also_unused(*tables.clip_layers_unused(cfg.depth, cfg.depth + 1))
  # Keys as in a hub CLIPModel directory (openai/clip-vit-large-patch14-336).
  load_state_dict(model, layout.prefixed('vision_model.'), reference.numpy_state(ref, 'vision_model.'),
                  source='clip', prefix='vision/')
  pixels = reference.pixels(2, image_size)
  with torch.no_grad():
    out = ref(pixel_values=reference.to_torch_nchw(pixels), output_hidden_states=True)
  expected = out.hidden_states[-2].numpy()
  got = model.vision(jnp.asarray(pixels))
  assert isinstance(model.vision, ClipViT)
  assert got.shape == (2, cfg.num_tokens, cfg.width) == expected.shape
  err = reference.max_rel_err(got, expected)
  print(f'clip {image_size}px rel err {err:.2e}')
  assert err <= TOL, err


def _projector_err(cfg, layout, torch_proj, state) -> float:
  ours = VisionLanguageModel(cfg, rngs=nnx.Rngs(0))
  load_state_dict(ours, layout, state, source='projector', prefix='projector/')
  x = np.random.default_rng(0).normal(size=(2, 5, cfg.projector_in)).astype(np.float32)
  with torch.no_grad():
    expected = torch_proj(torch.from_numpy(x)).numpy()
  return reference.max_rel_err(ours.project(jnp.asarray(x)), expected)


def test_mlp2x_gelu_projector_matches_llava_hf():
  cfg = llava_ref.tiny()
  hf = llava_ref.llava(cfg).model.multi_modal_projector
  assert isinstance(hf, LlavaMultiModalProjector)
  err = _projector_err(cfg, llava_family.PROJECTOR_LLAVA_HF, hf,
                       reference.numpy_state(hf, 'multi_modal_projector.'))
  print(f'mlp2x_gelu (llava-hf) rel err {err:.2e}')
  assert err <= TOL, err


@pytest.mark.parametrize('kind', ['linear', 'mlp2x_gelu'])
def test_projectors_match_original_mm_projector(kind):
  """LLaVA's builder: nn.Linear (v1) or nn.Sequential(Linear, GELU, Linear) (1.5)."""
  cfg = dataclasses.replace(llava_ref.tiny(), projector=kind)
  d_in, d = cfg.projector_in, cfg.llm.hidden
  if kind == 'linear':
    proj, layout = torch.nn.Linear(d_in, d), llava_family.PROJECTOR_LLAVA_LINEAR
  else:
    proj = torch.nn.Sequential(torch.nn.Linear(d_in, d), torch.nn.GELU(), torch.nn.Linear(d, d))
    layout = llava_family.PROJECTOR_LLAVA_MLP2X
  proj = reference.perturb_(proj, seed=5)
  err = _projector_err(cfg, layout, proj, reference.numpy_state(proj, 'model.mm_projector.'))
  print(f'{kind} (mm_projector.bin) rel err {err:.2e}')
  assert err <= TOL, err
