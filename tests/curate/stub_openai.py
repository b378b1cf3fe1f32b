"""A stand-in OpenAI-compatible server on 127.0.0.1 for the fixer tests.

It answers ``POST /chat/completions`` with ``reply(paragraph)`` (default: the
paragraph unchanged). In flaky mode the first ``fail_first`` requests for each
paragraph fail, cycling through ``failures``: ``500`` (server error), ``timeout``
(no answer within the client's timeout) and ``malformed`` (200 with a broken body).
"""

from __future__ import annotations

import collections
import http.server
import json
import threading
import time
from typing import Callable

from minigpt4_jax.curate.fixers import FIX_PROMPT

FAILURES = ('500', 'timeout', 'malformed')


class StubOpenAI:
  def __init__(self, reply: Callable[[str], str] = lambda p: p, fail_first: int = 0,
               failures: tuple[str, ...] = FAILURES, hang_s: float = 1.0):
    self.reply, self.fail_first, self.failures, self.hang_s = reply, fail_first, failures, hang_s
    self.calls: collections.Counter[str] = collections.Counter()
    self.requests: list[dict] = []
    self.authorizations: list[str | None] = []
    self.lock = threading.Lock()
    stub = self

    class Handler(http.server.BaseHTTPRequestHandler):
      def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        stub.handle(self, body)

      def log_message(self, *args):
        pass

    class Server(http.server.ThreadingHTTPServer):
      daemon_threads = True

      def handle_error(self, request, client_address):
        pass  # the client hung up on a 'timeout' answer: expected

    self.server = Server(('127.0.0.1', 0), Handler)
    self.url = f'http://127.0.0.1:{self.server.server_address[1]}/v1'
    self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

  def __enter__(self) -> 'StubOpenAI':
    self.thread.start()
    return self

  def __exit__(self, *exc) -> None:
    self.server.shutdown()
    self.server.server_close()

  def handle(self, handler, body: dict) -> None:
    content = body['messages'][-1]['content']
    assert content.startswith(FIX_PROMPT + '\n\n'), content
    paragraph = content[len(FIX_PROMPT) + 2:]
    with self.lock:
      self.requests.append(body)
      self.authorizations.append(handler.headers.get('Authorization'))
      self.calls[paragraph] += 1
      attempt = self.calls[paragraph]
    if attempt <= self.fail_first:
      failure = self.failures[(attempt - 1) % len(self.failures)]
      if failure == '500':
        return self._send(handler, 500, b'{"error": "overloaded"}')
      if failure == 'timeout':
        time.sleep(self.hang_s)
      if failure == 'malformed':
        return self._send(handler, 200, b'{"choices": [{"message": {}}]')
    reply = {'id': 'stub', 'object': 'chat.completion', 'model': body['model'],
             'choices': [{'index': 0, 'finish_reason': 'stop',
                          'message': {'role': 'assistant', 'content': self.reply(paragraph)}}]}
    self._send(handler, 200, json.dumps(reply).encode())

  @staticmethod
  def _send(handler, code: int, data: bytes) -> None:
    handler.send_response(code)
    handler.send_header('Content-Type', 'application/json')
    handler.send_header('Content-Length', str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
