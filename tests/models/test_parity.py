"""Numerical parity of every ported module with transformers' PyTorch classes (f32)."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from minigpt4_jax.convert import tables
from minigpt4_jax.families import minigpt4 as minigpt4_family
from minigpt4_jax.convert.assign import load_state_dict
from minigpt4_jax.families import preset
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.models.configs import ModelConfig
from tests import reference

TOL = 1e-5


@pytest.fixture(scope='module')
def tiny() -> ModelConfig:
  return preset('tiny')


@pytest.fixture(scope='module')
def towers(tiny):
  """Reference towers and our model filled from their state dicts (HF layout)."""
  vision = reference.blip2_vision(tiny.vision)
  qformer, query_tokens = reference.blip2_qformer(tiny.qformer)
  llama = reference.llama(tiny.llm)
  model = VisionLanguageModel(tiny, rngs=nnx.Rngs(0))
  blip2_state = {
      **reference.numpy_state(vision, 'vision_model.'),
      **reference.numpy_state(qformer, 'qformer.'),
      'query_tokens': query_tokens.numpy(),
  }
  load_state_dict(model, tables.BLIP2_HF, blip2_state, source='blip2', prefix='qformer/')
  load_state_dict(model, tables.LLAMA_HF, reference.numpy_state(llama), source='llama',
                  prefix='llm/')
  return model, vision, qformer, query_tokens, llama


def test_eva_vit_matches_blip2_vision(tiny, towers):
  model, vision, *_ = towers
  pixels = reference.pixels(2, tiny.vision.image_size)
  with torch.no_grad():
    out = vision(pixel_values=reference.to_torch_nchw(pixels), output_hidden_states=True)
    # MiniGPT-4 reads the last block's tokens (no final norm) and applies its own
    # ln_vision with eps 1e-5; HF's post_layernorm holds the same weights at eps 1e-6.
    ref_tokens = out.hidden_states[-1]
    ln = torch.nn.LayerNorm(tiny.vision.width, eps=1e-5)
    ln.load_state_dict(vision.post_layernorm.state_dict())
    ref_ln = ln(ref_tokens)
  ours_tokens = model.vision(jnp.asarray(pixels))
  assert ours_tokens.shape == (2, tiny.vision.num_tokens, tiny.vision.width)
  assert reference.max_rel_err(ours_tokens, ref_tokens) <= TOL, reference.max_rel_err(ours_tokens, ref_tokens)
  assert reference.max_rel_err(model.ln_vision(ours_tokens), ref_ln) <= TOL, reference.max_rel_err(model.ln_vision(ours_tokens), ref_ln)


def test_qformer_matches_blip2_qformer(tiny, towers):
  model, _, qformer, query_tokens, _ = towers
  image = np.random.default_rng(3).normal(size=(2, tiny.vision.num_tokens, tiny.vision.width))
  image = image.astype(np.float32)
  with torch.no_grad():
    ref = qformer(
        query_embeds=query_tokens.expand(2, -1, -1),
        encoder_hidden_states=torch.from_numpy(image),
        encoder_attention_mask=torch.ones(image.shape[:2], dtype=torch.long),
    ).last_hidden_state
  ours = model.qformer(jnp.asarray(image))
  assert ours.shape == (2, tiny.qformer.num_query_tokens, tiny.qformer.hidden)
  assert reference.max_rel_err(ours, ref) <= TOL, reference.max_rel_err(ours, ref)


@pytest.mark.parametrize('num_kv_heads', [4, 2, 1], ids=['mha', 'gqa', 'mqa'])
def test_llama_matches_transformers(tiny, num_kv_heads):
  cfg = dataclasses.replace(tiny.llm, num_kv_heads=num_kv_heads)
  ref_model = reference.llama(cfg, seed=num_kv_heads)
  model = VisionLanguageModel(dataclasses.replace(tiny, llm=cfg), rngs=nnx.Rngs(0))
  load_state_dict(model, tables.LLAMA_HF, reference.numpy_state(ref_model), prefix='llm/')
  ids = np.random.default_rng(0).integers(0, cfg.vocab_size, size=(2, 24))
  # Row 1 is left-padded by 5: positions and masks must skip the padding as HF does.
  mask = np.ones_like(ids)
  mask[1, :5] = 0
  with torch.no_grad():
    ref = ref_model(
        input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
        position_ids=torch.from_numpy(np.maximum(mask.cumsum(-1) - 1, 0)),
    ).logits.numpy()
  ours = np.asarray(model.llm(input_ids=jnp.asarray(ids), attention_mask=jnp.asarray(mask)))
  assert ours.shape == (2, 24, cfg.vocab_size)
  valid = mask.astype(bool)
  assert reference.max_rel_err(ours[valid], ref[valid]) <= TOL, reference.max_rel_err(ours[valid], ref[valid])


@pytest.mark.parametrize('preset_name', ['tiny', 'tiny_no_qformer'])
def test_minigpt4_end_to_end_logits(preset_name):
  cfg = preset(preset_name)
  vision = reference.blip2_vision(cfg.vision)
  qformer, query_tokens = (reference.blip2_qformer(cfg.qformer) if cfg.qformer else (None, None))
  llama = reference.llama(cfg.llm)
  proj = reference.perturb_(torch.nn.Linear(cfg.projector_in, cfg.llm.hidden), seed=9)

  model = VisionLanguageModel(cfg, rngs=nnx.Rngs(0))
  vision_state = reference.numpy_state(vision, 'vision_model.')
  if qformer is None:  # Llama-2 MiniGPT-4 never loads ln_vision: keep it at ones/zeros
    vision_state = {k: v for k, v in vision_state.items() if 'post_layernorm' not in k}
    load_state_dict(model, tables.BLIP2_HF, vision_state, prefix='vision/')
  else:
    load_state_dict(model, tables.BLIP2_HF, {
        **vision_state, **reference.numpy_state(qformer, 'qformer.'),
        'query_tokens': query_tokens.numpy()}, prefix='qformer/')
  load_state_dict(model, tables.LLAMA_HF, reference.numpy_state(llama), prefix='llm/')
  load_state_dict(model, minigpt4_family.PROJECTOR_MINIGPT4, reference.numpy_state(proj, 'llama_proj.'),
                  prefix='projector/')

  pixels = reference.pixels(2, cfg.vision.image_size, seed=5)
  ids = reference.prompt_ids(cfg, 2)
  ref = reference.torch_minigpt4_logits(cfg, vision, qformer, query_tokens, llama, proj, pixels, ids)
  ours = model(jnp.asarray(ids), jnp.asarray(pixels))
  assert ours.shape == (2, ids.shape[1], cfg.llm.vocab_size)
  assert reference.max_rel_err(ours, ref) <= TOL, reference.max_rel_err(ours, ref)
