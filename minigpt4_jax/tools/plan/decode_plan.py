"""Plans one decoding step (``generate.decode.feed``: one token per row through the
KV cache), compiled for a single device, against the memory-bound ideal: every LLM
weight and every cache slot read once."""

from __future__ import annotations

import dataclasses

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


@dataclasses.dataclass(frozen=True)
class DecodePlan:
  chip: Chip
  batch: int
  cache_len: int
  cost: CompiledCost
  weight_bytes: int
  cache_bytes: int

  @property
  def ideal_bytes(self) -> int:
    return self.weight_bytes + self.cache_bytes

  @property
  def bytes_ratio(self) -> float:
    return self.cost.bytes_accessed / self.ideal_bytes

  def tokens_per_second_bound(self) -> float:
    """Rows x steps/s if the step ran at the chip's HBM bandwidth on its ideal bytes."""
    return self.batch * self.chip.hbm_bytes_per_s / self.ideal_bytes

  def as_dict(self) -> dict:
    c = self.cost
    return {'chip': self.chip.name, 'batch': self.batch, 'cache_len': self.cache_len,
            'bytes_accessed': c.bytes_accessed, 'ideal_bytes': self.ideal_bytes,
            'weight_bytes': self.weight_bytes, 'cache_bytes': self.cache_bytes,
            'bytes_ratio': self.bytes_ratio, 'temp_bytes': c.temp_bytes,
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
  return DecodePlan(chip, batch, cache_len, compiled_cost(compiled),
                    weight_bytes=_nbytes(state), cache_bytes=_nbytes((cache.k, cache.v)))


def decode_text(plan: DecodePlan) -> str:
  c = plan.cost
  return '\n'.join([
      f'one decode step on 1 x {plan.chip.name}: batch {plan.batch}, cache {plan.cache_len} slots',
      f'bytes accessed {gib(c.bytes_accessed)} vs ideal {gib(plan.ideal_bytes)} '
      f'(weights {gib(plan.weight_bytes)} + cache {gib(plan.cache_bytes)} read once): '
      f'{plan.bytes_ratio:.2f}x',
      f'memory: temps {gib(c.temp_bytes)}, total {gib(c.total_bytes)} of {gib(plan.chip.hbm_bytes)}',
      f'bandwidth bound: {plan.tokens_per_second_bound():,.0f} tokens/s '
      f'({plan.chip.hbm_bytes_per_s / 1e9:,.0f} GB/s)',
  ])
