"""Synthetic inputs: training batches in the trainer's format, shared by both
frameworks, and image + text prompts for the inference benchmarks."""

from __future__ import annotations

import numpy as np

from minigpt4_jax.tools.bench.sizes import StepShape
from minigpt4_jax.models import IMAGE_TOKEN_ID
from minigpt4_jax.models.configs import ModelConfig


def synthetic_batch(cfg: ModelConfig, shape: StepShape, batch: int,
                    seed: int = 0) -> dict[str, np.ndarray]:
  """A batch as ``train.step`` takes it, with random tokens and pixels.

  Returns:
    input_ids int32[B, T] (``IMAGE_TOKEN_ID`` at the image slots), attention_mask
    int32[B, T] (all ones), target_mask float32[B, T] (1 on the answer) and image
    float32[B, S, S, 3]; T = ``shape.sequence_length(cfg.num_image_tokens)``.
  """
  rng = np.random.default_rng(seed)
  q = cfg.num_image_tokens
  t = shape.sequence_length(q)
  ids = rng.integers(3, cfg.llm.vocab_size, size=(batch, t)).astype(np.int32)
  ids[:, 0] = cfg.llm.bos_token_id
  image_start = 1 + shape.prompt_before
  ids[:, image_start:image_start + q] = IMAGE_TOKEN_ID
  target = np.zeros((batch, t), np.float32)
  target[:, t - shape.answer:] = 1.0
  size = cfg.vision.image_size
  return {
      'input_ids': ids,
      'attention_mask': np.ones((batch, t), np.int32),
      'target_mask': target,
      'image': rng.normal(size=(batch, size, size, 3)).astype(np.float32),
  }


def image_prompts(cfg: ModelConfig, count: int, length: int,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """``count`` prompts of ``length`` ids, [BOS] 4 text ids, the image slots, text
  (int32[count, length]), and random pixels float32[count, S, S, 3]."""
  rng = np.random.default_rng(seed)
  q = cfg.num_image_tokens
  text = rng.integers(3, cfg.llm.vocab_size, size=(count, length - q - 1))
  ids = np.concatenate([np.full((count, 1), cfg.llm.bos_token_id), text[:, :4],
                        np.full((count, q), IMAGE_TOKEN_ID), text[:, 4:]], axis=1)
  size = cfg.vision.image_size
  return ids.astype(np.int32), rng.normal(size=(count, size, size, 3)).astype(np.float32)
