"""Damaged checkpoints, reported as one line naming the step (or group) and the array.

A truncated or deleted array file makes orbax/TensorStore raise a chain of
exceptions whose outermost message is a dump of the TensorStore spec; the useful
part (``Error reading "projector.kernel.value/0.0" ...: Requested byte range ... is
not valid``) sits inside the chain. ``damage_reason`` digs it out.
"""

from __future__ import annotations

import re

from minigpt4_jax.errors import UserError

CHECKPOINT_METADATA = '_CHECKPOINT_METADATA'  # orbax's per-step marker of a finished save
# TensorStore names the key it failed on: '... Error reading "llm.embed.value/0.0" in OCDBT ...'
_ARRAY_KEY = re.compile(r'Error reading "([^"/]+?)(?:\.value)?/[^"]*"')


class DamagedCheckpoint(UserError):
  """A checkpoint's files are missing or corrupt; the message says which."""


def _chain(err: BaseException) -> list[BaseException]:
  seen = []
  while err is not None and err not in seen:
    seen.append(err)
    err = err.__cause__ or err.__context__
  return seen


def damage_reason(err: BaseException) -> str:
  """A one-line account of why a restore failed: the array TensorStore names and its
  complaint, else the innermost cause's first line (never the spec dump)."""
  for e in _chain(err):
    match = _ARRAY_KEY.search(str(e))
    if match:
      return f'array {match.group(1)} cannot be read ({str(e).rsplit(": ", 1)[-1].strip()})'
  innermost = _chain(err)[-1]
  lines = str(innermost).strip().splitlines()
  return f'{type(innermost).__name__}: {lines[0][:300] if lines else "no message"}'
