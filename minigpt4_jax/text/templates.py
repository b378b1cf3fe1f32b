"""Conversation templates: one type renders the chat prompt and the training sequence.

Chat (``minigpt4/conversation/conversation.py``, ef1ac08; LLaVA's ``llava/conversation.py``):
SeparatorStyle.SINGLE, prompt = system + sep + for each message (role + text + sep),
the last (the assistant's, still empty) rendered as its open role. The image is a
human message that the first question joins.

Training (``minigpt4/models/mini_gpt4.py``, ef1ac08; MiniGPT-v2's ``minigpt_base.py``,
HEAD; LLaVA's ``llava/train/train.py``): the originals train with other text than they
chat with (no system message for MiniGPT-4, ``' ###Assistant: '`` with a space), so each
template also holds its training layout: the text around each human message, the
answers' end symbol, and a prefix for turns after the first. A sequence is a list of
``Segment`` s, unsupervised prompt text and supervised answers.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from minigpt4_jax.text.prompts import MINIGPT4_SYSTEM, VICUNA_V1_SYSTEM
from minigpt4_jax.text.tokens import IMAGE_MARKER

IMAGE_MESSAGE = f'<Img>{IMAGE_MARKER}</Img>'
HUMAN, GPT = 'human', 'gpt'  # the turn roles of LLaVA's conversation JSON


@dataclasses.dataclass(frozen=True)
class Segment:
  text: str         # may hold IMAGE_MARKER and literal special tokens ('</s>')
  supervised: bool  # an answer (its end symbol included): the loss is computed on it


@dataclasses.dataclass(frozen=True)
class Template:
  """A conversation format.

  Attributes:
    roles: (human, assistant) chat prefixes, spaces included.
    sep: written after the system message and after every chat message.
    stop_strings: text that ends an answer. MiniGPT-4 (ef1ac08) stops on ``###``
      for every template; Llama-2 answers end with EOS before it matters.
    answer_sep: written after a chat answer (None: ``sep``); LLaVA's SeparatorStyle.TWO.
    open_role: the open answer's role (None: ``roles[1]``); LLaVA writes 'ASSISTANT:'.
    image_message: the human message the image opens.
    image_join: between the image and the first question; None drops the question.
    train_system: training text before the first turn.
    train_question: training text of a human message (``{}``).
    train_text_question: ``train_question`` of a conversation without an image (None:
      the same).
    train_answer_prefix: training text before each answer.
    end_sym: ends each supervised answer.
    later_turn_prefix: before every training human turn after the first.
    tokenization: 'pieces' (MiniGPT-4): prompt text and answers are tokenized
      apart, literal special tokens split out as transformers 4.30's slow tokenizer did
      (``tokens.legacy_ids``). 'whole' (LLaVA): the conversation is tokenized at once per
      image chunk by the tokenizer's own (non-legacy) rule; the supervised tokens come
      from character spans mapped through the token offsets.
  """

  name: str
  system: str
  roles: tuple[str, str]
  sep: str
  stop_strings: tuple[str, ...] = ('###',)
  answer_sep: str | None = None
  open_role: str | None = None
  image_message: str = IMAGE_MESSAGE
  image_join: str | None = ' '
  train_system: str = ''
  train_question: str = '{}'
  train_text_question: str | None = None
  train_answer_prefix: str = ''
  end_sym: str = '\n'
  later_turn_prefix: str = ''
  tokenization: str = 'pieces'

  @property
  def split_specials(self) -> bool:
    """Whether literal special tokens are split out under the legacy rule."""
    return self.tokenization == 'pieces'

  @property
  def keeps_question(self) -> bool:
    """False when only the image precedes the answer (LLaVA's plain)."""
    return self.image_join is not None

  def with_image(self, question: str) -> str:
    """The first human message: the image message and the question."""
    if not self.keeps_question:
      return self.image_message
    return f'{self.image_message}{self.image_join}{question}'

  def training_prompt(self, question: str) -> str:
    """The training text before the answer to a first human message."""
    return self.train_system + self.train_question.format(question) + self.train_answer_prefix

  def training_segments(self, turns: Sequence[tuple[str, str]]) -> list[Segment]:
    """(role, text) turns, human messages already rendered (``with_image``) -> the
    training text, adjacent prompt pieces merged."""
    texts = [(self.train_system, False)]
    has_image = any(role == HUMAN and IMAGE_MARKER in text for role, text in turns)
    question = self.train_question
    if not has_image and self.train_text_question is not None:
      question = self.train_text_question
    for i, (role, text) in enumerate(turns):
      if role == HUMAN:
        prefix = self.later_turn_prefix if i else ''
        texts.append((prefix + question.format(text), False))
      else:
        texts += [(self.train_answer_prefix, False), (text + self.end_sym, True)]
    segments: list[Segment] = []
    for text, supervised in texts:
      if segments and not supervised and not segments[-1].supervised:
        segments[-1] = Segment(segments[-1].text + text, False)
      elif text or supervised:
        segments.append(Segment(text, supervised))
    return segments


VICUNA_V0 = Template(
    'vicuna_v0', MINIGPT4_SYSTEM, ('Human: ', 'Assistant: '), '###',
    train_question='###Human: {} ', train_answer_prefix='###Assistant: ', end_sym='###')
# Vicuna v0 trained in the layout it chats in: the system message, then '###Human: ',
# the image and question, '###Assistant: ', the answer and '###', exactly the text of
# ``Conversation.prompt`` and the answer after it. MiniGPT-4 trains without the system
# message, and a pretrained Vicuna bridges the gap; the tiny default's LLM, pretrained on
# a few hundred sentences, does not (one answer for most photographs), so configs/tiny.py
# trains its stage 2 in this layout.
VICUNA_V0_CHAT = dataclasses.replace(
    VICUNA_V0, name='vicuna_v0_chat', train_system=MINIGPT4_SYSTEM + '###',
    train_question='Human: {}###', train_answer_prefix='Assistant: ')
# The literal text '<s>' tokenizes to BOS; the system text sits outside [INST].
LLAMA2 = Template(
    'llama2', MINIGPT4_SYSTEM, ('<s>[INST] ', ' [/INST] '), '',
    train_question='[INST] {} ', train_answer_prefix='[/INST] ', end_sym='</s>')
# MiniGPT-v2 (HEAD d94738a): CONV_VISION_minigptv2 chats with no system message and stops
# on EOS. Its datasets write '<Img><ImageHere></Img> ' + instruction + ' ' and the
# model wraps that in '[INST] {} [/INST]': two spaces before [/INST]
# (minigpt_base.py:239-240); turns after the first start with the text '<s>' (166-209).
# Its one text-only dataset, unnatural_instruction.py, writes the bare instruction: one
# space before [/INST].
MINIGPTV2 = Template(
    'minigptv2', '', ('<s>[INST] ', ' [/INST]'), '', stop_strings=(),
    train_question='[INST] {}  ', train_text_question='[INST] {} ',
    train_answer_prefix='[/INST]', end_sym='</s>',
    later_turn_prefix='<s>')
# LLaVA's conv_vicuna_v1 ('<image>\n' leads the first question); answers end with
# EOS, which stops generation.
V1 = Template(
    'v1', VICUNA_V1_SYSTEM, ('USER: ', 'ASSISTANT: '), ' ', stop_strings=(),
    answer_sep='</s>', open_role='ASSISTANT:', image_message=IMAGE_MARKER + '\n', image_join='',
    train_system=VICUNA_V1_SYSTEM + ' ', train_question='USER: {} ',
    train_answer_prefix='ASSISTANT: ', end_sym='</s>', tokenization='whole')
# LLaVA's conv_llava_plain (stage 1) and MiniGPT-4's stage 1: the image alone, then a
# caption ending in '\n' ([BOS] <image> caption\n).
PLAIN = Template('plain', '', ('', ''), '', stop_strings=('\n',), answer_sep='\n',
                 image_message=IMAGE_MARKER, image_join=None)
TEMPLATES = {t.name: t for t in (VICUNA_V0, VICUNA_V0_CHAT, LLAMA2, MINIGPTV2, V1, PLAIN)}


def get_template(name: str) -> Template:
  try:
    return TEMPLATES[name]
  except KeyError:
    raise ValueError(f'unknown template {name!r}; known: {sorted(TEMPLATES)}') from None


@dataclasses.dataclass
class Conversation:
  """The history of one chat: (role, text) pairs; text None = the answer to come."""

  template: Template
  messages: list[tuple[str, str | None]] = dataclasses.field(default_factory=list)

  def add_image(self) -> None:
    self.messages.append((self.template.roles[0], self.template.image_message))

  def ask(self, text: str) -> None:
    """A human turn; right after the image it joins the image message."""
    text = without_marker(text)
    human = self.template.roles[0]
    if self.messages and self.messages[-1] == (human, self.template.image_message):
      self.messages[-1] = (human, self.template.with_image(text))
    else:
      self.messages.append((human, text))

  def open_answer(self) -> None:
    self.messages.append((self.template.roles[1], None))

  def close_answer(self, text: str) -> None:
    role, pending = self.messages[-1]
    if role != self.template.roles[1] or pending is not None:
      raise ValueError('no open answer: call open_answer() first')
    self.messages[-1] = (role, without_marker(text))

  def prompt(self) -> str:
    t = self.template
    answer_sep = t.sep if t.answer_sep is None else t.answer_sep
    open_role = t.roles[1] if t.open_role is None else t.open_role
    # As MiniGPT-4: an empty message (like the open answer) renders as its bare role.
    # Messages alternate human, assistant (plain's roles are both empty).
    return t.system + t.sep + ''.join(
        role + text + (answer_sep if i % 2 else t.sep) if text else open_role
        for i, (role, text) in enumerate(self.messages))


def without_marker(text: str) -> str:
  """Text with no image slot in it: the prompt is split at ``<ImageHere>``, so a
  question or answer containing it would ask for a second image (MiniGPT-4 asserts)."""
  return text.replace(IMAGE_MARKER, '')


def cut_at_stop(text: str, strings: tuple[str, ...]) -> str:
  """``text`` up to the first occurrence of any stop string."""
  ends = [i for i in (text.find(s) for s in strings) if i >= 0]
  return text[:min(ends)] if ends else text


def postprocess(text: str, stop_strings: tuple[str, ...]) -> str:
  """MiniGPT-4's answer cleanup: cut at the first stop string, keep what follows the
  last ``Assistant:``, strip (decode first, dropping special tokens)."""
  return cut_at_stop(text, stop_strings).split('Assistant:')[-1].strip()
