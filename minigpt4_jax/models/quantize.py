"""Weight-only int8 for inference: the frozen ViT's and the LLM's matmul weights.

MiniGPT-4 loads its LLM in 8 bits for small GPUs (``low_resource``: bitsandbytes
``load_in_8bit``); here qwix (the JAX quantization library) does post-training
quantization: every ``Linear`` kernel of the vision tower and of the LLM (LM head
included) is stored as int8 with one absmax scale per output channel, and its matmul
dequantizes the kernel in the compute dtype (activations stay unquantized). The
embeddings table, norms, the Q-Former and the trainable projector keep their dtype.
"""

from __future__ import annotations

import jax.numpy as jnp
import qwix
from flax import nnx

from minigpt4_jax.models.vlm import VisionLanguageModel

QUANTIZE_CHOICES = ('none', 'int8')
# Every matmul weight of the module it is applied to; per-channel: qwix's default for
# a weight is one scale per non-contracted (output) index. The ViT's patch-embedding
# convolution stays as it is: qwix quantizes convolutions only with their activations
# (and it holds 0.06% of ViT-g's weights).
INT8_WEIGHTS = (qwix.QuantizationRule(module_path='(?!.*patch_embed).*', weight_qtype='int8'),)


def int8_linear_weights(module: nnx.Module, *example_inputs, **example_kwargs) -> nnx.Module:
  """A copy of ``module`` whose matmul weights are int8 (qwix PTQ traces one call to
  find them; the inputs' values do not matter)."""
  return qwix.quantize_model(module, qwix.PtqProvider(INT8_WEIGHTS), *example_inputs,
                             **example_kwargs)


def quantize_int8(model: VisionLanguageModel) -> VisionLanguageModel:
  """The model with its vision tower and LLM replaced by int8-weight copies."""
  size = model.cfg.vision.image_size
  dtype = model.llm.embed_tokens.dtype
  model.vision = int8_linear_weights(model.vision, jnp.zeros((1, size, size, 3), dtype))
  model.llm = int8_linear_weights(model.llm, input_ids=jnp.zeros((1, 1), jnp.int32))
  return model


def quantized(model: VisionLanguageModel, mode: str) -> VisionLanguageModel:
  """``--quantize``: 'none' (as loaded) or 'int8' (``quantize_int8``)."""
  if mode not in QUANTIZE_CHOICES:
    raise ValueError(f'--quantize {mode!r}; expected one of {QUANTIZE_CHOICES}')
  return quantize_int8(model) if mode == 'int8' else model
