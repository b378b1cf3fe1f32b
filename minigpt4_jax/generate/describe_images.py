"""Greedy descriptions of a few images through the public chat API, one fresh
conversation per image: what ``launch.train`` prints after the tiny default trains."""

from __future__ import annotations

import pathlib
from typing import Sequence

from minigpt4_jax.generate.chat import load_chat

# MiniGPT-4's first alignment instruction (prompts/alignment.txt), as a user asks it.
DESCRIBE_PROMPT = 'Describe this image in detail.'


def describe_images(ckpt: str | pathlib.Path, images: Sequence[str | pathlib.Path],
                    prompt: str = DESCRIBE_PROMPT,
                    max_new_tokens: int = 120) -> list[tuple[pathlib.Path, str]]:
  """(image, greedy answer to ``prompt``) per image, from a converted checkpoint or a
  training workdir, with the family's chat template and other chat defaults."""
  chat = load_chat(ckpt, generation={'do_sample': False, 'max_new_tokens': max_new_tokens})
  answers = []
  for image in images:
    session = chat.session()
    session.upload_image(image)
    session.ask(prompt)
    answers.append((pathlib.Path(image), session.answer()))
  return answers
