"""Accelerator topologies the planner compiles for, and each chip's published figures.

TPU topologies come from libtpu's compiler without any TPU attached
(``jax.experimental.topologies.get_topology_desc``, as MaxText's train_compile.py
does); ``cpu`` is this host's own CPU devices (tests, and machines without libtpu).
Chip figures: https://cloud.google.com/tpu/docs/system-architecture-tpu-vm
(per chip; HBM in GiB as the compiler counts it, peak dense bf16 FLOP/s).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import jax

GiB = 1024 ** 3


@dataclasses.dataclass(frozen=True)
class Chip:
  name: str
  hbm_bytes: int
  peak_bf16_flops: float  # per chip, per second
  hbm_bytes_per_s: float


CHIPS: dict[str, Chip] = {
    'v4': Chip('v4', 32 * GiB, 275e12, 1228e9),
    'v5e': Chip('v5e', 16 * GiB, 197e12, 819e9),
    'v5p': Chip('v5p', 95 * GiB, 459e12, 2765e9),
    'v6e': Chip('v6e', 32 * GiB, 918e12, 1640e9),
    # This host: no meaningful peak; its figures only make the report's shape testable.
    'cpu': Chip('cpu', 16 * GiB, 1e12, 50e9),
}


@dataclasses.dataclass(frozen=True)
class Topology:
  """``spec`` as get_topology_desc takes it ('v5p:2x2x1'); megacore chips (v4, v5p)
  count one device per chip."""

  chip: str
  spec: str
  megacore: bool = False


# Slice names count TensorCores for v4/v5p (v5p-8 = 4 chips) and chips for v5e/v6e.
TOPOLOGIES: dict[str, Topology] = {
    'v5p-8': Topology('v5p', 'v5p:2x2x1', megacore=True),
    'v4-8': Topology('v4', 'v4:2x2x1', megacore=True),
    'v5e-4': Topology('v5e', 'v5e:2x2'),
    'v6e-8': Topology('v6e', 'v6e:2x4'),
}


def parse(name: str) -> Topology:
  """A named slice, 'cpu', or a raw spec 'CHIP:AxB[xC]' (v4/v5p raw specs are megacore)."""
  if name in TOPOLOGIES:
    return TOPOLOGIES[name]
  if name == 'cpu':
    return Topology('cpu', 'cpu')
  chip, _, dims = name.partition(':')
  if chip not in CHIPS or chip == 'cpu' or not dims or not all(
      d.isdigit() for d in dims.split('x')):
    raise ValueError(f'--topology {name!r}: expected one of {sorted(TOPOLOGIES)}, cpu, or '
                     f'CHIP:AxB[xC] with CHIP in {sorted(set(CHIPS) - {"cpu"})}')
  return Topology(chip, name, megacore=chip in ('v4', 'v5p'))


def devices(topology: Topology) -> Sequence[jax.Device]:
  """The topology's devices, to build a mesh and compile for (nothing runs on them)."""
  if topology.chip == 'cpu':
    return jax.devices('cpu')
  # Several planner processes may each load libtpu's compiler (no TPU is opened).
  os.environ.setdefault('ALLOW_MULTIPLE_LIBTPU_LOAD', '1')
  os.environ.setdefault('TPU_WORKER_HOSTNAMES', 'localhost')
  from jax.experimental import topologies  # noqa: PLC0415 (needs the env set first)
  dims = tuple(int(d) for d in topology.spec.partition(':')[2].split('x'))
  kwargs = {}
  if topology.megacore:
    kwargs = dict(chip_config_name='megacore', chips_per_host_bounds=dims,
                  wrap=(False,) * len(dims))
  try:
    desc = topologies.get_topology_desc(topology.spec, 'tpu', **kwargs)
  except Exception as e:  # libtpu missing, or a shape it rejects
    raise RuntimeError(f'--topology {topology.spec}: the TPU compiler is unavailable or '
                       f'rejects it ({str(e).splitlines()[0]}); pip install '
                       "'minigpt4-jax[tpu]' in a separate venv") from None
  return desc.devices
