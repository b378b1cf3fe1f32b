"""Parameters by path: the flat ``'llm/layers/7/mlp/up_proj/kernel' -> Variable`` view that
the checkpoint format, the converter and the trainable patterns share.

Which parameters train is a tuple of regexes over these paths (as big_vision's
``config.schedule`` names parameter groups), e.g. ``('projector/.*',)`` (MiniGPT-4),
``('projector/.*', 'llm/.*')`` (LLaVA stage 2), ``('projector/.*', 'llm/.*/lora_[ab]')``.
"""

from __future__ import annotations

import re

import jax
import numpy as np
from flax import nnx


def path_str(path: tuple) -> str:
  """An nnx path as 'a/b/0/c' (attribute names, list indices)."""
  return '/'.join(str(getattr(k, 'key', getattr(k, 'idx', k))) for k in path)


def param_table(model: nnx.Module) -> dict[str, nnx.Variable]:
  """``path -> Variable`` for every nnx.Param of ``model``."""
  return {path_str(p): v for p, v in nnx.iter_graph(model) if isinstance(v, nnx.Param)}


def matching(patterns: tuple[str, ...]) -> nnx.filterlib.Filter:
  """An nnx filter: the parameters whose path fully matches one of the regexes."""
  compiled = [re.compile(p) for p in patterns]

  def selected(path: tuple, value) -> bool:
    del value
    name = path_str(path)
    return any(c.fullmatch(name) for c in compiled)

  return nnx.All(nnx.Param, selected)


def split_by_patterns(model: nnx.Module, patterns: tuple[str, ...]):
  """(graphdef, matched state, rest) of ``model``; a pattern that matches no parameter
  is an error (a typo would otherwise silently freeze what it meant to train)."""
  paths = list(param_table(model))
  for p in patterns:
    if not any(re.fullmatch(p, path) for path in paths):
      raise ValueError(f'trainable pattern {p!r} matches no parameter; paths look like '
                       f'{paths[0]!r}, {paths[-1]!r}')
  return nnx.split(model, matching(patterns), ...)


def count(state) -> int:
  """Number of scalars in a state (or any pytree of arrays)."""
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(state))
