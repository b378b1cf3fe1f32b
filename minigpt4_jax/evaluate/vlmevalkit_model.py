"""VLMEvalKit model: ``generate_inner(message, dataset)`` over our checkpoints.

Register it in VLMEvalKit's ``vlmeval/config.py``:

  from functools import partial
  from minigpt4_jax.evaluate.vlmevalkit_model import MiniGPT4JAX
  supported_VLM['minigpt4_jax'] = partial(MiniGPT4JAX, ckpt='ckpt/minigpt4_13b')

then ``python run.py --data MMBench_DEV_EN POPE --model minigpt4_jax``. A message
is VLMEvalKit's list of ``{'type': 'image' | 'text', 'value': path or text}``; the
datasets build their own prompts (``use_custom_prompt`` is False), and MiniGPT-4
takes exactly one image per message.
"""

from __future__ import annotations

import pathlib
from typing import Any, Sequence

from minigpt4_jax.evaluate.harness_model import HarnessModel

Message = Sequence[dict[str, Any]]


def split_message(message: Message | str) -> tuple[str, str]:
  """(image path, text) of a VLMEvalKit message; text parts are joined by newlines."""
  if isinstance(message, str):
    message = [{'type': 'text', 'value': message}]
  images = [m['value'] for m in message if m['type'] == 'image']
  texts = [m['value'] for m in message if m['type'] == 'text']
  unknown = {m['type'] for m in message} - {'image', 'text'}
  if unknown:
    raise ValueError(f'message parts of type {sorted(unknown)}: only image and text are read')
  if len(images) != 1:
    raise ValueError(f'MiniGPT-4 takes exactly one image per message; got {len(images)}')
  return images[0], '\n'.join(texts)


class MiniGPT4JAX:
  """VLMEvalKit's model interface (``generate``, ``generate_inner``, ``use_custom_prompt``).

  Args:
    ckpt: converted checkpoint or training workdir; template: conversation template.
    max_new_tokens, num_beams: decoding (greedy by default, as VLMEvalKit runs models).
  """

  INSTALL_REQ = False
  INTERLEAVE = False  # one image, placed by MiniGPT-4's template

  def __init__(self, ckpt: str | pathlib.Path, template: str | None = None,
               max_new_tokens: int = 300, num_beams: int = 1):
    self.model = HarnessModel.load(ckpt, template)
    self.max_new_tokens, self.num_beams = max_new_tokens, num_beams

  def use_custom_prompt(self, dataset: str | None) -> bool:
    del dataset
    return False

  def generate_inner(self, message: Message | str, dataset: str | None = None) -> str:
    del dataset  # the dataset's prompt already says how to answer
    image, text = split_message(message)
    return self.model.generate([image], [text], max_new_tokens=self.max_new_tokens,
                               num_beams=self.num_beams)[0]

  def generate(self, message: Message | str, dataset: str | None = None) -> str:
    return self.generate_inner(message, dataset)
