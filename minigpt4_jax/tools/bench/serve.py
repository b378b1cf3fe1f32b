"""Serving throughput: tokens/s and time to first token with 1, 4, 8 and 16 concurrent
clients, against one client at a time (each client sends its requests one after another).

  python -m minigpt4_jax.tools.bench.serve [--sizes tiny mid] [--slots 8] [--chart PATH]

Clients talk to the ``Engine`` directly (the server's HTTP and JSON are left out, so
the figures are the decoding's): a request is an image + 64-token prompt and exactly
``--new-tokens`` answer tokens (no EOS, no stop strings). TTFT runs from submitting a
request to its first token: queueing for a slot, the image encoder, prefill, one step.
tiny is the bundled checkpoint; mid is ``tools/bench/sizes.py``'s MID with random weights.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import pathlib
import time

import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm import tqdm

from minigpt4_jax.bundled import TINY_CHECKPOINT
from minigpt4_jax.checkpoint import load as load_checkpoint
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.generate.stop_strings import StopTables
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.serve.engine import Engine, Request
from minigpt4_jax.tools.bench.batches import image_prompts
from minigpt4_jax.tools.bench.contention import OtherLoad
from minigpt4_jax.tools.bench.sizes import SIZES

CLIENTS = (1, 4, 8, 16)


def model_of(size: str):
  if size == 'tiny':
    return load_checkpoint(TINY_CHECKPOINT, dtype=jnp.float32)
  return VisionLanguageModel(SIZES[size].model, rngs=nnx.Rngs(0))


def prompt(model, length: int, seed: int) -> tuple[list[int], np.ndarray]:
  """One request's ids ([BOS] text <image> text, ``length`` of them) and pixels."""
  ids, pixels = image_prompts(model.cfg, 1, length, seed)
  return ids[0].tolist(), pixels[0]


def client(engine: Engine, prompts, config: GenerationConfig) -> list[tuple[float, float, int]]:
  """Sends ``prompts`` one after another -> (TTFT s, latency s, tokens) per request."""
  out = []
  for ids, pixels in prompts:
    start = time.perf_counter()
    first = None
    count = 0
    for tokens in engine.submit(Request(ids, pixels, config, seed=0)).tokens():
      first = first or time.perf_counter() - start
      count += len(tokens)
    out.append((first, time.perf_counter() - start, count))
  return out


def measure(engine: Engine, model, clients: int, per_client: int,
            config: GenerationConfig) -> dict[str, float]:
  prompts = [[prompt(model, 64, seed=c * per_client + r) for r in range(per_client)]
             for c in range(clients)]
  with OtherLoad() as load, concurrent.futures.ThreadPoolExecutor(clients) as pool:
    start = time.perf_counter()
    results = [r for rs in pool.map(lambda p: client(engine, p, config), prompts) for r in rs]
    wall = time.perf_counter() - start
  ttft = np.array([r[0] for r in results])
  return {'clients': clients, 'requests': len(results),
          'tokens_per_s': sum(r[2] for r in results) / wall,
          'ttft_median_s': float(np.median(ttft)), 'ttft_p90_s': float(np.quantile(ttft, 0.9)),
          'latency_median_s': float(np.median([r[1] for r in results])),
          'other_cpu_load': load.fraction}


def bench(size: str, slots: int, per_client: int, new_tokens: int) -> list[dict[str, float]]:
  model = model_of(size)
  engine = Engine(model, slots=slots, context=512, eos_ids=[],
                  stops=StopTables.none(model.cfg.llm.vocab_size)).start()
  config = GenerationConfig(max_new_tokens=new_tokens, do_sample=False)
  try:
    measure(engine, model, slots, 1, config)  # compiles the bucket, insert and the step
    return [measure(engine, model, c, per_client, config)
            for c in tqdm(CLIENTS, desc=f'{size} clients', leave=False)]
  finally:
    engine.close()


def table(size: str, rows: list[dict[str, float]]) -> str:
  alone = rows[0]['tokens_per_s']
  lines = [f'| {size} clients | tokens/s | vs one at a time | TTFT median (p90) | latency median '
           '| other CPU load |', '|---|---|---|---|---|---|']
  for r in rows:
    lines.append(f"| {r['clients']} | {r['tokens_per_s']:.1f} | {r['tokens_per_s'] / alone:.2f}x "
                 f"| {r['ttft_median_s'] * 1e3:.0f} ms ({r['ttft_p90_s'] * 1e3:.0f} ms) "
                 f"| {r['latency_median_s']:.2f} s | {r['other_cpu_load']:.0%} |")
  return '\n'.join(lines)


def plot(results: dict[str, list[dict[str, float]]], path: pathlib.Path) -> None:
  import matplotlib
  matplotlib.use('Agg')  # files only, no display
  from matplotlib import pyplot as plt

  fig, (left, right) = plt.subplots(1, 2, figsize=(7.5, 3.2), dpi=90)
  for size, rows in results.items():
    clients = [r['clients'] for r in rows]
    alone = rows[0]['tokens_per_s']
    left.plot(clients, [r['tokens_per_s'] / alone for r in rows], marker='o', label=size)
    right.plot(clients, [r['ttft_median_s'] * 1e3 for r in rows], marker='o', label=size)
  right.set_yscale('log')
  for ax, label in ((left, 'tokens / s vs one at a time'), (right, 'median TTFT (ms)')):
    ax.set_xlabel('concurrent clients', fontsize=8)
    ax.set_ylabel(label, fontsize=8)
    ax.set_xticks(CLIENTS)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
  fig.suptitle('Slot-batched serving (8 slots), CPU', fontsize=9)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--sizes', nargs='+', default=['tiny', 'mid'], choices=['tiny', 'mid'])
  p.add_argument('--slots', type=int, default=8)
  p.add_argument('--requests-per-client', type=int, default=3)
  p.add_argument('--new-tokens', type=int, default=64)
  p.add_argument('--chart', type=pathlib.Path, help='write the chart (PNG) here')
  args = p.parse_args()
  results = {size: bench(size, args.slots, args.requests_per_client, args.new_tokens)
             for size in args.sizes}
  for size, rows in results.items():
    print(table(size, rows), end='\n\n')
  if args.chart:
    plot(results, args.chart)


if __name__ == '__main__':
  main()
