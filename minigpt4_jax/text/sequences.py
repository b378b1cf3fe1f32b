"""Training samples -> fixed-shape token arrays with their supervision masks.

One encoder for every template: MiniGPT-4 stage 1 (``plain``: ``[BOS] <image>
caption\\n``) and stage 2 (one of the instructions per batch inside ``vicuna_v0`` or
``llama2``), MiniGPT-v2 (``minigptv2``, single or multi-turn), LLaVA ``plain`` and
``v1`` multi-turn. A sample is a caption/answer string (its human message is the
batch's instruction) or a conversation: LLaVA's JSON ``conversations`` list of
``{'from', 'value'}`` turns, or its JSON text. Only answers (their end symbol
included) are supervised. ``max_answer_tokens`` caps each answer (MiniGPT-4's
``max_txt_len``), ``max_length`` the whole sequence (LLaVA's ``model_max_length``,
image tokens included). Padding goes at the end. By default every batch has the
same length, so the train step compiles once; with ``pad_multiple`` a batch is padded
only to its longest row rounded up to that multiple.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Sequence

import numpy as np
from transformers import PreTrainedTokenizerBase

from minigpt4_jax.models.vlm import IMAGE_TOKEN_ID
from minigpt4_jax.text.templates import GPT, HUMAN, Segment, Template, without_marker
from minigpt4_jax.text.tokens import (IMAGE_MARKER, LLAVA_IMAGE_MARKER, pad_token_id,
                                      tokenize_text, tokenize_with_image)

_LENGTH_MULTIPLE = 8

Sample = str | Sequence[dict[str, Any]]
Row = tuple[list[int], list[bool]]


def fixed_length(longest: int) -> int:
  """An encoder's fixed length: ``longest`` rounded up to a multiple of 8."""
  return -(-longest // _LENGTH_MULTIPLE) * _LENGTH_MULTIPLE


def padded_length(longest: int, max_length: int, pad_multiple: int) -> int:
  """A batch's length: the fixed maximum, or (``pad_multiple`` > 0) its longest row
  rounded up to the multiple, capped at the maximum."""
  if pad_multiple <= 0:
    return max_length
  return min(max_length, -(-longest // pad_multiple) * pad_multiple)


def batch_lengths(shortest: int, max_length: int, pad_multiple: int) -> tuple[int, ...]:
  """Every length ``padded_length`` can give a batch whose rows hold ``shortest`` to
  ``max_length`` tokens: the shapes the train step compiles for, at most."""
  return tuple(sorted({padded_length(n, max_length, pad_multiple)
                       for n in range(shortest, max_length + 1)}))


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


def parse_turns(conversation: Sample, template: Template, where: str) -> list[tuple[str, str]]:
  """(role, text) turns alternating human/gpt, the human message holding ``<image>``
  rendered with the template's image message (LLaVA's ``preprocess_multimodal`` moves
  the image first; the question is stripped)."""
  if isinstance(conversation, str):
    conversation = json.loads(conversation)
  turns = [(c.get('from'), c.get('value')) for c in conversation]
  if turns and turns[0][0] != HUMAN:
    turns = turns[1:]  # LLaVA skips a conversation's leading non-human turn
  if not turns:
    raise ValueError(f'{where}: empty conversation')
  for i, (role, text) in enumerate(turns):
    expected = HUMAN if i % 2 == 0 else GPT
    if role != expected or not isinstance(text, str):
      raise ValueError(f'{where}: turn {i} is from={role!r} with value of type '
                       f'{type(text).__name__}; expected from={expected!r} with a string')
  if not template.keeps_question and (len(turns) != 2 or LLAVA_IMAGE_MARKER not in turns[0][1]):
    raise ValueError(f'{where}: template {template.name} needs one human turn with '
                     f'{LLAVA_IMAGE_MARKER} and one answer, got {len(turns)} turns')
  out = []
  for role, text in turns:
    text = without_marker(text)
    if role == HUMAN and LLAVA_IMAGE_MARKER in text:
      text = template.with_image(text.replace(LLAVA_IMAGE_MARKER, '').strip())
    out.append((role, text))
  return out


def is_conversation(sample: Sample) -> bool:
  """A conversation list, or its JSON text (LLaVA records carry ``'[{"from": ...'``)."""
  return not isinstance(sample, str) or sample.lstrip().startswith('[{')


def tokenize_pieces(tokenizer: PreTrainedTokenizerBase, segments: Sequence[Segment],
                    num_image_tokens: int, max_answer_tokens: int) -> Row:
  """MiniGPT-4's rule: BOS, then each prompt piece and each answer tokenized apart,
  every answer cut to ``max_answer_tokens`` (0: uncut)."""
  ids, supervised = [tokenizer.bos_token_id], [False]
  for segment in segments:
    if segment.supervised:
      piece = tokenize_text(tokenizer, segment.text, split_specials=True)
      piece = piece[:max_answer_tokens] if max_answer_tokens else piece
    else:
      piece = tokenize_with_image(tokenizer, segment.text, num_image_tokens, split_specials=True,
                                  add_bos=False)
    ids += piece
    supervised += [segment.supervised] * len(piece)
  return ids, supervised


def tokenize_whole(tokenizer: PreTrainedTokenizerBase, segments: Sequence[Segment],
                   num_image_tokens: int) -> Row:
  """LLaVA's rule (``tokenizer_image_token``): the joined text split at the image,
  each chunk tokenized on its own, BOS first; a token is supervised if its characters
  overlap an answer or the space before it. The spans replace LLaVA's token counting
  (``preprocess_v1``), whose corrections depend on the tokenizer version: its
  ``instruction_len - 2`` leaves the '▁' of the space before an answer to the answer,
  whether it stands alone or leads the answer's first token; so do the spans."""
  text, spans = '', []
  for segment in segments:
    if segment.supervised:
      start = len(text) - text.endswith(' ')
      spans.append((start, len(text) + len(segment.text)))
    text += segment.text
  ids, supervised = [tokenizer.bos_token_id], [False]
  offset = 0
  for i, piece in enumerate(text.split(IMAGE_MARKER)):
    if i:
      ids += [IMAGE_TOKEN_ID] * num_image_tokens
      supervised += [False] * num_image_tokens
      offset += len(IMAGE_MARKER)
    if piece:
      enc = tokenizer(piece, add_special_tokens=False, return_offsets_mapping=True)
      ids += enc.input_ids
      supervised += [any(offset + s < e1 and offset + e > s1 for s1, e1 in spans)
                     for s, e in enc.offset_mapping]
    offset += len(piece)
  return ids, supervised


@dataclasses.dataclass(frozen=True)
class SequenceLayout:
  template: Template
  instructions: tuple[str, ...]  # human messages of string samples; each holds <ImageHere>
  max_answer_tokens: int         # 0: answers uncut
  max_length: int                # 0: the longest instruction prompt + max_answer_tokens
  num_image_tokens: int
  pad_multiple: int = 0          # 0: every batch at the maximum length (see padded_length)


class SequenceEncoder:
  """Turns a batch of samples into input ids, attention and target masks."""

  def __init__(self, tokenizer: PreTrainedTokenizerBase, layout: SequenceLayout):
    self.tokenizer = tokenizer
    self.layout = layout
    template = layout.template
    if not template.split_specials and not tokenizer.is_fast:
      raise ValueError(f'template {template.name} maps answers through token offsets: '
                       'load a fast tokenizer')
    self.instructions = instruction_messages(template, layout.instructions)
    # Each instruction's prompt: the tokens before a string sample's answer.
    self.prompts = [tokenize_with_image(tokenizer, template.training_prompt(m),
                                        layout.num_image_tokens,
                                        split_specials=template.split_specials)
                    for m in self.instructions]
    if layout.max_length:
      self.max_tokens = layout.max_length
    elif layout.max_answer_tokens and self.prompts:
      self.max_tokens = max(len(p) for p in self.prompts) + layout.max_answer_tokens
    else:
      raise ValueError('text.max_length = 0 derives the length from text.instructions and '
                       'text.max_answer_tokens: set text.max_length, or both of them')
    self.length = fixed_length(self.max_tokens)
    self.pad_id = pad_token_id(tokenizer)

  @property
  def num_instructions(self) -> int:
    """How many instructions a batch's index is drawn from (at least 1)."""
    return max(1, len(self.instructions))

  @property
  def first_target(self) -> int:
    """No position before this one is ever supervised: the shortest instruction
    prompt (BOS and the image under ``plain``); without instructions, or under
    'whole' tokenization (the prompt's last token can merge with the answer's first
    character), only BOS is certain."""
    if not self.layout.template.split_specials or not self.prompts:
      return 1
    return min(len(p) for p in self.prompts)

  @property
  def batch_lengths(self) -> tuple[int, ...]:
    """The lengths a batch can have (one compilation of the train step each): a row
    holds its prompt and at least one answer token."""
    return batch_lengths(self.first_target + 1, self.length, self.layout.pad_multiple)

  def encode_one(self, sample: Sample, instruction_index: int = 0,
                 where: str = 'sample') -> Row:
    if is_conversation(sample):
      turns = parse_turns(sample, self.layout.template, where)
    elif self.instructions:
      turns = [(HUMAN, self.instructions[instruction_index]), (GPT, str(sample))]
    else:
      raise ValueError(f'{where}: a caption/answer string needs text.instructions under '
                       f'template {self.layout.template.name}')
    ids, supervised = self._row(turns)
    ids, supervised = ids[:self.max_tokens], supervised[:self.max_tokens]
    if True in supervised[:self.first_target]:
      raise ValueError(f'{where}: an answer starts at token {supervised.index(True)}, before '
                       f'the first target {self.first_target} that text.instructions imply')
    return ids, supervised

  def encode(self, samples: Sequence[Sample], instruction_index: int = 0) -> dict[str, np.ndarray]:
    """One instruction (MiniGPT-4 draws one per batch) for the batch's string samples.

    Returns:
      input_ids int32[B, L] (image slots hold IMAGE_TOKEN_ID), attention_mask
      int32[B, L], target_mask float32[B, L] (1 where the token is supervised).
    """
    rows = [self.encode_one(s, instruction_index, f'batch row {row}')
            for row, s in enumerate(samples)]
    length = padded_length(max(len(ids) for ids, _ in rows), self.length,
                           self.layout.pad_multiple)
    return batch_arrays(rows, length, self.pad_id)

  def _row(self, turns: Sequence[tuple[str, str]]) -> Row:
    segments = self.layout.template.training_segments(turns)
    if self.layout.template.split_specials:
      return tokenize_pieces(self.tokenizer, segments, self.layout.num_image_tokens,
                             self.layout.max_answer_tokens)
    return tokenize_whole(self.tokenizer, segments, self.layout.num_image_tokens)


def instruction_messages(template: Template, instructions: Sequence[str]) -> tuple[str, ...]:
  """The human messages string samples are trained with: the instructions, or the
  image message alone when the template drops the question (``plain``)."""
  if not template.keeps_question:
    return (template.image_message,)
  for instruction in instructions:
    if IMAGE_MARKER not in instruction:
      raise ValueError(f'text.instructions: {instruction!r} lacks {IMAGE_MARKER}')
  return tuple(instructions)
