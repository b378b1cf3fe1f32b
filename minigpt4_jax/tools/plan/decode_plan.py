"""Plans one decoding step (``generate.decode.feed``: one token per row through the
KV cache), compiled for a single device, against the memory-bound ideal: every LLM
weight and every cache slot read once."""

from __future__ import annotations

import dataclasses
import re

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import SingleDeviceSharding

from minigpt4_jax.generate.decode import feed
from minigpt4_jax.models.configs import LlamaConfig
from minigpt4_jax.models.llama import KVCache, Llama
from minigpt4_jax.tools.plan.chips import Chip
from minigpt4_jax.tools.plan.costs import CompiledCost, compiled_cost
from minigpt4_jax.tools.plan.report import gib

# A ``copy-start`` whose result sits in memory space 1 (a TPU's on-chip VMEM) prefetches
# a buffer ahead of its uses, which then read the copy. XLA's bytes accessed count the
# copy-start three times (its read, and its two outputs: the copy and the source it
# aliases) and the copy-done once, on top of the uses' reads: 4 extra counts of a buffer
# read from HBM once. Checked op by op on the 7B decode step (BENCHMARKS.md), where the
# prefetched o_proj kernels alone add 4 GiB that are not HBM traffic.
PREFETCH_EXTRA_COUNTS = 4
_PREFETCH = re.compile(r'= \((\w+)\[([\d,]*)\]\{[^}]*S\(1\)\}, [^\n]*? copy-start\(')


def on_chip_prefetches(hlo_text: str) -> tuple[int, int]:
  """(copies, bytes) of the prefetches into on-chip memory in a compiled program's text
  (``Compiled.as_text()``), bytes without tile padding; (0, 0) for a CPU program."""
  copies = total = 0
  for dtype, dims in _PREFETCH.findall(hlo_text):
    bits = 8 if dtype == 'pred' else int(re.search(r'\d+', dtype).group())
    elements = 1
    for d in filter(None, dims.split(',')):
      elements *= int(d)
    copies += 1
    total += elements * bits // 8
  return copies, total


@dataclasses.dataclass(frozen=True)
class DecodePlan:
  chip: Chip
  batch: int
  cache_len: int
  cost: CompiledCost
  weight_bytes: int
  cache_bytes: int
  prefetch_copies: int = 0
  prefetch_bytes: int = 0

  @property
  def ideal_bytes(self) -> int:
    return self.weight_bytes + self.cache_bytes

  @property
  def bytes_ratio(self) -> float:
    return self.cost.bytes_accessed / self.ideal_bytes

  @property
  def bytes_less_prefetch_copies(self) -> float:
    """XLA's bytes accessed less the counts a prefetch adds: as if each prefetched
    buffer were read from HBM where it is used."""
    return self.cost.bytes_accessed - PREFETCH_EXTRA_COUNTS * self.prefetch_bytes

  def tokens_per_second_bound(self) -> float:
    """Rows x steps/s if the step ran at the chip's HBM bandwidth on its ideal bytes."""
    return self.batch * self.chip.hbm_bytes_per_s / self.ideal_bytes

  def as_dict(self) -> dict:
    c = self.cost
    return {'chip': self.chip.name, 'batch': self.batch, 'cache_len': self.cache_len,
            'bytes_accessed': c.bytes_accessed, 'ideal_bytes': self.ideal_bytes,
            'weight_bytes': self.weight_bytes, 'cache_bytes': self.cache_bytes,
            'bytes_ratio': self.bytes_ratio, 'temp_bytes': c.temp_bytes,
            'prefetch_copies': self.prefetch_copies, 'prefetch_bytes': self.prefetch_bytes,
            'bytes_less_prefetch_copies': self.bytes_less_prefetch_copies,
            'total_bytes': c.total_bytes, 'xla_flops': c.flops,
            'tokens_per_second_bound': self.tokens_per_second_bound()}


def _nbytes(tree) -> int:
  return sum(x.size * jnp.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree))


def compile_decode_step(cfg: LlamaConfig, device: jax.Device, batch: int, cache_len: int,
                        dtype=jnp.bfloat16) -> tuple[jax.stages.Compiled, nnx.State, KVCache]:
  """One ``feed`` step compiled for ``device`` (cache donated, as the decode loop
  updates it) on abstract weights and cache of ``dtype``: (program, weights, cache)."""
  graphdef, state = nnx.split(nnx.eval_shape(
      lambda: Llama(cfg, dtype=dtype, param_dtype=dtype, rngs=nnx.Rngs(0))))
  cache = jax.eval_shape(lambda: KVCache.empty(cfg, batch, cache_len, dtype))
  on_device = SingleDeviceSharding(device)

  def placed(tree):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=on_device),
                        tree)

  def step(state, token_b, positions_b, cache):
    return feed(nnx.merge(graphdef, state), token_b, positions_b, cache)

  rows = jax.ShapeDtypeStruct((batch,), jnp.int32, sharding=on_device)
  compiled = jax.jit(step, donate_argnums=(3,)).lower(
      placed(state), rows, rows, placed(cache)).compile()
  return compiled, state, cache


def plan_decode(cfg: LlamaConfig, chip: Chip, device: jax.Device, batch: int, cache_len: int,
                dtype=jnp.bfloat16) -> DecodePlan:
  compiled, state, cache = compile_decode_step(cfg, device, batch, cache_len, dtype)
  copies, prefetched = on_chip_prefetches(compiled.as_text())
  return DecodePlan(chip, batch, cache_len, compiled_cost(compiled),
                    weight_bytes=_nbytes(state), cache_bytes=_nbytes((cache.k, cache.v)),
                    prefetch_copies=copies, prefetch_bytes=prefetched)


def decode_text(plan: DecodePlan) -> str:
  c = plan.cost
  return '\n'.join([
      f'one decode step on 1 x {plan.chip.name}: batch {plan.batch}, cache {plan.cache_len} slots',
      f'bytes accessed {gib(c.bytes_accessed)} vs ideal {gib(plan.ideal_bytes)} '
      f'(weights {gib(plan.weight_bytes)} + cache {gib(plan.cache_bytes)} read once): '
      f'{plan.bytes_ratio:.2f}x',
      f'of which on-chip prefetches: {plan.prefetch_copies} copies of '
      f'{gib(plan.prefetch_bytes)}, counted {PREFETCH_EXTRA_COUNTS + 1} times for one HBM read; '
      f'counted once: {gib(plan.bytes_less_prefetch_copies)} = '
      f'{plan.bytes_less_prefetch_copies / plan.ideal_bytes:.2f}x',
      f'memory: temps {gib(c.temp_bytes)}, total {gib(c.total_bytes)} of {gib(plan.chip.hbm_bytes)}',
      f'bandwidth bound: {plan.tokens_per_second_bound():,.0f} tokens/s '
      f'({plan.chip.hbm_bytes_per_s / 1e9:,.0f} GB/s)',
  ])
