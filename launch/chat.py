"""Chat with MiniGPT-4 about one image in the terminal, streaming the answers.

  python -m launch.chat --ckpt ckpt/minigpt4_13b --image photo.jpg
  python -m launch.chat --ckpt ckpt/minigpt4_13b --image photo.jpg \\
      --prompt "Describe this image in detail." --greedy

Defaults are MiniGPT-4's Chat.answer (sampling, top-p 0.9, 300 new tokens) with the
family's chat settings (MiniGPT-4: repetition penalty 1.05); the template follows the
checkpoint's family (MiniGPT-4: vicuna_v0, or llama2 for the no-Q-Former model; LLaVA: v1).
An empty line or end of input ends the chat.

MiniGPT-v2 grounding: ``--task refer|grounding|detection|identify|vqa|caption`` puts
the task identifier before every question (an empty --prompt takes the demo's text,
e.g. "[grounding] describe this image in detail"); boxes in an answer are printed
in pixels of the image after it:

  python -m launch.chat --ckpt ckpt/minigptv2 --image dog.jpg --task refer --prompt "the dog"
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import TextIO

from minigpt4_jax import grounding
from minigpt4_jax.cli import run
from minigpt4_jax.families import minigptv2
from minigpt4_jax.generate.chat import Chat, ContextOverflowError, load_chat
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.inputs import open_image, require_checkpoint
from minigpt4_jax.log_routing import VERBOSE_HELP, route_logs
from minigpt4_jax.models.quantize import QUANTIZE_CHOICES
from minigpt4_jax.text.templates import TEMPLATES


def parse_args(argv: list[str]) -> argparse.Namespace:
  defaults = GenerationConfig()
  p = argparse.ArgumentParser(prog='python -m launch.chat', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--ckpt', type=pathlib.Path, required=True,
                 help='converted checkpoint (python -m launch.convert) or training workdir')
  p.add_argument('--image', type=pathlib.Path, required=True, help='the image to talk about')
  p.add_argument('--prompt', help='answer this one question and exit')
  p.add_argument('--template', choices=sorted(TEMPLATES),
                 help='conversation template (default: the one matching the checkpoint)')
  p.add_argument('--num-beams', type=int, default=defaults.num_beams)
  p.add_argument('--temperature', type=float, default=defaults.temperature)
  p.add_argument('--top-p', type=float, default=defaults.top_p)
  p.add_argument('--max-new-tokens', type=int, default=defaults.max_new_tokens)
  p.add_argument('--max-length', type=int, default=2000, help='context budget, prompt + answer')
  p.add_argument('--greedy', action='store_true', help='no sampling (MiniGPT-4 samples)')
  p.add_argument('--seed', type=int, default=0)
  p.add_argument('--task', choices=minigptv2.TASKS,
                 help='MiniGPT-v2: the task identifier put before each question')
  p.add_argument('--quantize', choices=QUANTIZE_CHOICES, default='none',
                 help='int8: weight-only int8 ViT and LLM matmuls (about half the bf16 bytes)')
  p.add_argument('--verbose', action='store_true', help=VERBOSE_HELP)
  return p.parse_args(argv)


def turn(chat: Chat, question: str, out: TextIO, image_size: tuple[int, int] | None = None
         ) -> None:
  """Streams the answer; with ``image_size`` (W, H), then prints its boxes in pixels."""
  chat.ask(question)
  answer = ''
  for piece in chat.stream_answer():
    answer += piece
    out.write(piece)
    out.flush()
  out.write('\n')
  if image_size is not None:
    for line in grounding.pixel_box_lines(grounding.parse_grounded(answer), *image_size):
      out.write(f'  {line}\n')


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> None:
  args = parse_args(sys.argv[1:] if argv is None else argv)
  generation = dict(max_new_tokens=args.max_new_tokens, num_beams=args.num_beams,
                    do_sample=not args.greedy, temperature=args.temperature, top_p=args.top_p)
  require_checkpoint(args.ckpt, '--ckpt')
  image = open_image(args.image)  # a missing or broken image fails before the model loads
  route_logs(None, args.verbose)
  chat = load_chat(args.ckpt, args.template, generation=generation, max_length=args.max_length,
                   seed=args.seed, quantize=args.quantize)
  chat.upload_image(image)
  image_size = image.size if args.task else None  # boxes are relative to it
  try:
    if args.prompt is not None:
      turn(chat, minigptv2.task_prompt(args.task, args.prompt), out, image_size)
      return
    while question := input('Human: ').strip():
      out.write('Assistant: ')
      turn(chat, minigptv2.task_prompt(args.task, question), out, image_size)
  except EOFError:
    pass
  except ContextOverflowError as err:
    sys.exit(f'\n{err}')


if __name__ == '__main__':
  run(main)
