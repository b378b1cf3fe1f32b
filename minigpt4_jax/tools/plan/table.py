"""BENCHMARKS.md's planner table from ``launch.plan --json`` files.

  python -m minigpt4_jax.tools.plan.table runs/plan/*.json
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

from minigpt4_jax.tools.plan.report import gib

HEADER = ('| plan | chips, mesh | batch/chip | memory/chip (arg + temp) | XLA / analytic FLOPs '
          '| bytes accessed/chip | step at 50% MFU, images/s |\n|---|---|---|---|---|---|---|')


def train_row(name: str, f: dict) -> str:
  mesh = ', '.join(f'{k} {v}' for k, v in f['mesh'].items() if v > 1)
  flag = ' (recompute)' if f['recompute'] else ''
  fit = '' if f['fits'] else ' OOM'
  return (f'| {name} | {f["devices"]} x {f["chip"]}, {mesh} | {f["batch_per_device"]:g} | '
          f'{gib(f["total_bytes"])} ({gib(f["argument_bytes"])} + {gib(f["temp_bytes"])}){fit} | '
          f'{f["flops_ratio"]:.3f}{flag} | {gib(f["bytes_accessed_per_device"])} | '
          f'{f["step_seconds"]["50%"] * 1e3:.0f} ms, {f["images_per_second"]["50%"]:,.0f} |')


def decode_row(name: str, f: dict) -> str:
  return (f'| {name} | 1 x {f["chip"]} | B={f["batch"]}, cache {f["cache_len"]} | '
          f'{gib(f["total_bytes"])} ({gib(f["temp_bytes"])} temp) | - | '
          f'{gib(f["bytes_accessed"])} vs ideal {gib(f["ideal_bytes"])} = {f["bytes_ratio"]:.2f}x | '
          f'bound {f["tokens_per_second_bound"]:,.0f} tok/s |')


def row(path: pathlib.Path) -> str:
  figures = json.loads(path.read_text())
  figures = figures.get('largest_clean') or figures
  name = path.stem
  return decode_row(name, figures) if 'cache_len' in figures else train_row(name, figures)


def main(argv: list[str]) -> None:
  p = argparse.ArgumentParser(prog='python -m minigpt4_jax.tools.plan.table', description=__doc__)
  p.add_argument('plans', nargs='+', type=pathlib.Path, help='launch.plan --json files')
  plans = p.parse_args(argv).plans
  print(HEADER)
  for path in plans:
    print(row(path))


if __name__ == '__main__':
  main(sys.argv[1:])
