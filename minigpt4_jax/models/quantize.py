"""Weight-only int8 for inference: the frozen ViT's and the LLM's matmul weights.

MiniGPT-4 loads its LLM in 8 bits for small GPUs (``low_resource``: bitsandbytes
``load_in_8bit``); here qwix (the JAX quantization library) does post-training
quantization: every ``Linear`` kernel of the vision tower and of the LLM (LM head
included) is stored as int8 with one absmax scale per output channel, and its matmul
dequantizes the kernel in the compute dtype (activations stay unquantized). The
embeddings table, norms, the Q-Former and the trainable projector keep their dtype.

A loader never needs the float model whole: ``abstract_quantized`` gives the int8
model's structure without allocating it (qwix's PTQ trace runs under
``nnx.eval_shape``), and ``set_weight`` fills it one float parameter at a time,
quantizing each kernel as it arrives with the same qwix function the trace uses.
"""

from __future__ import annotations

from typing import Callable

import flax
import jax
import jax.numpy as jnp
import qwix
from flax import nnx

from minigpt4_jax.models.configs import LoraConfig
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


def require_no_lora(lora: LoraConfig | None) -> None:
  """Refuses adapters: a LoRA layer adds them to its own float matmul of the kernel,
  which cannot take qwix's int8 kernel."""
  if lora is not None:
    raise ValueError('--quantize int8 is not supported for a model with LoRA adapters')


def quantize_int8(model: VisionLanguageModel) -> VisionLanguageModel:
  """The model with its vision tower and LLM replaced by int8-weight copies."""
  require_no_lora(model.cfg.lora)
  size = model.cfg.vision.image_size
  dtype = model.llm.embed_tokens.dtype
  model.vision = int8_linear_weights(model.vision, jnp.zeros((1, size, size, 3), dtype))
  model.llm = int8_linear_weights(model.llm, input_ids=jnp.zeros((1, 1), jnp.int32))
  return model


def check_mode(mode: str) -> None:
  """``--quantize``: 'none' (as loaded) or 'int8' (``quantize_int8``)."""
  if mode not in QUANTIZE_CHOICES:
    raise ValueError(f'--quantize {mode!r}; expected one of {QUANTIZE_CHOICES}')


def abstract_quantized(create: Callable[[], VisionLanguageModel], mode: str) -> VisionLanguageModel:
  """The model ``create`` builds, quantized by ``mode`` (``check_mode``), as shapes and
  dtypes only: nothing is allocated, so it can be filled by ``set_weight``."""
  check_mode(mode)
  return nnx.eval_shape(lambda: quantize_int8(create()) if mode == 'int8' else create())


def set_weight(model: nnx.Module, path: str, array: jax.Array) -> None:
  """Puts the float parameter ``path`` ('llm/layers/0/mlp/up_proj/kernel') into ``model``,
  quantized where ``model`` holds it as int8: ``qwix.quantize_params`` with the
  quantization the PTQ trace recorded, so the values equal ``quantize_int8``'s."""
  keys = tuple(int(k) if k.isdigit() else k for k in path.split('/'))
  slot = _child(model, keys)
  if isinstance(slot, nnx.Variable):
    slot.set_value(array)
    return
  quantized = qwix.quantize_params(flax.traverse_util.unflatten_dict({keys: array}), model)
  for leaf_keys, value in flax.traverse_util.flatten_dict(quantized).items():
    _child(model, leaf_keys).set_value(value)  # .../kernel/array/qvalue and .../scale


def _child(node, keys: tuple[str | int, ...]):
  for key in keys:
    node = node[key] if isinstance(key, int) else getattr(node, key)
  return node
