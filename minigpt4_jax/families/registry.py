"""The families by name, and the one preset table across them."""

from __future__ import annotations

from minigpt4_jax.errors import BadInput
from minigpt4_jax.families.base import Family
from minigpt4_jax.models.configs import ModelConfig

_FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
  """Adds a family (each family module calls this once, at import)."""
  if family.name in _FAMILIES:
    raise ValueError(f'family {family.name!r} is registered twice')
  clash = set(family.presets) & {p for f in _FAMILIES.values() for p in f.presets}
  if clash:
    raise ValueError(f'family {family.name!r}: presets {sorted(clash)} exist in another family')
  _FAMILIES[family.name] = family
  return family


def names() -> list[str]:
  return sorted(_FAMILIES)


def get(name: str) -> Family:
  try:
    return _FAMILIES[name]
  except KeyError:
    raise BadInput(f'unknown model family {name!r}; known: {names()}') from None


def family_of(cfg: ModelConfig) -> Family:
  """The family a model config belongs to."""
  return get(cfg.family)


def presets() -> dict[str, ModelConfig]:
  """Every family's architecture presets, by name (names are unique across families)."""
  return {n: c for f in _FAMILIES.values() for n, c in f.presets.items()}


def preset(name: str) -> ModelConfig:
  """A named architecture of any family."""
  table = presets()
  try:
    return table[name]
  except KeyError:
    raise BadInput(f'unknown architecture preset {name!r}; known: {sorted(table)}') from None
