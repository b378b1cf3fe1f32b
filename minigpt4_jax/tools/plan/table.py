"""BENCHMARKS.md's planner tables from ``launch.plan --json`` files.

  python -m minigpt4_jax.tools.plan.table runs/plan/*.json
  python -m minigpt4_jax.tools.plan.table --policies runs/plan/stage2_*.json  # remat policies
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

from minigpt4_jax.tools.plan.chips import CHIPS
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


POLICY_HEADER = ('| remat | chips, mesh, LLM layers | batch/chip | memory/chip (arg + temp) '
                 '| host temps | XLA / analytic FLOPs | recompute, of XLA\'s FLOPs '
                 '| step at 50% of peak FLOP/s | largest clean batch/chip |\n|---|---|---|---|---|---|---|---|---|')


def policy_row(path: pathlib.Path) -> str:
  """One remat policy's plan (``--find-max-batch`` files: their largest clean batch);
  the step time counts XLA's FLOPs, recompute included, at half the chip's peak."""
  figures = json.loads(path.read_text())
  best = figures.get('largest_clean')
  f = best or figures
  mesh = ', '.join(f'{k} {v}' for k, v in f['mesh'].items() if v > 1)
  seconds = f['xla_flops_per_device'] / (0.5 * CHIPS[f['chip']].peak_bf16_flops)
  largest = f'{best["batch_per_device"]:g}' if best else '-'
  return (f'| {f["remat"]} | {f["devices"]} x {f["chip"]}, {mesh}, {f["llm_layers"]} | '
          f'{f["batch_per_device"]:g} | {gib(f["total_bytes"])} ({gib(f["argument_bytes"])} + '
          f'{gib(f["temp_bytes"])}){"" if f["fits"] else " OOM"} | {gib(f["host_temp_bytes"])} | '
          f'{f["flops_ratio"]:.3f} | {f["recompute_share"]:.1%} | {seconds * 1e3:.0f} ms | '
          f'{largest} |')


def decode_row(name: str, f: dict) -> str:
  once = f.get('bytes_less_prefetch_copies')  # absent from plans written before it
  prefetches = ('' if once is None else
                f'; prefetches counted once {gib(once)} = {once / f["ideal_bytes"]:.2f}x')
  return (f'| {name} | 1 x {f["chip"]} | B={f["batch"]}, cache {f["cache_len"]} | '
          f'{gib(f["total_bytes"])} ({gib(f["temp_bytes"])} temp) | - | '
          f'{gib(f["bytes_accessed"])} vs ideal {gib(f["ideal_bytes"])} = {f["bytes_ratio"]:.2f}x'
          f'{prefetches} | bound {f["tokens_per_second_bound"]:,.0f} tok/s |')


def row(path: pathlib.Path) -> str:
  figures = json.loads(path.read_text())
  figures = figures.get('largest_clean') or figures
  name = path.stem
  return decode_row(name, figures) if 'cache_len' in figures else train_row(name, figures)


def main(argv: list[str]) -> None:
  p = argparse.ArgumentParser(prog='python -m minigpt4_jax.tools.plan.table', description=__doc__)
  p.add_argument('plans', nargs='+', type=pathlib.Path, help='launch.plan --json files')
  p.add_argument('--policies', action='store_true',
                 help='one row per remat policy: memory, recompute, largest clean batch')
  args = p.parse_args(argv)
  print(POLICY_HEADER if args.policies else HEADER)
  for path in args.plans:
    print(policy_row(path) if args.policies else row(path))


if __name__ == '__main__':
  main(sys.argv[1:])
