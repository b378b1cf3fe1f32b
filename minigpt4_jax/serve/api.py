"""OpenAI chat-completions requests and replies: parsing, validation, JSON shapes.

Follows the OpenAI API reference for ``POST /v1/chat/completions``: a request names
``messages`` (content a string or ``text`` / ``image_url`` parts) and sampling fields;
the reply is a ``chat.completion`` object, or with ``stream`` a sequence of
``chat.completion.chunk`` events. Fields OpenAI accepts but this server cannot honour
(``n`` > 1, tools, logprobs...) are a 400 naming the field, as is any field OpenAI
does not know ("Unrecognized request argument supplied"), so a client never gets
silently different behaviour.

One field is this server's own: ``task``, a task identifier of families that have
them (MiniGPT-v2: "refer", "grounding", ...; "" for none), overriding the server's
``--task`` for one request; the ``openai`` client sends it with
``extra_body={"task": "refer"}``. Replies of such a family carry the boxes their
text names in a ``boxes`` list beside ``content`` (``serve.boxes``).
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from typing import Any

# Read and ignored: bookkeeping that changes nothing about the answer.
IGNORED_FIELDS = frozenset({'model', 'user', 'metadata', 'store', 'service_tier',
                            'prompt_cache_key', 'safety_identifier'})
# OpenAI's defaults for fields we support only at that value.
DEFAULT_ONLY = {'n': 1, 'frequency_penalty': 0, 'presence_penalty': 0, 'logprobs': False,
                'parallel_tool_calls': True}
# Known to OpenAI, not implemented here: accepted only when absent or null.
UNSUPPORTED_FIELDS = frozenset({'tools', 'tool_choice', 'functions', 'function_call',
                                'response_format', 'logit_bias', 'top_logprobs', 'audio',
                                'modalities', 'prediction', 'reasoning_effort',
                                'web_search_options', 'verbosity'})
SUPPORTED_FIELDS = frozenset({'messages', 'max_tokens', 'max_completion_tokens', 'temperature',
                              'top_p', 'stop', 'seed', 'stream', 'stream_options'})
EXTENSION_FIELDS = frozenset({'task'})  # not OpenAI's: sent through the client's extra_body
KNOWN_FIELDS = (IGNORED_FIELDS | set(DEFAULT_ONLY) | UNSUPPORTED_FIELDS | SUPPORTED_FIELDS
                | EXTENSION_FIELDS)
MAX_STOP_STRINGS = 4  # OpenAI's limit
ROLES = ('system', 'developer', 'user', 'assistant')


class ApiError(Exception):
  """An error reply: HTTP status and OpenAI's ``{"error": {...}}`` body."""

  def __init__(self, status: int, message: str, *, param: str | None = None,
               code: str | None = None, kind: str = 'invalid_request_error'):
    super().__init__(message)
    self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

  def body(self) -> dict[str, Any]:
    return {'error': {'message': self.message, 'type': self.kind, 'param': self.param,
                      'code': self.code}}


@dataclasses.dataclass(frozen=True)
class Message:
  """One chat message: its role, its text parts joined by newlines, and its image URLs."""

  role: str
  text: str
  image_urls: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ChatRequest:
  """A validated request. ``temperature`` 0 means greedy decoding; ``max_tokens`` None
  means as many as the context allows; ``task`` None means the server's task, '' none."""

  messages: tuple[Message, ...]
  max_tokens: int | None = None
  temperature: float = 1.0
  top_p: float = 1.0
  stop: tuple[str, ...] = ()
  seed: int | None = None
  stream: bool = False
  include_usage: bool = False
  model: str | None = None
  task: str | None = None


def parse_json(body: bytes) -> dict[str, Any]:
  """The request body as a JSON object, or a 400 saying why not."""
  try:
    value = json.loads(body)
  except (UnicodeDecodeError, json.JSONDecodeError) as err:
    raise ApiError(400, f'the request body is not valid JSON: {err}') from None
  if not isinstance(value, dict):
    raise ApiError(400, 'the request body must be a JSON object')
  return value


def _number(body: dict, name: str, kind: type, low: float, high: float, default):
  value = body.get(name)
  if value is None:
    return default
  # bool is an int in Python; JSON true is not a number.
  if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
    raise ApiError(400, f'{name} must be {"a number" if kind is float else "an integer"}',
                   param=name)
  if not low <= value <= high:
    raise ApiError(400, f'{value} is not in [{low}, {high}] - {name!r}', param=name)
  return kind(value)


def _content(value: Any, where: str) -> tuple[str, tuple[str, ...]]:
  """A message's ``content`` -> (text, image URLs)."""
  if isinstance(value, str):
    return value, ()
  if not isinstance(value, list):
    raise ApiError(400, f'{where}.content must be a string or a list of parts', param=where)
  texts, urls = [], []
  for j, part in enumerate(value):
    at = f'{where}.content[{j}]'
    kind = part.get('type') if isinstance(part, dict) else None
    if kind == 'text' and isinstance(part.get('text'), str):
      texts.append(part['text'])
    elif kind == 'image_url' and isinstance(part.get('image_url'), dict) \
        and isinstance(part['image_url'].get('url'), str):
      urls.append(part['image_url']['url'])
    else:
      raise ApiError(400, f"{at}: expected {{'type': 'text', 'text': ...}} or "
                     f"{{'type': 'image_url', 'image_url': {{'url': ...}}}}", param=at)
  return '\n'.join(texts), tuple(urls)


def _messages(value: Any) -> tuple[Message, ...]:
  if not isinstance(value, list) or not value:
    raise ApiError(400, 'messages must be a non-empty list', param='messages')
  out = []
  for i, m in enumerate(value):
    where = f'messages[{i}]'
    if not isinstance(m, dict) or m.get('role') not in ROLES:
      raise ApiError(400, f'{where}.role must be one of {list(ROLES)}', param=where)
    if 'content' not in m:
      raise ApiError(400, f'{where}.content is missing', param=where)
    text, urls = _content(m['content'], where)
    if urls and m['role'] != 'user':
      raise ApiError(400, f'{where}: only user messages can hold images', param=where)
    out.append(Message('system' if m['role'] == 'developer' else m['role'], text, urls))
  return tuple(out)


def _stop(value: Any) -> tuple[str, ...]:
  stops = (value,) if isinstance(value, str) else value
  if value is None:
    return ()
  if not isinstance(stops, list | tuple) or not all(isinstance(s, str) and s for s in stops):
    raise ApiError(400, 'stop must be a non-empty string or a list of them', param='stop')
  if len(stops) > MAX_STOP_STRINGS:
    raise ApiError(400, f'stop holds {len(stops)} strings; at most {MAX_STOP_STRINGS}',
                   param='stop')
  return tuple(stops)


def _check_fields(body: dict) -> None:
  for name, value in body.items():
    if name not in KNOWN_FIELDS:
      raise ApiError(400, f'Unrecognized request argument supplied: {name}', param=name)
    if name in UNSUPPORTED_FIELDS and value is not None:
      raise ApiError(400, f'{name} is not supported by this server', param=name)
    if name in DEFAULT_ONLY and value is not None and value != DEFAULT_ONLY[name]:
      raise ApiError(400, f'{name}={value!r} is not supported by this server (only '
                     f'{DEFAULT_ONLY[name]!r})', param=name)


def parse_request(body: dict[str, Any]) -> ChatRequest:
  """A chat-completions JSON object -> ``ChatRequest``, or an ``ApiError`` (400)."""
  _check_fields(body)
  if 'messages' not in body:
    raise ApiError(400, 'messages is required', param='messages')
  max_tokens = _number(body, 'max_completion_tokens', int, 1, 2**31 - 1, None)
  max_tokens = _number(body, 'max_tokens', int, 1, 2**31 - 1, max_tokens)
  stream = body.get('stream') or False
  options = body.get('stream_options') or {}
  if not isinstance(stream, bool) or not isinstance(options, dict):
    raise ApiError(400, 'stream must be a boolean and stream_options an object', param='stream')
  if options and not stream:
    raise ApiError(400, 'stream_options is only allowed with stream=true', param='stream_options')
  task = body.get('task')
  if task is not None and not isinstance(task, str):
    raise ApiError(400, 'task must be a string (a task identifier, or "" for none)', param='task')
  return ChatRequest(
      messages=_messages(body['messages']),
      max_tokens=max_tokens,
      temperature=_number(body, 'temperature', float, 0, 2, 1.0),
      top_p=_number(body, 'top_p', float, 0, 1, 1.0),
      stop=_stop(body.get('stop')),
      seed=_number(body, 'seed', int, -2**63, 2**63 - 1, None),
      stream=stream,
      include_usage=bool(options.get('include_usage', False)),
      model=body.get('model') if isinstance(body.get('model'), str) else None,
      task=task,
  )


def completion_id() -> str:
  return f'chatcmpl-{uuid.uuid4().hex}'


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
  return {'prompt_tokens': prompt_tokens, 'completion_tokens': completion_tokens,
          'total_tokens': prompt_tokens + completion_tokens}


def completion(cid: str, model: str, text: str, finish_reason: str, prompt_tokens: int,
               completion_tokens: int, extras: dict[str, Any] | None = None) -> dict[str, Any]:
  """The ``chat.completion`` reply; ``extras``: more fields of its message (``boxes``)."""
  message = {'role': 'assistant', 'content': text, **(extras or {})}
  return {'id': cid, 'object': 'chat.completion', 'created': int(time.time()), 'model': model,
          'choices': [{'index': 0, 'message': message,
                       'logprobs': None, 'finish_reason': finish_reason}],
          'usage': usage(prompt_tokens, completion_tokens)}


def chunk(cid: str, model: str, delta: dict[str, str], finish_reason: str | None = None,
          *, created: int) -> dict[str, Any]:
  """One ``chat.completion.chunk`` event carrying ``delta``."""
  return {'id': cid, 'object': 'chat.completion.chunk', 'created': created, 'model': model,
          'choices': [{'index': 0, 'delta': delta, 'logprobs': None,
                       'finish_reason': finish_reason}]}


def usage_chunk(cid: str, model: str, prompt_tokens: int, completion_tokens: int, *,
                created: int) -> dict[str, Any]:
  """The last event with ``stream_options.include_usage``: no choices, the usage."""
  return {'id': cid, 'object': 'chat.completion.chunk', 'created': created, 'model': model,
          'choices': [], 'usage': usage(prompt_tokens, completion_tokens)}


def models_list(model: str) -> dict[str, Any]:
  """``GET /v1/models``: the one model this server holds."""
  return {'object': 'list', 'data': [{'id': model, 'object': 'model', 'created': 0,
                                      'owned_by': 'minigpt4_jax'}]}
