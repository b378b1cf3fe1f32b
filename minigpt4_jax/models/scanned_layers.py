"""Scanned layers (``model.scan_layers``): a tower's identical blocks as one module whose
parameters are stacked on a leading ``layers`` axis, applied with ``jax.lax.scan``, so
XLA compiles one block instead of one per layer (MaxText's ``scan_layers``; flax's
"scan over layers" guide builds the stack with ``nnx.vmap`` and applies it with
``nnx.scan``).

The stack is made from the per-layer blocks (``stack_blocks``), not built stacked:
everything that edits blocks (LoRA adapters, the attention kernel choice) runs on the
per-layer model first, and converted checkpoints, exports and the converters keep
their per-layer parameter paths ('llm/layers/7/mlp/up_proj/kernel'). ``stack_layers``
and ``unstack_layers`` translate between those and the stacked paths
('llm/layers/mlp/up_proj/kernel', float[L, ...]) at the boundary.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping, Sequence, TypeVar

import jax
import jax.numpy as jnp
from flax import nnx

LAYERS_AXIS = 'layers'  # the stacked parameters' leading logical axis (never sharded)
_AXIS_METADATA = {nnx.PARTITION_NAME: LAYERS_AXIS}
# The per-layer module lists a stack replaces: the LLM's and the vision tower's blocks.
STACKED_PREFIXES = ('llm/layers', 'vision/blocks')
_PER_LAYER = re.compile(rf'({"|".join(STACKED_PREFIXES)})/(\d+)/(.+)')
_STACKED = re.compile(rf'({"|".join(STACKED_PREFIXES)})/(\D[^/]*/.+|\D[^/]*)')

A = TypeVar('A')


class Scannable:
  """A tower whose attribute ``BLOCKS`` lists identical blocks; ``scan_layers`` replaces
  them (in place) by their stack, and ``scanned`` tells the forward which it holds."""

  BLOCKS = 'blocks'
  scanned = False

  def scan_layers(self) -> None:
    if not self.scanned:
      setattr(self, self.BLOCKS, stack_blocks(list(getattr(self, self.BLOCKS))))
      self.scanned = True

  def apply_blocks(self, x: jax.Array) -> jax.Array:
    """``x = block(x)`` through the blocks (single-input blocks: the vision towers)."""
    blocks = getattr(self, self.BLOCKS)
    if self.scanned:
      return scan_blocks(blocks, lambda block, x: block(x), x, remat_policy=None, remat=False)
    for block in blocks:
      x = block(x)
    return x


def stack_blocks(blocks: Sequence[nnx.Module]) -> nnx.Module:
  """One module of the blocks' (shared) structure whose every Variable holds the
  blocks' values stacked, [L, ...], with ``layers`` prepended to its logical axes."""
  graphdefs, states = zip(*(nnx.split(b) for b in blocks))
  if any(g != graphdefs[0] for g in graphdefs[1:]):
    raise ValueError('scan_layers: the blocks differ in structure (e.g. LoRA on some only)')
  stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *states)
  return nnx.merge(graphdefs[0], nnx.spmd.add_axis(stacked, 0, _AXIS_METADATA))


def scan_blocks(stack: nnx.Module, apply: Callable, carry: jax.Array, *, remat_policy,
                remat: bool) -> jax.Array:
  """``carry = apply(block_l, carry)`` for l = 0 .. L-1, as one ``lax.scan``.

  The stack is split and merged by hand (as ``llama._rematerialized`` does): nnx's
  transforms try to update the outer Variables in place, which fails where blocks
  hold frozen (untraced) weights. With ``remat`` each step runs under
  ``jax.checkpoint(policy=remat_policy)``, so the scan saves what the policy keeps of
  each layer, as the unrolled blocks do.
  """
  graphdef, state = nnx.split(stack)

  def step(carry, layer_state):
    layer_state = nnx.spmd.remove_axis(layer_state, 0, _AXIS_METADATA)
    return apply(nnx.merge(graphdef, layer_state), carry), None

  if remat:
    step = jax.checkpoint(step, policy=remat_policy)
  return jax.lax.scan(step, carry, state)[0]


def stack_layers(arrays: Mapping[str, A]) -> dict[str, jax.Array]:
  """Per-layer paths -> stacked ones: 'llm/layers/7/X' (for every layer 0..L-1) becomes
  'llm/layers/X' holding the layers' arrays stacked [L, ...]; other paths stay."""
  out: dict = {}
  layers: dict[tuple[str, str], dict[int, A]] = {}
  for path, array in arrays.items():
    match = _PER_LAYER.fullmatch(path)
    if match is None:
      out[path] = array
    else:
      prefix, index, rest = match.groups()
      layers.setdefault((prefix, rest), {})[int(index)] = array
  for (prefix, rest), by_index in layers.items():
    if sorted(by_index) != list(range(len(by_index))):
      raise ValueError(f'scan_layers: {prefix}/N/{rest} is missing layers '
                       f'{sorted(set(range(max(by_index) + 1)) - set(by_index))}')
    out[f'{prefix}/{rest}'] = jnp.stack([by_index[i] for i in range(len(by_index))])
  return out


def unstack_layers(arrays: Mapping[str, A]) -> dict[str, A]:
  """``stack_layers``' inverse: 'llm/layers/X' [L, ...] -> 'llm/layers/l/X' for each l;
  per-layer and other paths stay as they are."""
  out: dict = {}
  for path, array in arrays.items():
    match = _STACKED.fullmatch(path)
    if match is None:
      out[path] = array
    else:
      prefix, rest = match.groups()
      out.update({f'{prefix}/{i}/{rest}': array[i] for i in range(array.shape[0])})
  return out
