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


def plan_figures(path: pathlib.Path) -> tuple[dict, bool]:
  """A ``launch.plan --json`` file's figures and whether they are a ``--find-max-batch``
  search's largest clean plan (else the file's one plan)."""
  figures = json.loads(path.read_text())
  best = figures.get('largest_clean')
  return (best, True) if best else (figures, False)


def rows_per_chip(f: dict) -> str:
  """The batch per chip, and how the step splits it (plans before --grad-accum: one pass)."""
  micro = f.get('grad_accum', 1)
  rows = f'{f["batch_per_device"]:g}'
  return rows if micro == 1 else f'{rows} in {micro} micro-batches'


def train_row(name: str, f: dict) -> str:
  mesh = ', '.join(f'{k} {v}' for k, v in f['mesh'].items() if v > 1)
  flag = ' (recompute)' if f['recompute'] else ''
  fit = '' if f['fits'] else ' OOM'
  # XLA counts an accumulation loop's body once: its bytes are one micro-step's and the update.
  per_step = ' a micro-step' if f.get('grad_accum', 1) > 1 else ''
  return (f'| {name} | {f["devices"]} x {f["chip"]}, {mesh} | {rows_per_chip(f)} | '
          f'{gib(f["total_bytes"])} ({gib(f["argument_bytes"])} + {gib(f["temp_bytes"])}){fit} | '
          f'{f["flops_ratio"]:.3f}{flag} | {gib(f["bytes_accessed_per_device"])}{per_step} | '
          f'{f["step_seconds"]["50%"] * 1e3:.0f} ms, {f["images_per_second"]["50%"]:,.0f} |')


POLICY_HEADER = ('| remat | chips, mesh, LLM layers | batch/chip | memory/chip (arg + temp) '
                 '| host temps | XLA / analytic FLOPs | recompute, of XLA\'s FLOPs '
                 '| step at 50% of peak FLOP/s | largest clean batch/chip |\n'
                 '|---|---|---|---|---|---|---|---|---|')


def same_step(f: dict) -> tuple:
  """What a remat policy leaves unchanged: the chips, the depth and the batch's shape."""
  return f['chip'], f['devices'], f['llm_layers'], f['seq_len'], f['batch']


def policy_row(path: pathlib.Path, no_remat_flops: dict[tuple, float] | None = None) -> str:
  """One remat policy's plan (``--find-max-batch`` files: their largest clean batch);
  the step time counts XLA's FLOPs, recompute included, at half the chip's peak.

  Recompute is the share of XLA's FLOPs above the same step planned with remat 'none'
  when ``no_remat_flops`` has it, else above the analytic count: XLA counts a Pallas
  kernel's FLOPs its own way (splash attention: below the analytic T x S), so only the
  first compares policies under it."""
  f, searched = plan_figures(path)
  mesh = ', '.join(f'{k} {v}' for k, v in f['mesh'].items() if v > 1)
  seconds = f['xla_flops_per_device'] / (0.5 * CHIPS[f['chip']].peak_bf16_flops)
  largest = f'{f["batch_per_device"]:g}' if searched else '-'
  baseline = (no_remat_flops or {}).get(same_step(f))
  recompute = (f['recompute_share'] if baseline is None
               else 1.0 - baseline / f['xla_flops_per_device'])
  return (f'| {f["remat"]} | {f["devices"]} x {f["chip"]}, {mesh}, {f["llm_layers"]} | '
          f'{rows_per_chip(f)} | {gib(f["total_bytes"])} ({gib(f["argument_bytes"])} + '
          f'{gib(f["temp_bytes"])}){"" if f["fits"] else " OOM"} | {gib(f["host_temp_bytes"])} | '
          f'{f["flops_ratio"]:.3f} | {recompute:.1%} | {seconds * 1e3:.0f} ms | {largest} |')


def no_remat_flops(paths: list[pathlib.Path]) -> dict[tuple, float]:
  """XLA's FLOPs per device of each step planned with remat 'none', by ``same_step``."""
  plans = [plan_figures(p)[0] for p in paths]
  return {same_step(f): f['xla_flops_per_device'] for f in plans if f['remat'] == 'none'}


def decode_row(name: str, f: dict) -> str:
  once = f.get('bytes_less_prefetch_copies')  # absent from plans written before it
  prefetches = ('' if once is None else
                f'; prefetches counted once {gib(once)} = {once / f["ideal_bytes"]:.2f}x')
  return (f'| {name} | 1 x {f["chip"]} | B={f["batch"]}, cache {f["cache_len"]} | '
          f'{gib(f["total_bytes"])} ({gib(f["temp_bytes"])} temp) | - | '
          f'{gib(f["bytes_accessed"])} vs ideal {gib(f["ideal_bytes"])} = {f["bytes_ratio"]:.2f}x'
          f'{prefetches} | bound {f["tokens_per_second_bound"]:,.0f} tok/s |')


def row(path: pathlib.Path) -> str:
  figures = plan_figures(path)[0]
  name = path.stem
  return decode_row(name, figures) if 'cache_len' in figures else train_row(name, figures)


def main(argv: list[str]) -> None:
  p = argparse.ArgumentParser(prog='python -m minigpt4_jax.tools.plan.table', description=__doc__)
  p.add_argument('plans', nargs='+', type=pathlib.Path, help='launch.plan --json files')
  p.add_argument('--policies', action='store_true',
                 help="one row per remat policy: memory, recompute (against the files' "
                      "'none' plan of the same step where there is one), largest clean batch")
  args = p.parse_args(argv)
  print(POLICY_HEADER if args.policies else HEADER)
  baselines = no_remat_flops(args.plans) if args.policies else {}
  for path in args.plans:
    print(policy_row(path, baselines) if args.policies else row(path))


if __name__ == '__main__':
  main(sys.argv[1:])
