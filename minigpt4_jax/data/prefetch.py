"""Batches put on the device ahead of the step that uses them, resumably.

``jax.make_array_from_process_local_data`` (and ``device_put``) start the transfer and
return; the jitted step dispatched before it is still running. So when step k's
batch is taken, batch k+1 is pulled from the host pipeline, prepared and sent while
the device computes step k, as flax's ``jax_utils.prefetch_to_device`` and MaxText's
input pipelines do. The queue is bounded (``ahead`` batches), and ``get_state``
names the next batch not yet taken, so a checkpoint resumes where the trainer was,
not where the prefetch was.
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Generic, Iterator, Protocol, TypeVar

Prepared = TypeVar('Prepared')


class Resumable(Protocol):
  """An iterator whose position can be saved and restored between items."""

  def __next__(self) -> Any: ...
  def get_state(self) -> Any: ...
  def set_state(self, state: Any) -> None: ...
  def close(self) -> None: ...


class DevicePrefetch(Generic[Prepared], Iterator[Prepared]):
  """``prepare(step, batch)`` of each host batch, ``ahead`` batches before it is taken.

  ``step`` counts the batches taken from ``start`` on (``set_state`` resets it), so a
  batch's preparation may depend on its step, as the trainer's prompt draw does.
  """

  def __init__(self, batches: Resumable, prepare: Callable[[int, Any], Prepared],
               ahead: int = 1, start: int = 0):
    if ahead < 0:
      raise ValueError(f'ahead={ahead}: the number of batches prefetched is >= 0')
    self.batches = batches
    self.prepare = prepare
    self.ahead = ahead
    self.next_step = start  # the step of the next batch pulled from ``batches``
    self.queue: collections.deque[tuple[Any, Prepared]] = collections.deque()

  def __next__(self) -> Prepared:
    while len(self.queue) <= self.ahead:
      state = self.batches.get_state()  # before the pull: the state that resumes at it
      self.queue.append((state, self.prepare(self.next_step, next(self.batches))))
      self.next_step += 1
    return self.queue.popleft()[1]

  def get_state(self) -> Any:
    """The host pipeline's state at the next batch ``__next__`` returns."""
    return self.queue[0][0] if self.queue else self.batches.get_state()

  def set_state(self, state: Any, step: int) -> None:
    """Resumes at ``state`` (from ``get_state``), whose next batch is ``step``'s."""
    self.queue.clear()
    self.batches.set_state(state)
    self.next_step = step

  def close(self) -> None:
    self.queue.clear()
    self.batches.close()
