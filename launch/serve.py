"""An OpenAI-compatible chat server for a converted checkpoint or a training workdir.

  python -m launch.serve --ckpt ckpt/minigpt4_13b [--host 127.0.0.1] [--port 8000] \\
      [--slots 8] [--quantize int8] [--api-key-env VAR] [--allowed-image-dir DIR]

Serves POST /v1/chat/completions (streaming too), GET /v1/models and GET /health.
Binds to 127.0.0.1 unless --host says otherwise. With --api-key-env, requests must
carry "Authorization: Bearer $VAR". Prints the address once ready; Ctrl-C stops it.

MiniGPT-v2: --task refer|grounding|detection|identify|vqa|caption puts that task
identifier before each question of a request; a request's own "task" field (the
openai client's extra_body={"task": "grounding"}; "" for none) overrides it. Replies
carry the boxes their text names in message.boxes (pixels of the request's image too).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

from minigpt4_jax.cli import run
from minigpt4_jax.errors import BadInput
from minigpt4_jax.families import minigptv2
from minigpt4_jax.loading import load
from minigpt4_jax.models.quantize import QUANTIZE_CHOICES
from minigpt4_jax.serve.images import DEFAULT_MAX_IMAGE_BYTES
from minigpt4_jax.serve.server import Server, ServeOptions, make_service
from minigpt4_jax.text.templates import TEMPLATES, get_template


def parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog='python -m launch.serve', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--ckpt', type=pathlib.Path, required=True,
                 help='converted checkpoint directory or training workdir')
  p.add_argument('--host', default='127.0.0.1')
  p.add_argument('--port', type=int, default=8000, help='0 picks a free port')
  p.add_argument('--slots', type=int, default=8, help='requests decoded at once')
  p.add_argument('--quantize', choices=QUANTIZE_CHOICES, default='none',
                 help='int8: weight-only int8 ViT and LLM matmuls (about half the bf16 bytes)')
  p.add_argument('--max-length', type=int,
                 help="context per request, prompt + answer (default: the LLM's)")
  p.add_argument('--template', choices=sorted(TEMPLATES),
                 help='chat template (default: the one matching the checkpoint)')
  p.add_argument('--api-key-env', metavar='VAR',
                 help='require the bearer key held in this environment variable')
  p.add_argument('--allowed-image-dir', type=pathlib.Path,
                 help='allow file:// image URLs inside this folder')
  p.add_argument('--max-image-bytes', type=int, default=DEFAULT_MAX_IMAGE_BYTES)
  p.add_argument('--model-name', help='the id /v1/models reports (default: the folder name)')
  p.add_argument('--task', choices=minigptv2.TASKS,
                 help="MiniGPT-v2: the task identifier put before each question (a request's "
                      '"task" field overrides it)')
  return p


def options(p: argparse.ArgumentParser, args: argparse.Namespace) -> ServeOptions:
  """The server's options, or exit 2 with a one-line error."""
  api_key = None
  if args.api_key_env:
    api_key = os.environ.get(args.api_key_env)
    if not api_key:
      p.error(f'--api-key-env: the environment variable {args.api_key_env} is not set')
  if args.allowed_image_dir and not args.allowed_image_dir.is_dir():
    p.error(f'--allowed-image-dir: {args.allowed_image_dir} is not a folder')
  if args.slots < 1:
    p.error('--slots must be >= 1')
  return ServeOptions(model_name=args.model_name or args.ckpt.resolve().name, api_key=api_key,
                      allowed_image_dir=args.allowed_image_dir,
                      max_image_bytes=args.max_image_bytes, task=args.task)


def main(argv: list[str] | None = None) -> None:
  p = parser()
  args = p.parse_args(sys.argv[1:] if argv is None else argv)
  serve_options = options(p, args)
  try:
    loaded = load(args.ckpt, quantize=args.quantize)
  except (FileNotFoundError, ValueError) as err:
    p.error(f'--ckpt {args.ckpt}: {err}')
  template = get_template(args.template) if args.template else loaded.template
  try:
    service = make_service(loaded.model, loaded.tokenizer, template,
                           slots=args.slots, context=args.max_length, options=serve_options)
  except BadInput as err:
    p.error(f'--task: {err}')
  server = Server(service, args.host, args.port).start()
  print(f'serving {serve_options.model_name} on {server.url}', flush=True)
  try:
    server.thread.join()
  except KeyboardInterrupt:
    server.close()


if __name__ == '__main__':
  run(main)
