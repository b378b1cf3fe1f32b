"""Int8 weight-only quantization, measured: logits error and greedy agreement against
the bf16 model it came from, weight bytes (real for tiny / mid, from abstract shapes for
7B / 13B, part by part), and the peak host memory of loading a checkpoint in int8.

  python -m minigpt4_jax.tools.bench.int8 [--sizes [tiny] [mid]] [--prompts 16] [--new-tokens 32]
      [--load-memory-layers 40]

tiny and mid are random-weight models (``tools/bench/sizes.py``): their logits are flatter
than a trained model's, so agreement here is a pessimistic figure. The memory figure
saves ``mid`` with ``--load-memory-layers`` LLM layers (a few hundred MB in bf16) as a
converted checkpoint and loads it in child processes: bf16 only, bf16 then
``quantize_int8`` (the whole bf16 model first), and ``load(..., quantize='int8')``
(quantized group by group as it is read); each child reports its peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minigpt4_jax import checkpoint
from minigpt4_jax.bundled import TINY_TOKENIZER
from minigpt4_jax.families import preset
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.generate.generator import Generator
from minigpt4_jax.loading import load
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.models.params import param_table
from minigpt4_jax.models.quantize import quantize_int8
from minigpt4_jax.tools.bench.batches import image_prompts
from minigpt4_jax.tools.bench.sizes import SIZES


def weight_bytes(model: nnx.Module) -> int:
  return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(nnx.state(model)))


def part_of(path: str) -> str:
  """The part of the model a parameter path belongs to, for the byte breakdown."""
  if path.startswith('vision/'):
    return 'ViT'
  if path.startswith(('qformer/', 'ln_vision/')):
    return 'Q-Former (+ ln_vision)'
  if path.startswith('projector/'):
    return 'projector'
  if path.startswith('llm/embed_tokens/'):
    return 'embeddings'
  if path.startswith('llm/lm_head/'):
    return 'LM head'
  return 'LLM norms' if '_norm/' in path or path.startswith('llm/norm/') else 'LLM matmuls'


def part_bytes(model: nnx.Module) -> dict[str, int]:
  """Weight bytes by ``part_of`` (int8 kernels count their values and their scales)."""
  out: dict[str, int] = {}
  for path, variable in param_table(model).items():
    out[part_of(path)] = out.get(part_of(path), 0) + variable.size * variable.dtype.itemsize
  return out


def abstract_model(cfg, quantize: bool) -> nnx.Module:
  """A bf16 model (int8 where ``quantize``) as shapes only: nothing is allocated."""
  def create():
    model = VisionLanguageModel(cfg, dtype=jnp.bfloat16, param_dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    return quantize_int8(model) if quantize else model

  return nnx.eval_shape(create)


def print_bytes(name: str, cfg) -> None:
  """Whole-model and per-part weight bytes in bf16 and int8, in GB and GiB."""
  model = abstract_model(cfg, False)
  params = sum(int(np.prod(v.shape)) for v in param_table(model).values())
  bf16, int8 = part_bytes(model), part_bytes(abstract_model(cfg, True))
  print(f'{name}: {params / 1e9:.3f} B parameters ({params / 1e9:.2f} GB at one byte each)')
  for part in bf16:
    print(f'  {part}: {bf16[part] / 1e9:.3f} GB bf16 -> {int8[part] / 1e9:.3f} GB int8')
  total16, total8 = sum(bf16.values()), sum(int8.values())
  print(f'  total: {total16 / 1e9:.2f} GB ({total16 / 2**30:.2f} GiB) bf16 -> '
        f'{total8 / 1e9:.2f} GB ({total8 / 2**30:.2f} GiB) int8')


LOAD_MODES = ('bf16', 'bf16 then quantize_int8', 'int8 while loading')


def load_once(ckpt: str, mode: str) -> None:
  """One child's load (``load_memory``): the model in ``mode``, materialised; prints the
  process's peak RSS in kB (VmHWM: this process's own, from its exec on, whereas
  ru_maxrss would count the large parent's pages that the fork mapped)."""
  if mode in LOAD_MODES:
    loaded = load(ckpt, jnp.bfloat16, quantize='int8' if mode == LOAD_MODES[2] else 'none')
    model = quantize_int8(loaded.model) if mode == LOAD_MODES[1] else loaded.model
    jax.block_until_ready(jax.tree.leaves(nnx.state(model)))
  status = pathlib.Path('/proc/self/status').read_text()
  print(next(line.split()[1] for line in status.splitlines() if line.startswith('VmHWM:')))


def load_memory(layers: int) -> None:
  """Peak RSS of loading ``mid`` with ``layers`` LLM layers in each of ``LOAD_MODES``."""
  cfg = dataclasses.replace(SIZES['mid'].model,
                            llm=dataclasses.replace(SIZES['mid'].model.llm, num_layers=layers))
  with tempfile.TemporaryDirectory() as work:
    ckpt = pathlib.Path(work) / 'ckpt'
    model = VisionLanguageModel(cfg, dtype=jnp.bfloat16, param_dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    size = weight_bytes(model)
    checkpoint.save(model, ckpt, TINY_TOKENIZER)
    del model
    print(f'loading mid with {layers} LLM layers: {size / 2**20:.0f} MiB of bf16 weights')
    for mode in ('imports only',) + LOAD_MODES:
      child = subprocess.run([sys.executable, '-m', __spec__.name, '--load-once', str(ckpt), mode],
                             capture_output=True, text=True, check=False)
      if child.returncode:
        raise SystemExit(f'the {mode!r} child failed:\n{child.stderr[-2000:]}')
      print(f'  {mode}: peak RSS {int(child.stdout.split()[-1]) / 2**10:.0f} MiB')


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
  p.add_argument('--sizes', nargs='*', default=['tiny', 'mid'], choices=['tiny', 'mid'])
  p.add_argument('--prompts', type=int, default=16)
  p.add_argument('--new-tokens', type=int, default=32)
  p.add_argument('--load-memory-layers', type=int, default=40)
  p.add_argument('--load-once', nargs=2, metavar=('CKPT', 'MODE'), help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.load_once:
    load_once(*args.load_once)
    return
  for name in args.sizes:
    cfg = SIZES[name].model
    model = VisionLanguageModel(cfg, dtype=jnp.bfloat16, param_dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    bf16_bytes = weight_bytes(model)
    quantized = quantize_int8(nnx.clone(model))
    print(f'{name}: weights {bf16_bytes / 2**20:.2f} MiB bf16 -> '
          f'{weight_bytes(quantized) / 2**20:.2f} MiB int8')
    for metric, value in compare(model, quantized, args.prompts, args.new_tokens).items():
      print(f'  {metric}: {value:.4g}')
  load_memory(args.load_memory_layers)
  for name in ('vicuna_7b', 'vicuna_13b'):
    print_bytes(name, preset(name))


if __name__ == '__main__':
  main()
