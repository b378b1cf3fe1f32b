"""Batched answers: token rows -> left-padded prompt embeddings -> one generation call
-> cleaned answer texts.

Shared by evaluation (``Answerer``: prompts with an image spliced in) and curation
(``GeneratorFixer``: text-only prompts); ``embed`` is what differs. Rows are padded to
the generator's length buckets and a caller keeps a fixed batch size (``fill_batch``),
so a run compiles a handful of programs.
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

import jax
import jax.numpy as jnp
from transformers import PreTrainedTokenizerBase

from minigpt4_jax.generate.buckets import bucket_length, left_pad
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.generate.generator import Generator
from minigpt4_jax.text.templates import postprocess

T = TypeVar('T')


def fill_batch(rows: Sequence[T], size: int) -> list[T]:
  """``rows`` with the last repeated up to ``size``: every call has one batch shape."""
  return [*rows] + [rows[-1]] * (size - len(rows))


def generate_answers(generator: Generator, tokenizer: PreTrainedTokenizerBase,
                     ids: Sequence[Sequence[int]], embed: Callable[[jax.Array], jax.Array],
                     config: GenerationConfig, stop_strings: tuple[str, ...],
                     seed: int = 0) -> list[str]:
  """One answer per row of ``ids``; ``embed`` maps left-padded ids int32[B, T] to the
  prompt embeddings float[B, T, D]. Answers are decoded without special tokens and
  cut at the template's stop strings, as MiniGPT-4 does."""
  # Padding ids are masked out; 0 only has to be a valid embedding row.
  ids_bt, mask_bt = left_pad(ids, bucket_length(max(map(len, ids)), generator.buckets), pad_id=0)
  out = generator.generate(embed(jnp.asarray(ids_bt)), jnp.asarray(mask_bt), config, seed)
  return [postprocess(tokenizer.decode(tokens, skip_special_tokens=True), stop_strings)
          for tokens in out.sequences()]
