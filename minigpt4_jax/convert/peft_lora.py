"""peft LoRA adapters of a LLaMA: their key table, and merging them into the base weights.

peft names an adapted linear's factors ``<module>.lora_A.weight`` [r, in] and
``<module>.lora_B.weight`` [out, r] up to v0.2.0, and ``<module>.lora_A.default.weight``
from v0.3 on (lora_A/B became dicts keyed by adapter name; huggingface/peft v0.3.0
``tuners/lora.py``). Under the original's ``strict=False`` load the wrong naming loads
nothing, silently (Vision-CAIR/MiniGPT-4 issue #415); here both are accepted and
every adapter must be accounted for.

Ours (``models/lora.py``): ``lora_a`` = A^T float[in, r], ``lora_b`` = B^T float[r, out],
y = x W + scale * x A^T B^T, so merging adds scale * lora_a @ lora_b to the kernel
(peft's W + scale * B @ A, transposed).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable, Mapping

import numpy as np

from minigpt4_jax.convert.assign import ConversionError, map_tensors
from minigpt4_jax.convert.tables import Layout, Rule, linear_weight, rule
from minigpt4_jax.convert.torch_io import iter_tensors

# peft's PeftModelForCausalLM -> LoraModel -> LlamaForCausalLM -> LlamaModel.
PEFT_LLAMA_PREFIX = 'base_model.model.model.layers.'


def lora_rules(prefix: str, targets: Iterable[str]) -> tuple[Rule, ...]:
  """Rules for the adapters of the attention ``targets`` (q_proj, ...) under ``prefix``
  (e.g. ``llama_model.base_model.model.model.layers.``), in both peft namings."""
  names = '|'.join(re.escape(t) for t in targets)
  base = re.escape(prefix) + rf'(\d+)\.self_attn\.({names})\.lora_'
  path = 'llm/layers/{0}/attn/{1}/'
  return (rule(base + r'A(?:\.default)?\.weight', path + 'lora_a', transform=linear_weight),
          rule(base + r'B(?:\.default)?\.weight', path + 'lora_b', transform=linear_weight))


def lora_paths(num_layers: int, targets: Iterable[str]) -> set[str]:
  """The adapter parameter paths a model adapted on ``targets`` in every layer has."""
  return {f'llm/layers/{n}/attn/{t}/{f}' for n in range(num_layers) for t in targets
          for f in ('lora_a', 'lora_b')}


def read_adapters(file: str, layout: Layout, expected: set[str]) -> dict[str, np.ndarray]:
  """``path -> array`` of the adapters in ``file`` (``layout``'s rules map them), which
  must be exactly ``expected``; other keys ``layout`` maps are skipped here."""
  found: dict[str, np.ndarray] = {}
  for key, path, array in map_tensors(layout, iter_tensors(file, skip=layout.is_unused), file):
    if not path.endswith(('/lora_a', '/lora_b')):
      continue
    if path in found:
      raise ConversionError(f'{file}: key {key!r} -> {path}: already given (both peft namings?)')
    found[path] = array
  missing, extra = sorted(expected - set(found)), sorted(set(found) - expected)
  if missing or extra:
    raise ConversionError(f'{file}: LoRA adapters do not match the LLM: missing {missing[:4]}'
                          f'{" ..." if len(missing) > 4 else ""}, unexpected {extra[:4]}')
  return found


def lora_rank(shapes: Mapping[str, tuple[int, ...]], source: str) -> int | None:
  """r, from the shapes of a state dict's ``lora_A`` factors [r, in] (all must share it);
  None if it holds none."""
  ranks = {s[0] for k, s in shapes.items() if re.search(r'\.lora_A(\.default)?\.weight$', k)}
  if len(ranks) > 1:
    raise ConversionError(f'{source}: LoRA factors of several ranks {sorted(ranks)}')
  return ranks.pop() if ranks else None


def merge(kernel: np.ndarray, lora_a: np.ndarray, lora_b: np.ndarray, scale: float) -> np.ndarray:
  """kernel float[in, out] + scale * lora_a @ lora_b, computed in float32, in kernel's dtype."""
  delta = scale * (lora_a.astype(np.float32) @ lora_b.astype(np.float32))
  return (kernel.astype(np.float32) + delta).astype(kernel.dtype)


@dataclasses.dataclass(frozen=True)
class MergingLayout(Layout):
  """A layout whose adapted kernels come out with their adapters merged in."""

  adapters: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
  scale: float = 1.0

  def map_key(self, key: str, value: np.ndarray) -> dict[str, np.ndarray] | None:
    out = super().map_key(key, value)
    if not out:
      return out
    return {path: self._merged(path, array) for path, array in out.items()}

  def _merged(self, path: str, array: np.ndarray) -> np.ndarray:
    stem = path.removesuffix('/kernel')
    if stem == path or f'{stem}/lora_a' not in self.adapters:
      return array
    return merge(array, self.adapters[f'{stem}/lora_a'], self.adapters[f'{stem}/lora_b'], self.scale)


def merging(layout: Layout, adapters: Mapping[str, np.ndarray], scale: float) -> MergingLayout:
  """``layout`` with ``adapters`` (paths from ``lora_rules``) merged at ``scale``."""
  return MergingLayout(layout.name + '+lora', layout.rules, layout.unused, adapters, scale)
