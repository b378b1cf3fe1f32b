"""Whether a stored checkpoint has the arrays a run builds: a settings change, not damage.

A resume restores into the tree the run builds. When the run's settings differ from the
ones that wrote the workdir in a way that changes that tree (``model.scan_layers``
stacks the blocks, ``train.trainable`` or ``model.lora_rank`` change what trains),
orbax refuses the restore just as it refuses a truncated array. Treating that as damage
would move every intact step aside and start again from scratch; comparing the stored
tree's paths and shapes (orbax's item metadata, read without the arrays) with the
built one tells the two apart.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax

Layout = dict[str, tuple[int, ...]]  # 'llm/layers/0/attn/q_proj/kernel' -> shape


def _key_name(key: Any) -> str:
  for attr in ('key', 'name', 'idx'):
    if hasattr(key, attr):
      return str(getattr(key, attr))
  return str(key)


def array_layout(tree: Any) -> Layout:
  """Every array of ``tree`` (arrays, ShapeDtypeStructs or orbax ArrayMetadata) by its
  '/'-joined path, nnx's trailing 'value' dropped, to its shape."""
  layout = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    names = [_key_name(k) for k in path]
    if names and names[-1] == 'value':
      names = names[:-1]
    layout['/'.join(names)] = tuple(getattr(leaf, 'shape', ()))
  return layout


def layout_difference(stored: Layout, built: Layout, shown: int = 2) -> str | None:
  """None when ``stored`` and ``built`` hold the same arrays with the same shapes, else
  a one-line account of the first ``shown`` differences."""
  only_stored = sorted(stored.keys() - built.keys())
  only_built = sorted(built.keys() - stored.keys())
  reshaped = sorted(k for k in stored.keys() & built.keys() if stored[k] != built[k])
  if not (only_stored or only_built or reshaped):
    return None
  parts = []
  if only_stored:
    parts.append(f'{len(only_stored)} stored arrays the run does not build (e.g. '
                 f'{", ".join(f"{k} {stored[k]}" for k in only_stored[:shown])})')
  if only_built:
    parts.append(f'{len(only_built)} built arrays not stored (e.g. '
                 f'{", ".join(f"{k} {built[k]}" for k in only_built[:shown])})')
  if reshaped:
    examples = (f'{k} stored {stored[k]}, built {built[k]}' for k in reshaped[:shown])
    parts.append(f'{len(reshaped)} of other shapes (e.g. {", ".join(examples)})')
  return '; '.join(parts)


def _flat(config: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
  out = {}
  for key, value in config.items():
    if isinstance(value, Mapping):
      out.update(_flat(value, f'{prefix}{key}.'))
    else:
      out[f'{prefix}{key}'] = value
  return out


def structural_changes(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
  """'model.scan_layers: True -> False' for each ``model.*`` and ``train.trainable``
  field that differs between two run configs (as dicts): what can change the tree."""
  old, new = _flat(before), _flat(now)
  keys = sorted(k for k in old.keys() | new.keys()
                if (k.startswith('model.') or k == 'train.trainable') and old.get(k) != new.get(k))
  return [f'{k}: {old.get(k)!r} -> {new.get(k)!r}' for k in keys]
