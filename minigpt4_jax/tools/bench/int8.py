"""Int8 weight-only quantization, measured: logits error and greedy agreement against
the bf16 model it came from, and weight bytes (real for tiny / mid, from abstract
shapes for 7B / 13B).

  python -m minigpt4_jax.tools.bench.int8 [--sizes tiny mid] [--prompts 16] [--new-tokens 32]

tiny and mid are random-weight models (``tools/bench/sizes.py``): their logits are flatter
than a trained model's, so agreement here is a pessimistic figure.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minigpt4_jax.families import preset
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.generate.generator import Generator
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.models.quantize import quantize_int8
from minigpt4_jax.tools.bench.batches import image_prompts
from minigpt4_jax.tools.bench.sizes import SIZES


def weight_bytes(model: nnx.Module) -> int:
  return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(nnx.state(model)))


def abstract_bytes(cfg, quantize: bool) -> int:
  """Weight bytes of a bf16 model (int8 where ``quantize``) without allocating it."""
  def create():
    model = VisionLanguageModel(cfg, dtype=jnp.bfloat16, param_dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    return quantize_int8(model) if quantize else model

  return weight_bytes(nnx.eval_shape(create))


def compare(model, quantized, count: int, new_tokens: int) -> dict[str, float]:
  ids, pixels = image_prompts(model.cfg, count, 64)
  ids, pixels = jnp.asarray(ids), jnp.asarray(pixels, jnp.bfloat16)
  embeds = [m.embed_multimodal(ids, m.encode_image(pixels)) for m in (model, quantized)]
  logits = [np.asarray(m.llm(inputs_embeds=e), np.float32) for m, e in zip((model, quantized),
                                                                            embeds)]
  config = GenerationConfig(max_new_tokens=new_tokens, do_sample=False)
  mask = jnp.ones(ids.shape, bool)
  answers = [Generator(m.llm).generate(e, mask, config).tokens for m, e in zip((model, quantized),
                                                                              embeds)]
  same = answers[0] == answers[1]
  return {
      'logits max |err| / max |bf16|': float(np.abs(logits[1] - logits[0]).max()
                                             / np.abs(logits[0]).max()),
      'logits relative L2 error': float(np.linalg.norm(logits[1] - logits[0])
                                        / np.linalg.norm(logits[0])),
      'next-token argmax agreement': float(np.mean(logits[0].argmax(-1) == logits[1].argmax(-1))),
      'greedy answers identical': float(np.mean(same.all(axis=1))),
      'greedy tokens before first difference': float(np.mean(np.cumprod(same, axis=1).sum(1))),
  }


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--sizes', nargs='+', default=['tiny', 'mid'], choices=['tiny', 'mid'])
  p.add_argument('--prompts', type=int, default=16)
  p.add_argument('--new-tokens', type=int, default=32)
  args = p.parse_args()
  for name in args.sizes:
    cfg = SIZES[name].model
    model = VisionLanguageModel(cfg, dtype=jnp.bfloat16, param_dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    bf16_bytes = weight_bytes(model)
    quantized = quantize_int8(nnx.clone(model))
    print(f'{name}: weights {bf16_bytes / 2**20:.2f} MiB bf16 -> '
          f'{weight_bytes(quantized) / 2**20:.2f} MiB int8')
    for metric, value in compare(model, quantized, args.prompts, args.new_tokens).items():
      print(f'  {metric}: {value:.4g}')
  for name in ('vicuna_7b', 'vicuna_13b'):
    bf16, int8 = abstract_bytes(preset(name), False), abstract_bytes(preset(name), True)
    print(f'{name}: weights {bf16 / 1e9:.2f} GB bf16 -> {int8 / 1e9:.2f} GB int8 '
          f'({int8 / 2**30:.2f} GiB)')


if __name__ == '__main__':
  main()
