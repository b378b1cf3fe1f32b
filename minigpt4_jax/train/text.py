"""Captions/answers -> fixed-shape token arrays with MiniGPT-4's sequence layout.

Stage 1 (no template): ``[BOS] <image tokens> caption + end_sym``.
Stage 2: ``[BOS] template(instruction) answer + end_sym``, the instruction holding
``<Img><ImageHere></Img>``. Like the original, the prompt pieces and the answer are
tokenized separately without special tokens, the answer (end_sym included) is cut
to ``max_txt_len`` tokens, and only answer tokens are supervised. Padding goes at
the end. By default every batch has the same length, so the train step compiles
once; with ``pad_multiple`` a batch is padded only to its longest row rounded up to
that multiple, trading a few compilations for less work on padding.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from transformers import PreTrainedTokenizerBase

from minigpt4_jax.prompting import IMAGE_PLACEHOLDER, tokenize_text, tokenize_with_image

_LENGTH_MULTIPLE = 8


@dataclasses.dataclass(frozen=True)
class TextLayout:
  template: str                  # '' for stage 1, else contains '{}'
  instructions: tuple[str, ...]  # stage 2 only; each holds <ImageHere>
  end_sym: str
  max_txt_len: int
  num_image_tokens: int
  pad_multiple: int = 0          # 0: every batch at the maximum length


def fixed_length(longest: int) -> int:
  """An encoder's fixed length: ``longest`` rounded up to a multiple of 8."""
  return -(-longest // _LENGTH_MULTIPLE) * _LENGTH_MULTIPLE


def pad_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
  """The id padding is written with (LLaMA tokenizers often have none: EOS then)."""
  return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def padded_length(longest: int, max_length: int, pad_multiple: int) -> int:
  """A batch's length: the fixed maximum, or (``pad_multiple`` > 0) its longest row
  rounded up to the multiple, capped at the maximum."""
  if pad_multiple <= 0:
    return max_length
  return min(max_length, -(-longest // pad_multiple) * pad_multiple)


def batch_arrays(rows: Sequence[tuple[Sequence[int], Sequence[float]]], length: int,
                 pad_id: int) -> dict[str, np.ndarray]:
  """(token ids, per-token supervision) rows -> input_ids int32[B, length],
  attention_mask int32[B, length], target_mask float32[B, length], padded at the end."""
  input_ids = np.full((len(rows), length), pad_id, np.int32)
  attention = np.zeros((len(rows), length), np.int32)
  target = np.zeros((len(rows), length), np.float32)
  for row, (ids, supervised) in enumerate(rows):
    input_ids[row, :len(ids)] = ids
    attention[row, :len(ids)] = 1
    target[row, :len(ids)] = supervised
  return {'input_ids': input_ids, 'attention_mask': attention, 'target_mask': target}


def pad_columns(batch: dict[str, np.ndarray], length: int, pad_id: int) -> dict[str, np.ndarray]:
  """``batch_arrays``' output widened to ``length`` (hosts of one step must agree)."""
  extra = length - batch['input_ids'].shape[1]
  return {k: np.pad(v, ((0, 0), (0, extra)), constant_values=pad_id if k == 'input_ids' else 0)
          for k, v in batch.items()}


class BatchEncoder:
  """Turns a batch of answer strings into input ids, attention and target masks."""

  def __init__(self, tokenizer: PreTrainedTokenizerBase, layout: TextLayout):
    self.tokenizer = tokenizer
    self.layout = layout
    self.prompts = [tokenize_with_image(tokenizer, p, layout.num_image_tokens)
                    for p in self.prompt_texts(layout)]
    longest = max(len(p) for p in self.prompts) + layout.max_txt_len
    self.length = fixed_length(longest)
    self.pad_id = pad_token_id(tokenizer)

  @staticmethod
  def prompt_texts(layout: TextLayout) -> list[str]:
    if not layout.template:
      return [IMAGE_PLACEHOLDER]
    for instruction in layout.instructions:
      if IMAGE_PLACEHOLDER not in instruction:
        raise ValueError(f'text.instructions: {instruction!r} lacks {IMAGE_PLACEHOLDER}')
    return [layout.template.format(i) for i in layout.instructions]

  @property
  def num_prompts(self) -> int:
    return len(self.prompts)

  @property
  def first_target(self) -> int:
    """No position before this one is ever supervised: the shortest prompt's length."""
    return min(len(p) for p in self.prompts)

  def encode(self, answers: Sequence[str], prompt_index: int = 0) -> dict[str, np.ndarray]:
    """One prompt (MiniGPT-4 draws one instruction per batch) for the whole batch.

    Returns:
      input_ids int32[B, L] (image slots hold IMAGE_TOKEN_ID), attention_mask
      int32[B, L], target_mask float32[B, L] (1 where the token is supervised).
    """
    prompt = self.prompts[prompt_index]
    rows = []
    for answer in answers:
      answer_ids = tokenize_text(self.tokenizer, str(answer) + self.layout.end_sym)
      answer_ids = answer_ids[:self.layout.max_txt_len]
      rows.append((prompt + answer_ids, [0.0] * len(prompt) + [1.0] * len(answer_ids)))
    length = padded_length(max(len(ids) for ids, _ in rows), self.length,
                           self.layout.pad_multiple)
    return batch_arrays(rows, length, self.pad_id)
