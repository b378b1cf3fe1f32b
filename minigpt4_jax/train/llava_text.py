"""LLaVA conversations -> fixed-shape token arrays, with LLaVA's two training templates.

``plain`` (stage 1, ``conv_llava_plain``): ``[BOS] <image> caption\n``; the human
turn's text is dropped and only the caption and its ``\n`` are supervised.
``v1`` (stage 2, ``conv_vicuna_v1``): ``system USER: q1 ASSISTANT: a1</s>USER: q2
ASSISTANT: a2</s>``; only the assistant answers and their ``</s>`` are supervised.

As LLaVA's ``tokenizer_image_token``, the rendered text is split at ``<image>``,
each piece tokenized on its own without special tokens, BOS put first and
``IMAGE_TOKEN_ID`` x num_image_tokens where ``<image>`` stood. Which tokens are
supervised comes from character spans mapped through the tokenizer's offsets, not
from LLaVA's token counting (whose ``-2`` corrections depend on the tokenizer
version); on the tokens LLaVA supervises the two agree.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Sequence

import numpy as np
from transformers import PreTrainedTokenizerBase

from minigpt4_jax.models.vlm import IMAGE_TOKEN_ID
from minigpt4_jax.prompting import VICUNA_V1_SYSTEM
from minigpt4_jax.train.text import (BatchEncoder, TextLayout, batch_arrays, fixed_length,
                                     pad_token_id, padded_length)

IMAGE_TOKEN = '<image>'
TEMPLATES = ('plain', 'v1')
_ROLES = {'human': 'USER', 'gpt': 'ASSISTANT'}

Span = tuple[int, int]


def parse_turns(conversations: Sequence[dict[str, Any]], where: str) -> list[tuple[str, str]]:
  """(role, text) pairs alternating human/gpt; ``<image>`` moved to the front of its
  turn followed by ``\n``, as LLaVA's ``preprocess_multimodal`` does."""
  turns = [(c.get('from'), c.get('value')) for c in conversations]
  if turns and turns[0][0] != 'human':
    turns = turns[1:]  # LLaVA skips a conversation's leading non-human turn
  if not turns:
    raise ValueError(f'{where}: empty conversation')
  for i, (role, text) in enumerate(turns):
    expected = 'human' if i % 2 == 0 else 'gpt'
    if role != expected or not isinstance(text, str):
      raise ValueError(f'{where}: turn {i} is from={role!r} with value of type '
                       f'{type(text).__name__}; expected from={expected!r} with a string')
  out = []
  for role, text in turns:
    if IMAGE_TOKEN in text:
      text = IMAGE_TOKEN + '\n' + text.replace(IMAGE_TOKEN, '').strip()
    out.append((role, text))
  return out


def render(template: str, turns: list[tuple[str, str]], where: str) -> tuple[str, list[Span]]:
  """The conversation as one string, and the character spans to supervise."""
  if template == 'plain':
    if len(turns) != 2 or IMAGE_TOKEN not in turns[0][1]:
      raise ValueError(f'{where}: template plain needs one human turn with {IMAGE_TOKEN} and '
                       f'one answer, got {len(turns)} turns')
    text = IMAGE_TOKEN + turns[1][1] + '\n'
    return text, [(len(IMAGE_TOKEN), len(text))]
  if template == 'v1':
    text, spans = VICUNA_V1_SYSTEM + ' ', []
    for role, message in turns:
      text += _ROLES[role] + ': '
      if role == 'human':
        text += message + ' '
      else:
        start = len(text)
        text += message + '</s>'
        spans.append((start, len(text)))
    return text, spans
  raise ValueError(f'unknown LLaVA template {template!r}; expected one of {TEMPLATES}')


def tokenize(tokenizer: PreTrainedTokenizerBase, text: str, spans: list[Span],
             num_image_tokens: int) -> tuple[list[int], list[bool]]:
  """(ids, supervised) of a rendered conversation: BOS, the pieces between
  ``<image>`` markers, image placeholders; a token is supervised if its characters
  overlap a span (its leading '▁' may stand for the space before the answer)."""
  ids, supervised = [tokenizer.bos_token_id], [False]
  offset = 0
  for i, piece in enumerate(text.split(IMAGE_TOKEN)):
    if i:
      ids += [IMAGE_TOKEN_ID] * num_image_tokens
      supervised += [False] * num_image_tokens
      offset += len(IMAGE_TOKEN)
    if piece:
      enc = tokenizer(piece, add_special_tokens=False, return_offsets_mapping=True)
      ids += enc.input_ids
      supervised += [any(offset + s < e1 and offset + e > s1 for s1, e1 in spans)
                     for s, e in enc.offset_mapping]
    offset += len(piece)
  return ids, supervised


@dataclasses.dataclass(frozen=True)
class ConversationLayout:
  template: str          # 'plain' | 'v1'
  max_len: int           # LLaVA's model_max_length, image tokens included
  num_image_tokens: int
  pad_multiple: int = 0  # see text.padded_length


class ConversationEncoder:
  """Batches of conversations (LLaVA JSON ``conversations`` lists, or their JSON text)
  -> input_ids, attention_mask, target_mask of one fixed length, as ``BatchEncoder``."""

  def __init__(self, tokenizer: PreTrainedTokenizerBase, layout: ConversationLayout):
    if layout.template not in TEMPLATES:
      raise ValueError(f'text.template={layout.template!r}; LLaVA templates: {TEMPLATES}')
    if not tokenizer.is_fast:
      raise ValueError('LLaVA targets need token offsets: load a fast tokenizer')
    self.tokenizer = tokenizer
    self.layout = layout
    self.length = fixed_length(layout.max_len)
    self.pad_id = pad_token_id(tokenizer)

  @property
  def num_prompts(self) -> int:
    return 1  # LLaVA's prompts are in the data

  @property
  def first_target(self) -> int:
    """No position before this one is ever supervised: BOS and the image under
    ``plain``; under ``v1`` only BOS is certain (the system prompt's last token can
    merge with the next turn's first character)."""
    return 1 + self.layout.num_image_tokens if self.layout.template == 'plain' else 1

  def encode_one(self, conversation: str | Sequence[dict[str, Any]],
                 where: str = 'conversation') -> tuple[list[int], list[bool]]:
    if isinstance(conversation, str):
      conversation = json.loads(conversation)
    text, spans = render(self.layout.template, parse_turns(conversation, where), where)
    ids, supervised = tokenize(self.tokenizer, text, spans, self.layout.num_image_tokens)
    return ids[:self.layout.max_len], supervised[:self.layout.max_len]

  def encode(self, conversations: Sequence[str | Sequence[dict[str, Any]]],
             prompt_index: int = 0) -> dict[str, np.ndarray]:
    """``prompt_index`` is unused (LLaVA's prompts are in the data); kept so either
    encoder serves the same training loop."""
    del prompt_index
    rows = [self.encode_one(c, f'batch row {row}') for row, c in enumerate(conversations)]
    length = padded_length(max(len(ids) for ids, _ in rows), self.length,
                           self.layout.pad_multiple)
    return batch_arrays(rows, length, self.pad_id)


def make_encoder(tokenizer: PreTrainedTokenizerBase,
                 layout: TextLayout) -> BatchEncoder | ConversationEncoder:
  """The encoder ``config.text`` asks for: LLaVA's for its named templates (where
  ``max_txt_len`` is LLaVA's ``model_max_length``, image tokens included), else
  MiniGPT-4's ``BatchEncoder``."""
  if layout.template in TEMPLATES:
    return ConversationEncoder(tokenizer, ConversationLayout(
        layout.template, layout.max_txt_len, layout.num_image_tokens, layout.pad_multiple))
  return BatchEncoder(tokenizer, layout)
