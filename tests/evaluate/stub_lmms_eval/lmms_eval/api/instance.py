"""A request as lmms-eval hands it to a model: ``args`` is the tuple of arguments."""

import dataclasses
from typing import Any


@dataclasses.dataclass
class Instance:
  request_type: str
  arguments: tuple
  idx: int
  metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def args(self) -> tuple:
    return self.arguments
