"""Plans a training step: compile for a topology, compare with the analytic count,
and search the largest batch that fits cleanly."""

from __future__ import annotations

import dataclasses
import importlib.util
import pathlib
import time
from typing import Sequence

import jax
import ml_collections

from minigpt4_jax.tools.plan import step_flops, train_program
from minigpt4_jax.tools.plan.chips import Chip
from minigpt4_jax.tools.plan.costs import compiled_cost
from minigpt4_jax.tools.plan.report import TrainPlan


def load_config(spec: str) -> ml_collections.ConfigDict:
  """'configs/minigpt4_stage1.py:vicuna7b' -> that file's ``get_config('vicuna7b')``
  (no argument after the colon: its default), unlocked for the planner's overrides."""
  path, _, arg = spec.partition(':')
  file = pathlib.Path(path)
  if not file.is_file():
    raise FileNotFoundError(f'--config {spec!r}: no file {path}')
  module_spec = importlib.util.spec_from_file_location(f'plan_config_{file.stem}', file)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not hasattr(module, 'get_config'):
    raise ValueError(f'--config {spec!r}: {path} has no get_config()')
  config = module.get_config(arg) if arg else module.get_config()
  return config.unlock()


@dataclasses.dataclass(frozen=True)
class TrainRequest:
  """What to compile: the run's config with the planner's overrides applied."""

  config: ml_collections.ConfigDict
  chip: Chip
  devices: Sequence[jax.Device]
  seq_len: int | None = None   # None: train_program.default_shape's
  remat: str | None = None     # None: the config's model.remat
  llm_layers: int | None = None  # None: the preset's; fewer compile faster at full width
  scan_layers: bool | None = None  # None: the config's model.scan_layers


def plan_train(request: TrainRequest, batch: int, policy_ratio: float = 1.0) -> TrainPlan:
  """Compiles the step at global ``batch`` and reads its costs (no weights, no run);
  ``policy_ratio``: ``TrainPlan.policy_ratio``."""
  config = request.config
  cfg = train_program.model_config(config)
  if request.llm_layers is not None:
    if request.llm_layers < 1:
      raise ValueError(f'--llm-layers {request.llm_layers}: expected at least 1')
    cfg = dataclasses.replace(cfg, llm=dataclasses.replace(cfg.llm, num_layers=request.llm_layers))
  shape = train_program.default_shape(config, cfg, batch)
  if request.seq_len:
    shape = dataclasses.replace(shape, seq_len=request.seq_len)
  if shape.first_target >= shape.seq_len:
    raise ValueError(f'sequence of {shape.seq_len} tokens leaves no answer after the '
                     f'{cfg.num_image_tokens} image tokens')
  unit = batch_multiple(request)
  if batch % unit:
    raise ValueError(f'batch {batch} must divide by {unit} (mesh data x fsdp x train.grad_accum)')
  remat = request.remat or config.model.remat
  scan_layers = config.model.scan_layers if request.scan_layers is None else request.scan_layers
  mesh = train_program.make_mesh(config, request.devices)
  lowered = train_program.lower_train_step(config, cfg, shape, mesh, remat, scan_layers)
  start = time.perf_counter()
  compiled = lowered.lowered.compile()
  compile_seconds = lowered.lower_seconds + time.perf_counter() - start
  cost = compiled_cost(compiled)
  analytic = step_flops.train_step(cfg, shape.seq_len, batch, shape.first_target - 1,
                                   lowered.llm_trains, shape.from_features)
  return TrainPlan(chip=request.chip, devices=len(request.devices), mesh=dict(mesh.shape),
                   batch=batch, seq_len=shape.seq_len, remat=remat,
                   llm_layers=cfg.llm.num_layers, scan_layers=scan_layers,
                   grad_accum=config.train.grad_accum,
                   compile_seconds=compile_seconds, cost=cost,
                   analytic_flops=analytic, policy_ratio=policy_ratio)


def batch_multiple(request: TrainRequest) -> int:
  """Global batches must split over the data-parallel devices and accumulation steps."""
  mesh = train_program.make_mesh(request.config, request.devices)
  return mesh.shape['data'] * mesh.shape['fsdp'] * request.config.train.grad_accum


def find_max_batch(request: TrainRequest,
                   progress=None) -> tuple[TrainPlan | None, list[TrainPlan]]:
  """(largest clean plan or None, every plan compiled): doubling then bisection over
  multiples of ``batch_multiple``; clean = fits HBM and no compiler recompute beyond
  the remat policy's own (its FLOPs ratio at the smallest batch)."""
  unit, tried = batch_multiple(request), []

  def clean(k: int) -> bool:
    if tried:
      plan = plan_train(request, k * unit, tried[0].policy_ratio)
    else:  # the smallest batch: its ratio is the policy's own
      plan = plan_train(request, k * unit)
      plan = dataclasses.replace(plan, policy_ratio=plan.flops_ratio)
    tried.append(plan)
    if progress is not None:
      progress.update(1)
      progress.set_postfix(batch=k * unit, clean=plan.clean)
    return plan.clean

  if not clean(1):
    return None, tried
  low, high = 1, 2
  while clean(high):
    low, high = high, high * 2
  while high - low > 1:
    mid = (low + high) // 2
    low, high = (mid, high) if clean(mid) else (low, mid)
  best = max((p for p in tried if p.clean), key=lambda p: p.batch)
  return best, tried
