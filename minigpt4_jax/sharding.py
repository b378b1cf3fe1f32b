"""Device mesh and the one table that maps logical parameter axes onto it.

Mesh axes: ``data`` (pure data parallel), ``fsdp`` (data parallel whose devices also
split parameters and optimizer state), ``tensor`` (model parallel inside layers).
Parameters name their axes logically (``layers.py``); ``LOGICAL_RULES`` decides where
each goes, so changing the parallelism never touches a model file.
"""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MESH_AXES = ('data', 'fsdp', 'tensor')

# logical axis -> mesh axis (None = replicated). Model dims shard over fsdp, the
# "wide" dims (heads, MLP, vocab) over tensor, as in Megatron-style layouts.
LOGICAL_RULES: dict[str, str | None] = {
    'embed': 'fsdp',
    'mlp': 'tensor',
    'heads_merged': 'tensor',
    'kv_merged': 'tensor',
    'qkv': 'tensor',
    'vocab': 'tensor',
    'qformer_embed': None,
    'projector_in': None,
    'norm': None,
    'layers': None,  # scanned blocks' stacking axis (models/scanned_layers.py)
}

# Activations: the batch splits over every data-parallel axis.
BATCH_AXES = ('data', 'fsdp')


def make_mesh(data: int = -1, fsdp: int = 1, tensor: int = 1,
              devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A (data, fsdp, tensor) mesh; one size may be -1 to take the remaining devices."""
  devices = list(devices if devices is not None else jax.devices())
  sizes = [data, fsdp, tensor]
  if sizes.count(-1) > 1:
    raise ValueError(f'mesh: at most one of data/fsdp/tensor may be -1, got {sizes}')
  known = int(np.prod([s for s in sizes if s != -1]))
  if -1 in sizes:
    if len(devices) % known:
      raise ValueError(f'mesh: {len(devices)} devices do not divide by {known}')
    sizes[sizes.index(-1)] = len(devices) // known
  if int(np.prod(sizes)) != len(devices):
    raise ValueError(f'mesh {dict(zip(MESH_AXES, sizes))} needs {int(np.prod(sizes))} devices, '
                     f'have {len(devices)}')
  return jax.make_mesh(
      tuple(sizes), MESH_AXES, devices=devices,
      axis_types=(jax.sharding.AxisType.Auto,) * len(MESH_AXES),
  )


def logical_to_mesh(spec: PartitionSpec | tuple, mesh: Mesh,
                    shape: tuple[int, ...] | None = None) -> PartitionSpec:
  """Applies LOGICAL_RULES; a dim that does not divide its mesh axis stays replicated."""
  out = []
  for i, name in enumerate(tuple(spec)):
    axis = LOGICAL_RULES.get(name) if name is not None else None
    if name is not None and name not in LOGICAL_RULES:
      raise KeyError(f'logical axis {name!r} has no rule in sharding.LOGICAL_RULES')
    if axis is not None and shape is not None and shape[i] % mesh.shape[axis]:
      axis = None  # e.g. Vicuna v0's 32001-token vocabulary over tensor=2
    out.append(axis)
  return PartitionSpec(*out)


def state_shardings(state: nnx.State, mesh: Mesh) -> nnx.State:
  """NamedShardings for a (possibly abstract) nnx state from its logical annotations."""
  specs = nnx.get_partition_spec(state)

  def to_sharding(spec, leaf):
    return NamedSharding(mesh, logical_to_mesh(spec, mesh, getattr(leaf, 'shape', None)))

  return jax.tree.map(to_sharding, specs, state,
                      is_leaf=lambda x: isinstance(x, PartitionSpec))


def batch_sharding(mesh: Mesh, ndim: int) -> NamedSharding:
  """Leading (batch) dim over data x fsdp, the rest replicated."""
  return NamedSharding(mesh, PartitionSpec(BATCH_AXES, *([None] * (ndim - 1))))
