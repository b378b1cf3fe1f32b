"""Logits processors against transformers' own classes on random logits."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from transformers.generation import logits_process as hf

from minigpt4_jax.generate import sampling
from minigpt4_jax.generate.config import GenerationConfig


@pytest.fixture(scope='module')
def logits() -> np.ndarray:
  rng = np.random.default_rng(0)
  x = rng.normal(size=(4, 500)).astype(np.float32) * 3
  x[1, :5] = x[1, 5]  # ties at the top
  x[3, 10:] = -np.inf  # an already filtered row
  return x


def hf_apply(processor, logits: np.ndarray) -> np.ndarray:
  ids = torch.zeros((logits.shape[0], 1), dtype=torch.long)
  return processor(ids, torch.from_numpy(logits.copy())).numpy()


FILTERS = ([(sampling.top_k_filter, hf.TopKLogitsWarper, jnp.int32, k) for k in (1, 5, 50, 500)]
           + [(sampling.top_p_filter, hf.TopPLogitsWarper, jnp.float32, p)
              for p in (0.05, 0.5, 0.9, 1.0)])


@pytest.mark.parametrize('ours, theirs, dtype, value', FILTERS)
@pytest.mark.parametrize('min_keep', [1, 2])
def test_top_k_and_top_p_match_transformers(logits, ours, theirs, dtype, value, min_keep):
  np.testing.assert_array_equal(ours(jnp.asarray(logits), dtype(value), min_keep),
                                hf_apply(theirs(value, min_tokens_to_keep=min_keep), logits))


def test_top_k_zero_keeps_everything(logits):
  np.testing.assert_array_equal(sampling.top_k_filter(jnp.asarray(logits), jnp.int32(0)), logits)


def test_processor_chain_matches_transformers(logits):
  """Repetition penalty, min-new-tokens, temperature, top-k, top-p, in HF's order."""
  config = GenerationConfig(temperature=0.7, top_k=40, top_p=0.8, repetition_penalty=1.3,
                            min_new_tokens=5)
  generated = np.random.default_rng(1).integers(0, logits.shape[1], size=(4, 12))
  seen = np.zeros(logits.shape, bool)
  np.put_along_axis(seen, generated, True, axis=1)
  knobs = sampling.Knobs.of(config)
  ours = sampling.warp(sampling.process(jnp.asarray(logits), jnp.asarray(seen), jnp.int32(3),
                                        knobs, jnp.asarray([2])), knobs)
  chain = hf.LogitsProcessorList([
      hf.RepetitionPenaltyLogitsProcessor(1.3),
      # 12 ids of which the last 3 count as new: EOS is still banned (3 < 5)
      hf.MinNewTokensLengthLogitsProcessor(9, 5, 2),
      hf.TemperatureLogitsWarper(0.7),
      hf.TopKLogitsWarper(40),
      hf.TopPLogitsWarper(0.8),
  ])
  theirs = chain(torch.from_numpy(generated), torch.from_numpy(logits.copy())).numpy()
  np.testing.assert_allclose(ours, theirs, rtol=1e-6)
