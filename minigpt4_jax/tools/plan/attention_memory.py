"""One LLM attention's forward and backward compiled for a TPU slice: per-chip temporaries
by kernel (BENCHMARKS.md, "Attention kernels on TPU").

  python -m minigpt4_jax.tools.plan.attention_memory --topology v5p-8 --batch 64

LLaVA-1.5-7B's shape by default (32 heads of 128, 2048 tokens, bf16), rows over the
fsdp axis; needs the TPU compiler (``pip install 'minigpt4-jax[tpu]'``).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

from minigpt4_jax import sharding
from minigpt4_jax.models import attention_kernels, llama
from minigpt4_jax.tools.plan import chips
from minigpt4_jax.tools.plan.report import gib


def compiled_attention(devices, kernel: str, batch: int, tokens: int, heads: int,
                       head_dim: int) -> jax.stages.Compiled:
  """``jax.grad`` of the causal, padded attention of [batch, tokens, heads, head_dim]."""
  mesh = sharding.make_mesh(data=1, fsdp=-1, devices=devices)
  rows = NamedSharding(mesh, PartitionSpec(sharding.BATCH_AXES, None, None, None))
  q = jax.ShapeDtypeStruct((batch, tokens, heads, head_dim), jnp.bfloat16, sharding=rows)
  valid = jax.ShapeDtypeStruct((batch, tokens), jnp.bool_,
                               sharding=NamedSharding(mesh, PartitionSpec(sharding.BATCH_AXES)))

  def loss(q, k, v, valid):
    slots = jnp.broadcast_to(jnp.arange(tokens), (batch, tokens))
    out = attention_kernels.attention(q, k, v, mask_bts=llama.causal_mask(slots, valid),
                                      scale=None, requested=kernel, causal_valid_bt=valid)
    return out.astype(jnp.float32).sum()

  with jax.set_mesh(mesh):
    return jax.jit(jax.grad(loss, argnums=(0, 1, 2))).lower(q, q, q, valid).compile()


def main(argv: list[str] | None = None) -> None:
  p = argparse.ArgumentParser(prog='python -m minigpt4_jax.tools.plan.attention_memory',
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--topology', default='v5p-8')
  p.add_argument('--batch', type=int, default=64, help='global rows')
  p.add_argument('--tokens', type=int, default=2048)
  p.add_argument('--heads', type=int, default=32)
  p.add_argument('--head-dim', type=int, default=128)
  args = p.parse_args(argv)
  devices = chips.devices(chips.parse(args.topology))
  for kernel in ('xla', 'splash'):
    compiled = compiled_attention(devices, kernel, args.batch, args.tokens, args.heads,
                                  args.head_dim)
    memory = compiled.memory_analysis()
    print(f'{kernel}: {args.batch // len(devices)} rows/chip, temps '
          f'{gib(memory.temp_size_in_bytes)}, arguments {gib(memory.argument_size_in_bytes)}, '
          f'Mosaic kernels {compiled.as_text().count("tpu_custom_call")}')


if __name__ == '__main__':
  main()
