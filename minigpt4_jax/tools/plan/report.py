"""One planned program's figures: compiled cost beside the analytic count, and the
step time and throughput it would have at a given MFU."""

from __future__ import annotations

import dataclasses

from minigpt4_jax.tools.plan.chips import GiB, Chip
from minigpt4_jax.tools.plan.costs import CompiledCost

RECOMPUTE_RATIO = 1.01  # XLA's FLOPs above the analytic count by more: remat / recompute
MFUS = (0.4, 0.5, 0.6)


@dataclasses.dataclass(frozen=True)
class TrainPlan:
  """A compiled train step on ``devices`` devices of ``chip`` (figures per device)."""

  chip: Chip
  devices: int
  mesh: dict[str, int]
  batch: int          # global
  seq_len: int
  remat: str
  llm_layers: int
  scan_layers: bool
  compile_seconds: float  # tracing, lowering and compiling the step, on this machine
  cost: CompiledCost
  analytic_flops: float  # whole step, every device together
  # Micro-batches per step, under one lax.scan. XLA's cost analysis counts a loop's body
  # once: FLOPs are scaled to the step (the update outside the loop is elementwise, well
  # under 0.1% of them); bytes accessed stay one micro-step's plus the update's.
  grad_accum: int = 1
  # The remat policy's own recompute, as XLA/analytic at the smallest batch; XLA's
  # FLOPs above it are the compiler's (memory pressure). 1.0: no remat.
  policy_ratio: float = 1.0

  @property
  def step_flops(self) -> float:
    """XLA's FLOPs per device for the whole step, every micro-batch."""
    return self.cost.flops * self.grad_accum

  @property
  def flops_ratio(self) -> float:
    return self.step_flops * self.devices / self.analytic_flops

  @property
  def fits(self) -> bool:
    return self.cost.total_bytes <= self.chip.hbm_bytes

  @property
  def recompute_share(self) -> float:
    """The part of XLA's FLOPs that the analytic count does not have: recompute."""
    return max(0.0, 1.0 - 1.0 / self.flops_ratio)

  @property
  def clean(self) -> bool:
    """Fits in HBM without the compiler recomputing beyond the remat policy to get there."""
    return self.fits and self.flops_ratio <= max(self.policy_ratio, 1.0) * RECOMPUTE_RATIO

  def step_seconds(self, mfu: float) -> float:
    return self.analytic_flops / (self.devices * self.chip.peak_bf16_flops * mfu)

  def as_dict(self) -> dict:
    c = self.cost
    return {
        'chip': self.chip.name, 'devices': self.devices, 'mesh': self.mesh,
        'batch': self.batch, 'batch_per_device': self.batch / self.devices,
        'seq_len': self.seq_len, 'remat': self.remat, 'llm_layers': self.llm_layers,
        'scan_layers': self.scan_layers, 'grad_accum': self.grad_accum,
        'compile_seconds': self.compile_seconds,
        'argument_bytes': c.argument_bytes, 'output_bytes': c.output_bytes,
        'alias_bytes': c.alias_bytes, 'temp_bytes': c.temp_bytes, 'code_bytes': c.code_bytes,
        'total_bytes': c.total_bytes, 'host_temp_bytes': c.host_temp_bytes,
        'hbm_bytes': self.chip.hbm_bytes, 'fits': self.fits,
        'xla_flops_per_device': self.step_flops, 'analytic_flops': self.analytic_flops,
        'flops_ratio': self.flops_ratio, 'recompute': self.flops_ratio > RECOMPUTE_RATIO,
        'recompute_share': self.recompute_share,
        'bytes_accessed_per_device': c.bytes_accessed,
        'step_seconds': {f'{m:.0%}': self.step_seconds(m) for m in MFUS},
        'images_per_second': {f'{m:.0%}': self.batch / self.step_seconds(m) for m in MFUS},
    }


def gib(n: float) -> str:
  """Bytes in GiB, or MiB below one GiB (tiny models)."""
  return f'{n / GiB:.2f} GiB' if n >= GiB else f'{n / 2 ** 20:.2f} MiB'


def train_text(plan: TrainPlan) -> str:
  c = plan.cost
  mesh = ', '.join(f'{k} {v}' for k, v in plan.mesh.items() if v > 1) or 'one device'
  flag = '  <- compiler recompute (remat or memory pressure)' \
      if plan.flops_ratio > RECOMPUTE_RATIO else ''
  fit = 'fits' if plan.fits else 'DOES NOT FIT'
  lines = [
      f'{plan.devices} x {plan.chip.name} ({mesh}); batch {plan.batch} '
      f'({plan.batch / plan.devices:g}/device), {plan.seq_len} tokens, remat {plan.remat}, '
      f'{plan.llm_layers} LLM layers{" (scanned)" if plan.scan_layers else ""}'
      + (f', {plan.grad_accum} micro-batches of {plan.batch // plan.grad_accum}'
         if plan.grad_accum > 1 else '') + '; compiled in '
      f'{plan.compile_seconds:.1f} s',
      f'memory/device: arguments {gib(c.argument_bytes)}, outputs {gib(c.output_bytes)}, '
      f'aliased {gib(c.alias_bytes)}, temps {gib(c.temp_bytes)}, code {gib(c.code_bytes)}',
      f'  total {gib(c.total_bytes)} of {gib(plan.chip.hbm_bytes)} HBM: {fit}'
      + (f'; host temps {gib(c.host_temp_bytes)}' if c.host_temp_bytes else ''),
      f'FLOPs/device: XLA {plan.step_flops:.4g}, '
      f'analytic {plan.analytic_flops / plan.devices:.4g}, ratio {plan.flops_ratio:.3f}{flag}'
      + (f' ({plan.recompute_share:.1%} of XLA\'s FLOPs)' if flag else '')
      + ('; XLA counts the scanned blocks\' loop body once' if plan.scan_layers else ''),
      f'bytes accessed/device: {gib(c.bytes_accessed)} '
      f'({c.flops / max(c.bytes_accessed, 1):.0f} FLOP/byte)'
      + (' in one micro-step and the update' if plan.grad_accum > 1 else ''),
  ]
  for m in MFUS:
    t = plan.step_seconds(m)
    lines.append(f'at {m:.0%} MFU: {t * 1e3:.1f} ms/step, {plan.batch / t:,.0f} images/s')
  return '\n'.join(lines)
