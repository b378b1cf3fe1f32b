"""OpenAI messages -> the family's chat template, and the token budget of a request.

Multi-turn histories render through ``text.templates.Conversation``, the same
history ``Chat`` keeps, so a request with earlier turns gets the prompt that a
``Chat`` session reaching the same point would build. MiniGPT-4 holds one image per
conversation, opening the first human message (``Chat.upload_img``); an image
anywhere else is an error. A request's task (MiniGPT-v2's [refer], ...) is put before
every question, as ``launch.chat --task`` asks each one.
"""

from __future__ import annotations

import dataclasses

from minigpt4_jax.families.base import Family
from minigpt4_jax.serve.api import ApiError, Message
from minigpt4_jax.text.templates import Conversation, Template


def _split_system(messages: tuple[Message, ...]) -> tuple[str | None, tuple[Message, ...]]:
  """Leading system messages (joined) and the turns after them."""
  first_turn = next((i for i, m in enumerate(messages) if m.role != 'system'), len(messages))
  system = messages[:first_turn]
  turns = messages[first_turn:]
  for i, m in enumerate(turns, first_turn):
    if m.role == 'system':
      raise ApiError(400, f'messages[{i}]: system messages must come before the conversation',
                     param=f'messages[{i}]')
  return ('\n'.join(m.text for m in system) if system else None), turns


def _check_turns(turns: tuple[Message, ...], offset: int) -> None:
  for i, m in enumerate(turns):
    expected = 'user' if i % 2 == 0 else 'assistant'
    if m.role != expected:
      raise ApiError(400, f'messages[{offset + i}]: expected a {expected} message (turns '
                     'alternate user, assistant, ... and end with user)',
                     param=f'messages[{offset + i}]')
    if m.image_urls and (i > 0 or len(m.image_urls) > 1):
      raise ApiError(400, f'messages[{offset + i}]: this model takes one image per '
                     'conversation, in the first user message', param=f'messages[{offset + i}]')
  if not turns or turns[-1].role != 'user':
    raise ApiError(400, 'the last message must be a user message', param='messages')


def task_of(requested: str | None, default: str | None, family: Family) -> str | None:
  """A request's task: its own (``''``: none) or else the server's, or a 400."""
  task = default if requested is None else (requested or None)
  if task is None or task in family.tasks:
    return task
  if not family.tasks:
    raise ApiError(400, f'task {task!r}: {family.title} models take no task identifiers',
                   param='task')
  raise ApiError(400, f'unknown task {task!r}; known: {", ".join(family.tasks)} ("" for none)',
                 param='task')


def with_task(messages: tuple[Message, ...], task: str | None,
              family: Family) -> tuple[Message, ...]:
  """Each user message asked as ``task``'s question; one that already starts with an
  identifier of the family's (``[refer] ...``) keeps its own."""
  if task is None:
    return messages
  own = tuple(f'[{name}]' for name in family.tasks)
  return tuple(dataclasses.replace(m, text=family.task_prompt(task, m.text))
               if m.role == 'user' and not m.text.lstrip().startswith(own) else m
               for m in messages)


def render(messages: tuple[Message, ...], template: Template) -> tuple[str, str | None]:
  """The prompt with the answer opened, and the conversation's image URL (or None).

  A system message replaces the template's system text.
  """
  system, turns = _split_system(messages)
  _check_turns(turns, len(messages) - len(turns))
  if system is not None:
    template = dataclasses.replace(template, system=system)
  conversation = Conversation(template)
  for m in turns:
    if m.role == 'user':
      if m.image_urls:
        conversation.add_image()
      conversation.ask(m.text)
    else:
      conversation.open_answer()
      conversation.close_answer(m.text)
  conversation.open_answer()
  return conversation.prompt(), (turns[0].image_urls or (None,))[0]


def completion_budget(prompt_tokens: int, requested: int | None, context: int,
                      default: int) -> int:
  """How many tokens to generate: ``requested`` if it fits after the prompt in the
  ``context``, else a 400 naming the limit (OpenAI's ``context_length_exceeded``)."""
  if prompt_tokens >= context:
    raise ApiError(400, f"This model's maximum context length is {context} tokens. However, "
                   f'your messages resulted in {prompt_tokens} tokens. Please reduce the '
                   'length of the messages.', param='messages', code='context_length_exceeded')
  room = context - prompt_tokens
  if requested is None:
    return min(default, room)
  if requested > room:
    raise ApiError(400, f"This model's maximum context length is {context} tokens. However, "
                   f'you requested {prompt_tokens + requested} tokens ({prompt_tokens} in the '
                   f'messages, {requested} in the completion). Please reduce the length of the '
                   'messages or completion.', param='max_tokens', code='context_length_exceeded')
  return requested
