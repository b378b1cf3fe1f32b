"""Measures the converter's peak host memory on a synthetic multi-GB LLaMA.

  python -m minigpt4_jax.tools.bench.convert_memory --gb 4 [--dir /tmp/memcheck]

Writes random bf16 safetensors shards at LLaMA-7B layer shapes (as many layers as
reach --gb) plus a tiny transformers BLIP-2 directory, converts them with
``python -m launch.convert`` in a child process, and prints the child's peak RSS
next to the checkpoint size.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import torch
from safetensors.torch import save_file
from transformers import Blip2Config, Blip2Model

from minigpt4_jax.bundled import TINY_TOKENIZER as TOKENIZER_DIR

HIDDEN, FFN, VOCAB, HEADS = 4096, 11008, 32000, 32


def _layer(i: int) -> dict[str, torch.Tensor]:
  def w(*shape):
    return torch.randn(*shape, dtype=torch.bfloat16)
  p = f'model.layers.{i}.'
  return {p + 'self_attn.q_proj.weight': w(HIDDEN, HIDDEN), p + 'self_attn.k_proj.weight': w(HIDDEN, HIDDEN),
          p + 'self_attn.v_proj.weight': w(HIDDEN, HIDDEN), p + 'self_attn.o_proj.weight': w(HIDDEN, HIDDEN),
          p + 'mlp.gate_proj.weight': w(FFN, HIDDEN), p + 'mlp.up_proj.weight': w(FFN, HIDDEN),
          p + 'mlp.down_proj.weight': w(HIDDEN, FFN),
          p + 'input_layernorm.weight': w(HIDDEN), p + 'post_attention_layernorm.weight': w(HIDDEN)}


def write_llm(directory: pathlib.Path, gb: float) -> tuple[int, int]:
  """Shards of ~1 GB each (one file per layer pair); returns (layers, bytes)."""
  directory.mkdir(parents=True)
  per_layer = 2 * (4 * HIDDEN * HIDDEN + 3 * HIDDEN * FFN)
  edges = 2 * 2 * VOCAB * HIDDEN
  layers = max(1, int((gb * 2**30 - edges) // per_layer))
  weight_map, total = {}, 0
  shards = [{'model.embed_tokens.weight': torch.randn(VOCAB, HIDDEN, dtype=torch.bfloat16)}]
  shards += [{**_layer(i), **(_layer(i + 1) if i + 1 < layers else {})}
             for i in range(0, layers, 2)]
  shards.append({'model.norm.weight': torch.ones(HIDDEN, dtype=torch.bfloat16),
                 'lm_head.weight': torch.randn(VOCAB, HIDDEN, dtype=torch.bfloat16)})
  for n, shard in enumerate(shards):
    name = f'model-{n:05d}-of-{len(shards):05d}.safetensors'
    save_file(shard, directory / name)
    weight_map.update({k: name for k in shard})
    total += sum(t.numel() * t.element_size() for t in shard.values())
  (directory / 'model.safetensors.index.json').write_text(json.dumps({'weight_map': weight_map}))
  (directory / 'config.json').write_text(json.dumps({
      'vocab_size': VOCAB, 'hidden_size': HIDDEN, 'intermediate_size': FFN,
      'num_hidden_layers': layers, 'num_attention_heads': HEADS, 'rms_norm_eps': 1e-5,
      'max_position_embeddings': 4096}))
  for f in TOKENIZER_DIR.iterdir():
    (directory / f.name).write_bytes(f.read_bytes())
  return layers, total


def write_blip2(directory: pathlib.Path) -> None:
  """A tiny transformers BLIP-2 (vision + Q-Former + a tiny OPT, which is unused)."""
  config = Blip2Config(
      vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4),
      qformer_config=dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=128, encoder_hidden_size=64),
      text_config=dict(model_type='opt', hidden_size=32, num_hidden_layers=1, ffn_dim=64,
                       num_attention_heads=2, vocab_size=100, word_embed_proj_dim=32),
      num_query_tokens=8)
  Blip2Model(config).save_pretrained(directory)


def write_inputs(work: pathlib.Path, gb: float, result) -> None:
  layers, size = write_llm(work / 'llm', gb)
  write_blip2(work / 'blip2')
  result.put((layers, size))


def converter_peak_rss(work: pathlib.Path) -> tuple[float, int]:
  """(seconds, peak RSS in bytes) of one converter process, measured by wait4 on it."""
  start = time.perf_counter()
  process = subprocess.Popen([sys.executable, '-m', 'launch.convert', '--blip2',
                              str(work / 'blip2'), '--llm', str(work / 'llm'), '--out',
                              str(work / 'ckpt'), '--overwrite'])
  _, status, usage = os.wait4(process.pid, 0)
  process.returncode = os.waitstatus_to_exitcode(status)
  if process.returncode:
    raise SystemExit(f'launch.convert failed with exit code {process.returncode}')
  return time.perf_counter() - start, usage.ru_maxrss * 1024


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--gb', type=float, default=4.0, help='size of the synthetic LLM')
  parser.add_argument('--dir', type=pathlib.Path, default=None, help='work dir (default: temp)')
  args = parser.parse_args()
  work = args.dir or pathlib.Path(tempfile.mkdtemp(prefix='memcheck-'))
  try:
    # The inputs are made in another process: this one stays small, so the converter
    # (started from it) inherits no large resident memory into its own peak.
    context = multiprocessing.get_context('spawn')
    result = context.Queue()
    writer = context.Process(target=write_inputs, args=(work, args.gb, result))
    writer.start()
    layers, size = result.get()
    writer.join()
    seconds, peak = converter_peak_rss(work)
  finally:
    if args.dir is None:  # several GB of random weights: never leave them in /tmp
      shutil.rmtree(work, ignore_errors=True)
  print(f'synthetic LLaMA: {layers} layers x {HIDDEN}, {size / 2**30:.2f} GiB bf16 safetensors')
  print(f'converted in {seconds:.0f} s; peak RSS of the converter {peak / 2**30:.2f} GiB '
        f'({100 * peak / size:.0f}% of the checkpoint)')


if __name__ == '__main__':
  main()
