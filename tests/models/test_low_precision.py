"""bf16 / fp16 numerics against PyTorch's: our reduced-precision forward may be off the
f32 reference by at most 1.5x what transformers' own modules in the same dtype are off
(logits, and image embeddings), on the tiny and the benchmark's mid architecture.

Our side runs jitted where XLA compiles it (as chat and serving run it) and the f32
references are computed once per architecture, which keeps the mid case to a fraction
of its eager time.
"""

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from minigpt4_jax.convert import tables
from minigpt4_jax.convert.assign import load_state_dict
from minigpt4_jax.families import minigpt4 as minigpt4_family
from minigpt4_jax.families import preset
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.tools.bench.sizes import MID
from tests import reference

MAX_RATIO = 1.5
DTYPES = {'bf16': (jnp.bfloat16, torch.bfloat16), 'fp16': (jnp.float16, torch.float16)}


def errors(ours, ref) -> np.ndarray:
  """(max |err| / max |ref|, ||err|| / ||ref||) of float arrays."""
  ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
  return np.array([reference.max_rel_err(ours, ref),
                   np.linalg.norm(ours - ref) / np.linalg.norm(ref)])


@pytest.fixture(scope='module', params=['tiny', 'mid'])
def towers(request):
  """The architecture and its PyTorch reference towers, in f32."""
  cfg = preset('tiny') if request.param == 'tiny' else MID
  vision = reference.blip2_vision(cfg.vision)
  qformer, query_tokens = reference.blip2_qformer(cfg.qformer)
  llama = reference.llama(cfg.llm)
  proj = reference.perturb_(torch.nn.Linear(cfg.projector_in, cfg.llm.hidden), seed=9)
  return cfg, vision, qformer, query_tokens, llama, proj


@pytest.fixture(scope='module')
def inputs(towers):
  """(pixels, ids, f32 reference image embeddings, f32 reference logits)."""
  cfg, vision, qformer, query_tokens, llama, proj = towers
  pixels = reference.pixels(2, cfg.vision.image_size, seed=5)
  ids = np.random.default_rng(0).integers(3, cfg.llm.vocab_size, size=(2, 48))
  return (pixels, ids,
          torch_image_embeds(torch.float32, cfg, vision, qformer, query_tokens, proj, pixels),
          torch_logits(torch.float32, llama, ids))


def ours_forward(model: VisionLanguageModel, pixels, ids):
  """(image embeddings, logits) of our model."""
  return model.encode_image(pixels), model.llm(input_ids=ids)


def forward_for(dtype):
  """``ours_forward``, compiled, except fp16 on CPU: XLA:CPU compiles no fp16 dot that
  accumulates in f32 ('F16_F16_F32' is not supported), so there it runs op by op."""
  if dtype == jnp.float16 and jax.default_backend() == 'cpu':
    return ours_forward
  return nnx.jit(ours_forward)


def ours_in(dtype, cfg, vision, qformer, query_tokens, llama, proj) -> VisionLanguageModel:
  """Our model with the reference weights, as ``minigpt4_jax.load`` builds it in ``dtype``
  (parameters and compute; the projector stays f32)."""
  model = VisionLanguageModel(cfg, dtype=dtype, param_dtype=dtype, rngs=nnx.Rngs(0))
  load_state_dict(model, tables.BLIP2_HF, {
      **reference.numpy_state(vision, 'vision_model.'), **reference.numpy_state(qformer, 'qformer.'),
      'query_tokens': query_tokens.numpy()}, prefix='qformer/')
  load_state_dict(model, tables.LLAMA_HF, reference.numpy_state(llama), prefix='llm/')
  load_state_dict(model, minigpt4_family.PROJECTOR_MINIGPT4, reference.numpy_state(proj, 'llama_proj.'),
                  prefix='projector/')
  return model


def torch_image_embeds(dtype, cfg, vision, qformer, query_tokens, proj, pixels) -> np.ndarray:
  """ViT -> ln_vision -> Q-Former in ``dtype``, the projector in f32 (as MiniGPT-4)."""
  vision, qformer = copy.deepcopy(vision).to(dtype), copy.deepcopy(qformer).to(dtype)
  ln = torch.nn.LayerNorm(cfg.vision.width, eps=cfg.ln_vision_eps)
  ln.load_state_dict(vision.post_layernorm.state_dict())
  with torch.no_grad():
    tokens = vision(pixel_values=reference.to_torch_nchw(pixels).to(dtype),
                    output_hidden_states=True).hidden_states[-1]
    feats = qformer(query_embeds=query_tokens.to(dtype).expand(len(pixels), -1, -1),
                    encoder_hidden_states=ln.to(dtype)(tokens)).last_hidden_state
    return proj(feats.float()).numpy()


def torch_logits(dtype, llama, ids) -> np.ndarray:
  with torch.no_grad():
    return copy.deepcopy(llama).to(dtype)(input_ids=torch.from_numpy(ids)).logits.float().numpy()


@pytest.mark.parametrize('dtype', sorted(DTYPES))
def test_reduced_precision_error_is_within_1p5x_of_pytorch(towers, inputs, dtype):
  cfg, vision, qformer, query_tokens, llama, proj = towers
  pixels, ids, ref_embeds, ref_logits = inputs
  jax_dtype, torch_dtype = DTYPES[dtype]
  model = ours_in(jax_dtype, *towers)
  ours_embeds, ours_logits = (np.asarray(x, np.float32) for x in forward_for(jax_dtype)(
      model, jnp.asarray(pixels, jax_dtype), jnp.asarray(ids)))
  theirs_embeds = torch_image_embeds(torch_dtype, cfg, vision, qformer, query_tokens, proj, pixels)
  theirs_logits = torch_logits(torch_dtype, llama, ids)
  for name, ours, theirs, ref in (('image embeddings', ours_embeds, theirs_embeds, ref_embeds),
                                  ('logits', ours_logits, theirs_logits, ref_logits)):
    ratio = errors(ours, ref) / errors(theirs, ref)
    print(f'{cfg.llm.hidden} {dtype} {name}: ours {errors(ours, ref)}, torch '
          f'{errors(theirs, ref)}, ratio {ratio}')
    assert np.all(ratio <= MAX_RATIO), (name, errors(ours, ref), errors(theirs, ref))
