"""What every metric needs: predictions lined up with the records they answer."""

from __future__ import annotations

from typing import Hashable, Mapping, Protocol, Sequence


class HasSampleId(Protocol):
  @property
  def sample_id(self) -> Hashable: ...


def aligned(records: Sequence[HasSampleId], predictions: Mapping[Hashable, str]) -> list[str]:
  """The prediction for each record, in record order; a missing one is an error
  (scoring a subset silently would report a different benchmark)."""
  missing = [r.sample_id for r in records if r.sample_id not in predictions]
  if missing:
    raise ValueError(f'{len(missing)} of {len(records)} samples have no prediction, '
                     f'e.g. {missing[:5]}')
  if not records:
    raise ValueError('no samples to score')
  return [predictions[r.sample_id] for r in records]


def percent(numerator: float, denominator: float) -> float:
  """100 * numerator / denominator, 0 for an empty denominator (papers print percent)."""
  return 100.0 * numerator / denominator if denominator else 0.0
