"""Shared fixtures: a tiny MiniGPT-4 whose LLM carries the weights of a random
transformers ``LlamaForCausalLM`` (the oracle), with the vocabulary of the session's
test tokenizer so every generated id decodes.

Every test here uses the same shapes (batch 1 or 3, prompts padded to 64, 24 new
tokens) so the compiled programs are shared and the suite stays fast.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from minigpt4_jax.convert import tables
from minigpt4_jax.convert.assign import load_state_dict
from minigpt4_jax.families import preset
from minigpt4_jax.models import IMAGE_TOKEN_ID, VisionLanguageModel
from minigpt4_jax.models.configs import ModelConfig
from tests import reference

MAX_NEW = 24


@pytest.fixture(scope='session')
def arch(tokenizer) -> ModelConfig:
  tiny = preset('tiny')
  return dataclasses.replace(tiny, llm=dataclasses.replace(tiny.llm, vocab_size=len(tokenizer)))


def reference_llm(arch: ModelConfig, eos_scale: float):
  """The oracle; ``eos_scale`` > 1 enlarges EOS's output row so answers end early
  (beam search and min_new_tokens need EOS to compete)."""
  torch.manual_seed(0)  # reference.llama's base init draws from torch's global generator
  model = reference.llama(arch.llm, seed=3)
  with torch.no_grad():
    model.lm_head.weight[arch.llm.eos_token_id] *= eos_scale
  return model


def ours(arch: ModelConfig, hf_llm) -> VisionLanguageModel:
  model = VisionLanguageModel(arch, rngs=nnx.Rngs(0))
  load_state_dict(model, tables.LLAMA_HF, reference.numpy_state(hf_llm), prefix='llm/')
  return model


EOS_PRONE = 2.0


@pytest.fixture(scope='session')
def pairs(arch):
  """``pairs(eos_scale) -> (oracle, ours)``, each built once per session."""
  built = {}

  def get(eos_scale: float = 1.0):
    if eos_scale not in built:
      hf = reference_llm(arch, eos_scale)
      built[eos_scale] = hf, ours(arch, hf)
    return built[eos_scale]

  return get


@pytest.fixture(scope='session')
def hf_llm(pairs):
  return pairs()[0]


@pytest.fixture(scope='session')
def model(pairs) -> VisionLanguageModel:
  return pairs()[1]


def spliced_prompts(model: VisionLanguageModel, lengths: list[int], seed: int = 0):
  """Left-padded prompts [BOS] text <image> text, spliced by ``embed_multimodal``.

  Returns (embeds float32[B, T, D], mask bool[B, T]) as numpy, T = max(lengths).
  """
  rng = np.random.default_rng(seed)
  q = model.cfg.num_image_tokens
  t = max(lengths)
  ids = np.zeros((len(lengths), t), np.int32)
  mask = np.zeros((len(lengths), t), bool)
  for b, n in enumerate(lengths):
    text = rng.integers(3, model.cfg.llm.vocab_size, size=n - q - 1)
    before = len(text) // 2
    row = [model.cfg.llm.bos_token_id, *text[:before], *[IMAGE_TOKEN_ID] * q, *text[before:]]
    ids[b, t - n:] = row
    mask[b, t - n:] = True
  image_embeds = rng.normal(size=(len(lengths), q, model.cfg.llm.hidden)).astype(np.float32)
  embeds = model.embed_multimodal(jnp.asarray(ids), jnp.asarray(image_embeds))
  return np.array(embeds), mask  # a writable copy, for torch.from_numpy


def hf_generate(hf_llm, embeds: np.ndarray, mask: np.ndarray, **kwargs) -> list[list[int]]:
  """transformers ``generate`` from the same embeddings; rows cut after EOS."""
  with torch.no_grad():
    out = hf_llm.generate(inputs_embeds=torch.from_numpy(embeds),
                          attention_mask=torch.from_numpy(mask.astype(np.int64)),
                          max_new_tokens=MAX_NEW, pad_token_id=0, **kwargs)
  rows = []
  for row in out.tolist():
    eos = hf_llm.config.eos_token_id
    rows.append(row[:row.index(eos) + 1] if eos in row else row)
  return rows
