"""Benchmark the MiniGPT-4 train step (minigpt4-jax vs PyTorch) and generation.

  python -m launch.bench --size mid --what train --json runs/bench/mid.json
  python -m launch.bench --size tiny --what all
  python -m launch.bench --chart BENCHMARKS-chart.png runs/bench/tiny.json runs/bench/mid.json

--what train: both frameworks' train steps on the same random weights, interleaved
in one process, at stage-1 and stage-2 shapes (minigpt4_jax.tools.bench.train_bench).
--what decode: python -m minigpt4_jax.tools.bench.decode at this size (its own table;
not in --json). --what data: the input pipeline's cost per 256-image batch on the
trainer's thread and decode + crop images/s per core
(minigpt4_jax.tools.bench.data_pipeline; any --size). Sizes 7b and 13b are the
real shapes and need a GPU.
"""

from __future__ import annotations

import os

# PyTorch's OpenMP threads otherwise spin-wait between ops; on this project's
# 2-vCPU machines that made its steps 3x slower and erratic even with JAX idle
# (BENCHMARKS.md). Set before torch is imported; an explicit setting wins.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
# On a GPU both frameworks share the device: JAX must not take 75% of it up front.
os.environ.setdefault('XLA_PYTHON_CLIENT_PREALLOCATE', 'false')

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
from minigpt4_jax.cli import run  # noqa: E402
from minigpt4_jax.errors import BadInput  # noqa: E402
from minigpt4_jax.tools.bench import report, runtime, sizes, train_bench  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
  p = argparse.ArgumentParser(prog='python -m launch.bench', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--size', choices=sorted(sizes.SIZES), default='tiny')
  p.add_argument('--what', choices=('train', 'decode', 'data', 'all'), default='train')
  p.add_argument('--json', type=pathlib.Path, help='write the train figures here')
  p.add_argument('--steps', type=int, default=5, help='timed steps per framework and shape')
  p.add_argument('--batch', type=int, help='batch of every shape (default: per size)')
  p.add_argument('--shapes', nargs='+', choices=[s.name for s in sizes.SHAPES],
                 default=[s.name for s in sizes.SHAPES])
  p.add_argument('--no-memory', action='store_true',
                 help='skip the peak-RSS processes (one per framework and shape)')
  p.add_argument('--chart', type=pathlib.Path,
                 help='instead of benchmarking, plot the given --json files into this PNG')
  p.add_argument('inputs', nargs='*', type=pathlib.Path, help='--json files for --chart')
  return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
  args = parse_args(argv)
  if args.chart:
    report.plot([json.loads(path.read_text()) for path in args.inputs], args.chart)
    return
  size = sizes.SIZES[args.size]
  if size.needs_gpu and not runtime.detect().on_gpu:
    raise BadInput(f'--size {args.size} runs the real MiniGPT-4 shapes and needs a GPU visible '
                   'to both JAX and PyTorch; this machine has none (a single step would take '
                   'hours on its CPU). Use --size tiny or --size mid here.')
  if args.what in ('train', 'all'):
    shapes = tuple(s for s in sizes.SHAPES if s.name in args.shapes)
    bench = train_bench.run(args.size, size, shapes, reps=args.steps, batch=args.batch,
                            memory=not args.no_memory)
    figures = report.summary(bench)
    print(report.table(figures))
    if args.json:
      args.json.parent.mkdir(parents=True, exist_ok=True)
      args.json.write_text(json.dumps(figures, indent=2))
  if args.what in ('decode', 'all'):
    from minigpt4_jax.tools.bench import decode as decode_bench
    if args.size not in decode_bench.SIZES:
      raise BadInput(f'the decode benchmark has sizes {sorted(decode_bench.SIZES)}, not '
                     f'{args.size!r}')
    decode_bench.main(['--size', args.size])
  if args.what in ('data', 'all'):
    from minigpt4_jax.tools.bench import data_pipeline
    data_pipeline.main([])


if __name__ == '__main__':
  run(main)
