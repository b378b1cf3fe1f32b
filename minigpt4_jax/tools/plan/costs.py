"""What XLA reports about one compiled program, per device."""

from __future__ import annotations

import dataclasses

import jax


@dataclasses.dataclass(frozen=True)
class CompiledCost:
  """Per-device figures of a compiled SPMD program (XLA compiles one program that
  every device runs on its shard, so these are one device's)."""

  argument_bytes: int
  output_bytes: int
  alias_bytes: int   # outputs written into donated arguments
  temp_bytes: int
  code_bytes: int
  flops: float
  bytes_accessed: float
  host_temp_bytes: int = 0  # temporaries in host memory (remat policies that offload)

  @property
  def total_bytes(self) -> int:
    """Peak footprint: arguments + outputs not aliased to them + temporaries + code."""
    return (self.argument_bytes + self.output_bytes - self.alias_bytes + self.temp_bytes
            + self.code_bytes)


def compiled_cost(compiled: jax.stages.Compiled) -> CompiledCost:
  memory = compiled.memory_analysis()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  return CompiledCost(
      argument_bytes=int(memory.argument_size_in_bytes),
      output_bytes=int(memory.output_size_in_bytes),
      alias_bytes=int(memory.alias_size_in_bytes),
      temp_bytes=int(memory.temp_size_in_bytes),
      code_bytes=int(memory.generated_code_size_in_bytes),
      flops=float(cost.get('flops', 0.0)),
      bytes_accessed=float(cost.get('bytes accessed', 0.0)),
      host_temp_bytes=int(memory.host_temp_size_in_bytes),
  )
