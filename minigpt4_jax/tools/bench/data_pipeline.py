"""Input-pipeline cost: the trainer's thread per batch, and decode + crop per core.

  python -m minigpt4_jax.tools.bench.data_pipeline --workers 0 2 --batch 256 --batches 4
  python -m launch.bench --what data            (the same, at its defaults)

Replicates the demo shards ``--copies`` times in a temporary directory (so reads are
real tar reads), then runs the training pipeline (RandomResizedCrop, batching) after
a warm-up batch, for each worker count, and prints:

  main ms/batch  CPU time of the calling (trainer's) thread per ``next()``: what the
                 train loop pays per batch besides waiting; with workers, what is
                 left after decoding moved out (the target at pod rates: <= 30 ms
                 per 256 images).
  images/CPU-s   with 0 workers, images per CPU-second of the whole process: decode
                 + crop + batching on one core, i.e. what one worker core delivers.
  images/s       wall-clock rate on this machine (all its cores, shared).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import tempfile
import time

from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.data.config import default_config
from minigpt4_jax.data.pipeline import make_train_iterator
from minigpt4_jax.data.sources import expand_braces


def replicate_demo(directory: pathlib.Path, copies: int) -> str:
  shards = expand_braces(demo_paths().shards)
  n = 0
  for _ in range(copies):
    for shard in shards:
      shutil.copyfile(shard, directory / f'{n:05d}.tar')
      n += 1
  return str(directory / f'{{00000..{n - 1:05d}}}.tar')


def pipeline_costs(pattern: str, workers: int, batch: int, batches: int) -> dict[str, float]:
  """{'main_ms', 'images_per_cpu_s', 'images_per_s'} over ``batches`` timed batches."""
  cfg = default_config()
  cfg.train_shards = (pattern,)
  cfg.num_workers = workers
  it = make_train_iterator(cfg, global_batch_size=batch, seed=0, process_index=0,
                           process_count=1)
  next(it)  # warm-up: workers started, buffers filling
  main, cpu, wall = time.thread_time(), time.process_time(), time.perf_counter()
  for _ in range(batches):
    next(it)
  main, cpu, wall = (time.thread_time() - main, time.process_time() - cpu,
                     time.perf_counter() - wall)
  it.close()
  images = batches * batch
  return {'main_ms': 1e3 * main / batches, 'images_per_cpu_s': images / cpu,
          'images_per_s': images / wall}


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--workers', type=int, nargs='+', default=[0, 2])
  parser.add_argument('--copies', type=int, default=16)
  parser.add_argument('--batch', type=int, default=256)
  parser.add_argument('--batches', type=int, default=4, help='timed batches per worker count')
  args = parser.parse_args(argv)
  with tempfile.TemporaryDirectory() as tmp:
    pattern = replicate_demo(pathlib.Path(tmp), args.copies)
    print(f'{os.cpu_count()} CPU cores; demo images (<= 256 px JPEG) -> {args.batch} x '
          '224x224 crops per batch')
    print(f'{"workers":>8} {"main ms/batch":>14} {"images/CPU-s":>13} {"images/s":>9}')
    for workers in args.workers:
      costs = pipeline_costs(pattern, workers, args.batch, args.batches)
      per_core = f'{costs["images_per_cpu_s"]:>13.1f}' if workers == 0 else f'{"-":>13}'
      print(f'{workers:>8} {costs["main_ms"]:>14.1f} {per_core} {costs["images_per_s"]:>9.1f}')


if __name__ == '__main__':
  main()
