"""An OpenAI-compatible HTTP server (standard library ``ThreadingHTTPServer``).

  POST /v1/chat/completions   chat completions, streamed as server-sent events with
                              ``stream: true`` (chunks, then ``data: [DONE]``)
  GET  /v1/models             the one model served
  GET  /health                {"status": "ok", "slots": S, "busy": n, "waiting": m}

Each request thread validates and renders its request, queues it on the ``Engine``
and writes the tokens the engine hands back; the engine thread alone drives the
device. Bad input is an OpenAI-style JSON error, and the server keeps serving.
"""

from __future__ import annotations

import dataclasses
import hmac
import http.server
import json
import pathlib
import secrets
import threading
import time
from typing import Any, Mapping

from minigpt4_jax.errors import BadInput
from minigpt4_jax.families import family_of
from minigpt4_jax.generate.chat import preprocess
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.generate.stop_strings import StopTables
from minigpt4_jax.serve import api
from minigpt4_jax.serve.answer import Answer
from minigpt4_jax.serve.api import ApiError, ChatRequest
from minigpt4_jax.serve.engine import Engine, Request
from minigpt4_jax.serve.images import DEFAULT_MAX_IMAGE_BYTES, image_from_url
from minigpt4_jax.serve.prompt import completion_budget, render, task_of, with_task
from minigpt4_jax.text.templates import Template, without_marker
from minigpt4_jax.text.tokens import tokenize_with_image

DEFAULT_MAX_TOKENS = 300  # MiniGPT-4's max_new_tokens, when a request sets none


def generation_config(chat: ChatRequest, max_new_tokens: int,
                      defaults: Mapping[str, Any]) -> GenerationConfig:
  """The decoding settings of a request: OpenAI's fields as sent (temperature 0 or
  top_p 0: greedy; OpenAI's sampling has no top-k), and ``defaults`` for what OpenAI's
  request cannot say (the family's chat defaults; MiniGPT-4's: repetition penalty
  1.05 counting the BOS, EOS allowed first), so a greedy reply is ``Chat``'s answer."""
  greedy = chat.temperature == 0 or chat.top_p == 0
  return GenerationConfig(**{**defaults, 'max_new_tokens': max_new_tokens,
                             'do_sample': not greedy, 'top_k': 0,
                             'temperature': 1.0 if greedy else chat.temperature,
                             'top_p': 1.0 if greedy else chat.top_p})


@dataclasses.dataclass(frozen=True)
class ServeOptions:
  """What the server accepts. api_key: required bearer key (None: open);
  allowed_image_dir: the folder ``file://`` image URLs may name (None: off);
  decoding_defaults: ``GenerationConfig`` fields OpenAI's request cannot set (None:
  the family's chat defaults, as ``launch.chat`` uses them); task: the task identifier
  put before each question of a request that names none (``Family.tasks``; None: none)."""

  model_name: str = 'minigpt4_jax'
  api_key: str | None = None
  allowed_image_dir: pathlib.Path | None = None
  max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
  default_max_tokens: int = DEFAULT_MAX_TOKENS
  decoding_defaults: Mapping[str, Any] | None = None
  task: str | None = None


class Service:
  """Requests -> engine work, for one model, its tokenizer and its chat template."""

  def __init__(self, model, tokenizer, template: Template, engine: Engine, options: ServeOptions):
    self.tokenizer, self.template, self.engine, self.options = tokenizer, template, engine, options
    self.num_image_tokens = model.cfg.num_image_tokens
    self.image_size = model.cfg.vision.image_size
    family = family_of(model.cfg)
    if options.task is not None and options.task not in family.tasks:
      known = ', '.join(family.tasks) or 'none'
      raise BadInput(f'{options.task!r} is not a {family.title} task identifier (those: {known})')
    self.family = family
    self.image_transform = family.image_transform
    self.decoding_defaults = (family.chat_defaults if options.decoding_defaults is None
                              else options.decoding_defaults)

  def prepare(self, chat: ChatRequest) -> tuple[Request, Answer]:
    """A validated request -> the engine's request and the reply's text assembler."""
    task = task_of(chat.task, self.options.task, self.family)
    text, image_url = render(with_task(chat.messages, task, self.family), self.template)
    pixels, image_size = None, None
    if image_url is not None:
      image = image_from_url(image_url, allowed_dir=self.options.allowed_image_dir,
                             max_bytes=self.options.max_image_bytes, where='image_url')
      pixels, image_size = preprocess(image, self.image_size, self.image_transform), image.size
    if image_url is None:  # placeholders without an image would splice zeros
      text = without_marker(text)
    # As Chat tokenizes (the template's rule for special-token text).
    ids = tokenize_with_image(self.tokenizer, text, self.num_image_tokens,
                              split_specials=self.template.split_specials)
    max_new = completion_budget(len(ids), chat.max_tokens, self.engine.context,
                                self.options.default_max_tokens)
    config = generation_config(chat, max_new, self.decoding_defaults)
    seed = secrets.randbelow(2**31) if chat.seed is None else chat.seed % 2**31
    return (Request(ids, pixels, config, seed),
            Answer(self.tokenizer, self.template.stop_strings, chat.stop,
                   grounded=bool(self.family.tasks), image_size=image_size))

  def health(self) -> dict[str, Any]:
    return {'status': 'ok', 'slots': self.engine.slots, 'busy': self.engine.busy_slots(),
            'waiting': len(self.engine.pending)}


def _finish_reason(request: Request, answer: Answer) -> str:
  return 'stop' if answer.stopped else request.finish_reason


def make_service(model, tokenizer, template: Template, *, slots: int = 8,
                 context: int | None = None, options: ServeOptions = ServeOptions()) -> Service:
  """A ``Service`` with its engine (not started): ``slots`` decode slots of ``context``
  cache entries each (default: the LLM's ``max_position_embeddings``)."""
  cfg = model.cfg.llm
  stops = StopTables.build(tokenizer, template.stop_strings, cfg.vocab_size)
  engine = Engine(model, slots=slots, context=context or cfg.max_position_embeddings,
                  stops=stops, eos_ids=[cfg.eos_token_id])
  return Service(model, tokenizer, template, engine, options)


class Handler(http.server.BaseHTTPRequestHandler):
  service: Service  # set by ``make_server``'s subclass

  def log_message(self, format, *args) -> None:
    del format, args  # the console stays quiet

  def do_GET(self) -> None:
    self._answer(self._get)

  def do_POST(self) -> None:
    self._answer(self._post)

  def _answer(self, route) -> None:
    try:
      route()
    except ApiError as err:
      self._json(err.status, err.body())
    except (BrokenPipeError, ConnectionResetError):
      pass
    except Exception as err:  # a bug must not take the server down
      self._json(500, ApiError(500, f'{type(err).__name__}: {err}', kind='server_error').body())

  def _get(self) -> None:
    if self.path == '/health':
      return self._json(200, self.service.health())
    self._authorize()
    if self.path == '/v1/models':
      return self._json(200, api.models_list(self.service.options.model_name))
    raise ApiError(404, f'no route {self.path}', kind='not_found_error')

  def _post(self) -> None:
    self._authorize()
    if self.path != '/v1/chat/completions':
      raise ApiError(404, f'no route {self.path}', kind='not_found_error')
    chat = api.parse_request(api.parse_json(self._body()))
    request, answer = self.service.prepare(chat)
    self.service.engine.submit(request)
    if chat.stream:
      self._stream(chat, request, answer)
    else:
      self._complete(request, answer)

  def _body(self) -> bytes:
    limit = 2 * self.service.options.max_image_bytes + 2**20  # base64 grows 4/3
    try:
      length = int(self.headers.get('Content-Length', ''))
    except ValueError:
      raise ApiError(411, 'a Content-Length header is required') from None
    if length > limit:
      raise ApiError(413, f'the request body has {length} bytes; at most {limit}',
                     code='request_too_large')
    return self.rfile.read(length)

  def _authorize(self) -> None:
    key = self.service.options.api_key
    if key is None:
      return
    given = self.headers.get('Authorization', '')
    if not given.startswith('Bearer '):
      raise ApiError(401, "You didn't provide an API key (Authorization: Bearer KEY).",
                     code='invalid_api_key')
    if not hmac.compare_digest(given[len('Bearer '):].encode(), key.encode()):
      raise ApiError(401, 'Incorrect API key provided.', code='invalid_api_key')

  def _complete(self, request: Request, answer: Answer) -> None:
    for new in request.tokens():
      answer.add(new)
      if answer.stopped:
        request.cancel()
    if request.finish_reason == 'error':
      raise ApiError(500, request.error, kind='server_error')
    self._json(200, api.completion(api.completion_id(), self.service.options.model_name,
                                   answer.text(), _finish_reason(request, answer),
                                   len(request.ids), len(answer.tokens), answer.extras()))

  def _stream(self, chat: ChatRequest, request: Request, answer: Answer) -> None:
    cid, model, created = api.completion_id(), self.service.options.model_name, int(time.time())
    self.send_response(200)
    self.send_header('Content-Type', 'text/event-stream')
    self.send_header('Cache-Control', 'no-cache')
    self.end_headers()
    try:
      self._event(api.chunk(cid, model, {'role': 'assistant', 'content': ''}, created=created))
      for new in request.tokens():
        piece = answer.add(new)
        if answer.stopped:
          request.cancel()
        if piece:
          self._event(api.chunk(cid, model, {'content': piece}, created=created))
      if piece := answer.finish():
        self._event(api.chunk(cid, model, {'content': piece}, created=created))
      # The boxes come once, with the finish reason: the whole text is known by then.
      self._event(api.chunk(cid, model, answer.extras(), _finish_reason(request, answer),
                            created=created))
      if chat.include_usage:
        self._event(api.usage_chunk(cid, model, len(request.ids), len(answer.tokens),
                                    created=created))
      self.wfile.write(b'data: [DONE]\n\n')
      self.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
      request.cancel()  # the client went away: free the slot

  def _event(self, payload: dict[str, Any]) -> None:
    self.wfile.write(b'data: ' + json.dumps(payload).encode() + b'\n\n')
    self.wfile.flush()

  def _json(self, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    self.send_response(status)
    self.send_header('Content-Type', 'application/json')
    self.send_header('Content-Length', str(len(body)))
    self.end_headers()
    self.wfile.write(body)


class Server:
  """The HTTP server and its engine, started together and stopped together."""

  def __init__(self, service: Service, host: str = '127.0.0.1', port: int = 8000):
    self.service = service
    handler = type('BoundHandler', (Handler,), {'service': service})
    self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
    self.httpd.daemon_threads = True
    self.thread = threading.Thread(target=self.httpd.serve_forever, name='http', daemon=True)

  @property
  def url(self) -> str:
    host, port = self.httpd.server_address[:2]
    return f'http://{host}:{port}'

  def start(self) -> 'Server':
    self.service.engine.start()
    self.thread.start()
    return self

  def close(self) -> None:
    self.httpd.shutdown()
    self.httpd.server_close()
    self.service.engine.close()

  def __enter__(self) -> 'Server':
    return self.start()

  def __exit__(self, *exc) -> None:
    self.close()
