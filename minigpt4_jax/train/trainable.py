"""Which parameters train: one filter, in one place.

MiniGPT-4 trains only the projector in both stages; the paper's ablation (c) also
trains the Q-Former and its query tokens. LLaVA trains the projector in stage 1 and
the projector and the whole LLM in stage 2 (or, in LoRA mode, the LLM's low-rank
adapters, ``lora.py``). Everything else stays frozen: it never gets gradients,
optimizer state or buffer donation.
"""

from __future__ import annotations

import ml_collections
from flax import nnx


def trainable_filter(train_qformer: bool = False, *, train_llm: bool = False,
                     train_lora: bool = False) -> nnx.filterlib.Filter:
  """An nnx filter selecting the trainable parameters by path."""
  parts = [nnx.PathContains('projector')]
  if train_qformer:
    parts.append(nnx.PathContains('qformer'))
  if train_llm:
    parts.append(nnx.PathContains('llm'))
  if train_lora:
    parts += [nnx.PathContains('lora_a'), nnx.PathContains('lora_b')]
  return nnx.All(nnx.Param, nnx.Any(*parts))


def split_trainable(model: nnx.Module, train_qformer: bool = False, *, train_llm: bool = False,
                    train_lora: bool = False):
  """(graphdef, trainable state, frozen state) of ``model``."""
  return nnx.split(model, trainable_filter(train_qformer, train_llm=train_llm,
                                           train_lora=train_lora), ...)


def split_for_config(model: nnx.Module, model_config: ml_collections.ConfigDict):
  """``split_trainable`` as the run's ``config.model`` section asks."""
  # .get: configs of runs made before LLaVA lack the LLaVA fields.
  return split_trainable(model, model_config.train_qformer,
                         train_llm=model_config.get('train_llm', False),
                         train_lora=model_config.get('lora_rank', 0) > 0)
