"""Plan a training or decoding step for a TPU slice, ahead of time, on this machine.

  python -m launch.plan --config configs/minigpt4_stage1.py:vicuna7b --topology v5p-8 --batch 256
  python -m launch.plan --config configs/llava_stage2.py:v15_7b --topology v5p-8 \\
      --seq 2048 --find-max-batch
  python -m launch.plan --config configs/minigpt4_stage1.py:vicuna7b --what decode --batch 8

Compiles the real program from abstract shapes (no weights; the config's dtype,
mesh, trainable patterns and remat, the trainer's shardings and donation) with
libtpu's compiler, and prints per-device memory (arguments, outputs, aliased,
temporaries vs the chip's HBM), XLA's FLOPs vs the analytic count (a ratio above
1.01 is compiler recompute), bytes accessed, and step time / images/s at 40-60% MFU.
TPU topologies need the TPU compiler (pip install 'minigpt4-jax[tpu]', best in its own
venv); --topology cpu compiles for this host's CPU devices. --batch is global.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import tqdm

from minigpt4_jax.models.remat import REMAT_POLICIES
from minigpt4_jax.models import attention_kernels
from minigpt4_jax.tools.plan import chips, decode_plan, report, train_plan, train_program


def parse_args(argv: list[str] | None) -> argparse.Namespace:
  p = argparse.ArgumentParser(prog='python -m launch.plan', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--config', required=True, help='CONFIG_FILE[:PRESETS], as launch.train takes')
  p.add_argument('--topology', default='v5p-8',
                 help=f'{", ".join(sorted(chips.TOPOLOGIES))}, cpu, or CHIP:AxB[xC]')
  size = p.add_mutually_exclusive_group()
  size.add_argument('--batch', type=int, help='global batch (default: the config\'s; decode: 8)')
  size.add_argument('--find-max-batch', action='store_true',
                    help='binary search for the largest batch that fits without recompute')
  p.add_argument('--what', choices=('train', 'decode'), default='train')
  p.add_argument('--seq', type=int,
                 help='tokens per row (default: the widest batch the trainer compiles: '
                      'text.max_length, or BOS + image + max_answer_tokens rounded up to 8)')
  p.add_argument('--remat', choices=tuple(REMAT_POLICIES),
                 help='the LLM blocks\' policy (models/remat.py); default: the config\'s')
  p.add_argument('--llm-layers', type=int,
                 help='LLM blocks to compile (default: the preset\'s), at full width')
  p.add_argument('--scan-layers', action=argparse.BooleanOptionalAction,
                 help='the towers\' blocks under lax.scan (model.scan_layers); '
                      'default: the config\'s')
  p.add_argument('--attention', choices=attention_kernels.IMPLEMENTATIONS,
                 help='the attention kernel (model.attention); default: the config\'s')
  p.add_argument('--features', action='store_true',
                 help='train on cached tower outputs (data.kind=features): no ViT/Q-Former')
  p.add_argument('--grad-accum', type=int,
                 help='micro-batches per step (train.grad_accum); default: the config\'s')
  p.add_argument('--mesh', help='DATA,FSDP,TENSOR (one may be -1), default: the config\'s')
  p.add_argument('--cache-len', type=int, default=1024, help='decode: KV cache slots')
  p.add_argument('--json', type=pathlib.Path, help='also write the figures here')
  return p.parse_args(argv)


def _apply_mesh(config, mesh: str) -> None:
  parts = mesh.split(',')
  if len(parts) != 3 or not all(x.lstrip('-').isdigit() for x in parts):
    raise ValueError(f'--mesh {mesh!r}: expected DATA,FSDP,TENSOR such as 1,4,1')
  config.mesh.data, config.mesh.fsdp, config.mesh.tensor = (int(x) for x in parts)


def run(args: argparse.Namespace) -> dict:
  """Plans what ``args`` ask for, prints it, and returns its figures."""
  topology = chips.parse(args.topology)
  chip = chips.CHIPS[topology.chip]
  config = train_plan.load_config(args.config)
  if args.mesh:
    _apply_mesh(config, args.mesh)
  if args.attention:
    config.model.attention = args.attention
  if args.features:
    config.data.kind = 'features'
  if args.grad_accum is not None:
    if args.grad_accum < 1:
      raise ValueError(f'--grad-accum {args.grad_accum}: expected at least 1')
    config.train.grad_accum = args.grad_accum
  devices = chips.devices(topology)
  if args.what == 'decode':
    cfg = train_program.model_config(config).llm
    plan = decode_plan.plan_decode(cfg, chip, devices[0], args.batch or 8, args.cache_len)
    print(decode_plan.decode_text(plan))
    return plan.as_dict()
  request = train_plan.TrainRequest(config, chip, devices, args.seq, args.remat, args.llm_layers,
                                    args.scan_layers)
  if not args.find_max_batch:
    plan = train_plan.plan_train(request, args.batch or config.train.batch_size)
    print(report.train_text(plan))
    return plan.as_dict()
  with tqdm.tqdm(desc='compiling batches', unit='compile') as progress:
    best, tried = train_plan.find_max_batch(request, progress)
  for plan in sorted(tried, key=lambda p: p.batch):
    print(f'batch {plan.batch}: {report.gib(plan.cost.total_bytes)}, FLOPs ratio '
          f'{plan.flops_ratio:.3f}: {"clean" if plan.clean else "not clean"}')
  if best is None:
    print('no clean batch: even the smallest does not fit without recompute')
    return {'largest_clean': None, 'tried': [p.as_dict() for p in tried]}
  print(f'largest clean batch: {best.batch} ({best.batch / best.devices:g}/device)')
  print(report.train_text(best))
  return {'largest_clean': best.as_dict(), 'tried': [p.as_dict() for p in tried]}


def main(argv: list[str] | None = None) -> None:
  args = parse_args(argv)
  try:
    figures = run(args)
  except (ValueError, FileNotFoundError, RuntimeError) as e:
    print(f'launch.plan: {e}', file=sys.stderr)
    sys.exit(2)
  if args.json:
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))


if __name__ == '__main__':
  main()
