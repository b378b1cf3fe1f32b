"""MiniGPT-4's conversation templates and history (``minigpt4/conversation/conversation.py`` at ef1ac08).

SeparatorStyle.SINGLE: prompt = system + sep + for each message (role + text + sep),
the last (the assistant's, still empty) rendered as its bare role. The image is a
human message ``<Img><ImageHere></Img>`` that the first question joins.
"""

from __future__ import annotations

import dataclasses

from minigpt4_jax.generate.stop_strings import cut_at_stop
from minigpt4_jax.prompting import IMAGE_PLACEHOLDER, VICUNA_V1_SYSTEM

SYSTEM = ('Give the following image: <Img>ImageContent</Img>. You will be able to see the '
          'image once I provide it to you. Please answer my questions.')
IMAGE_MESSAGE = f'<Img>{IMAGE_PLACEHOLDER}</Img>'


@dataclasses.dataclass(frozen=True)
class Template:
  """A conversation format.

  Attributes:
    roles: (human, assistant) prefixes, spaces included.
    sep: written after the system message and after every message.
    stop_strings: text that ends an answer. MiniGPT-4 (ef1ac08) stops on ``###``
      for every template; Llama-2 answers end with EOS before it matters.
  """

  name: str
  system: str
  roles: tuple[str, str]
  sep: str
  stop_strings: tuple[str, ...] = ('###',)
  # LLaVA's SeparatorStyle.TWO: answers end with their own separator ('</s>'), and the
  # open answer renders as 'ASSISTANT:' (no space: the answer's first token has one).
  answer_sep: str | None = None  # None: ``sep``
  open_role: str | None = None   # None: ``roles[1]``
  image_message: str = IMAGE_MESSAGE
  image_join: str | None = ' '   # between the image and the first question; None drops it


VICUNA_V0 = Template('vicuna_v0', SYSTEM, ('Human: ', 'Assistant: '), '###')
# The literal text '<s>' tokenizes to BOS; the system text sits outside [INST].
LLAMA2 = Template('llama2', SYSTEM, ('<s>[INST] ', ' [/INST] '), '')
# LLaVA's conv_vicuna_v1 ('<image>\n' leads the first question), as it trains
# (train/llava_text.py); answers end with EOS, which stops generation.
V1 = Template('v1', VICUNA_V1_SYSTEM, ('USER: ', 'ASSISTANT: '), ' ', stop_strings=(),
              answer_sep='</s>', open_role='ASSISTANT:', image_message=IMAGE_PLACEHOLDER + '\n',
              image_join='')
# LLaVA's conv_llava_plain (stage 1): the image alone, then a caption ending in '\n'.
PLAIN = Template('plain', '', ('', ''), '', stop_strings=('\n',), answer_sep='\n',
                 image_message=IMAGE_PLACEHOLDER, image_join=None)
TEMPLATES = {t.name: t for t in (VICUNA_V0, LLAMA2, V1, PLAIN)}


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
    """A human turn; right after the image it joins the image message (space-separated)."""
    text = without_placeholder(text)
    t = self.template
    human = t.roles[0]
    if self.messages and self.messages[-1] == (human, t.image_message):
      if t.image_join is not None:
        self.messages[-1] = (human, f'{t.image_message}{t.image_join}{text}')
    else:
      self.messages.append((human, text))

  def open_answer(self) -> None:
    self.messages.append((self.template.roles[1], None))

  def close_answer(self, text: str) -> None:
    role, pending = self.messages[-1]
    if role != self.template.roles[1] or pending is not None:
      raise ValueError('no open answer: call open_answer() first')
    self.messages[-1] = (role, without_placeholder(text))

  def prompt(self) -> str:
    t = self.template
    answer_sep = t.sep if t.answer_sep is None else t.answer_sep
    open_role = t.roles[1] if t.open_role is None else t.open_role
    # As MiniGPT-4: an empty message (like the open answer) renders as its bare role.
    # Messages alternate human, assistant (plain's roles are both empty).
    return t.system + t.sep + ''.join(
        role + text + (answer_sep if i % 2 else t.sep) if text else open_role
        for i, (role, text) in enumerate(self.messages))


def without_placeholder(text: str) -> str:
  """Text with no image slot in it: the prompt is split at ``<ImageHere>``, so a
  question or answer containing it would ask for a second image (MiniGPT-4 asserts)."""
  return text.replace(IMAGE_PLACEHOLDER, '')


def postprocess(text: str, stop_strings: tuple[str, ...]) -> str:
  """MiniGPT-4's answer cleanup: cut at the first stop string, keep what follows the
  last ``Assistant:``, strip (decode first, dropping special tokens)."""
  return cut_at_stop(text, stop_strings).split('Assistant:')[-1].strip()
