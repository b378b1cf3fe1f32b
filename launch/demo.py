"""The Gradio chat demo (MiniGPT-4 or LLaVA checkpoints): upload an image, then chat about it.

  python -m launch.demo --ckpt ckpt/minigpt4_13b [--host 127.0.0.1] [--port 7860] [--share]

Like MiniGPT-4's demo.py: "Upload & Start Chat" locks the image and opens the text
box, "Restart" clears both, sliders set the beam count (1-10) and the temperature
(0.1-2.0); answers use 300 new tokens and a 2000-token context. Serves on localhost
only unless --host says otherwise; a public share link only with --share. Gradio's
analytics are off: the page never calls out to the internet.

MiniGPT-v2: the "Task" menu puts a task identifier ([grounding], [refer], ...) before
each message; an answer's boxes are drawn with their phrases on the image beside
the chat, and the chat shows the answer without the box syntax.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

# Before gradio (and huggingface_hub under it) is imported: no analytics, no telemetry.
os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
os.environ.setdefault('HF_HUB_DISABLE_TELEMETRY', '1')

import gradio as gr  # noqa: E402
from PIL import UnidentifiedImageError  # noqa: E402

from minigpt4_jax import grounding  # noqa: E402
from minigpt4_jax.cli import run  # noqa: E402
from minigpt4_jax.families import minigptv2  # noqa: E402
from minigpt4_jax.generate.chat import Chat, ContextOverflowError, load_chat  # noqa: E402
from minigpt4_jax.inputs import require_checkpoint  # noqa: E402
from minigpt4_jax.log_routing import VERBOSE_HELP, route_logs  # noqa: E402
from minigpt4_jax.models.quantize import QUANTIZE_CHOICES  # noqa: E402

HOWTO = 'Upload an image, press "Upload & Start Chat", then ask about it.'
NO_TASK = 'chat'  # no task identifier


def readable_image_errors(preprocess):
  """Wraps a gr.Image's ``preprocess`` so that an unreadable upload raises a gr.Error naming
  the file: otherwise PIL's error surfaces as bare "Error" badges in the page and a hint
  about show_error for API clients. (An instance attribute, not a gr.Image subclass:
  Gradio writes a .pyi stub next to the module of every component class.)"""
  def checked(payload):
    try:
      return preprocess(payload)
    except (UnidentifiedImageError, OSError) as err:
      name = getattr(payload, 'orig_name', None) or 'the upload'
      raise gr.Error(f'{name} is not an image this demo can read ({type(err).__name__}); '
                     'upload a JPEG, PNG or WebP file') from None
  return checked


def startup_message(local_url: str, share_url: str | None) -> str:
  """Replaces Gradio's startup lines, whose share hint names launch(share=True)."""
  if share_url:
    return f'* Running on local URL:  {local_url}\n* Public share link: {share_url}'
  return (f'* Running on local URL:  {local_url}\n'
          '* A public share link: restart with --share')


def start(base: Chat, image, history):
  """Upload & Start Chat: a fresh session that holds the encoded image."""
  if image is None:
    return None, gr.update(), gr.update(), gr.update(), history
  session = base.session()
  session.upload_image(image)
  return (session, gr.update(interactive=False),
          gr.update(interactive=True, placeholder='Type and press Enter'),
          gr.update(value='Start Chatting', interactive=False), history)


def grounded_view(image, answer: str):
  """(the answer as shown, the image with its boxes drawn, or None without boxes)."""
  found = grounding.parse_grounded(answer)
  if not found or image is None:
    return answer, None
  return grounding.strip_box_syntax(answer), grounding.draw_grounded(image, found)


def respond(session: Chat | None, message: str, history: list, num_beams: float,
            temperature: float, task: str = NO_TASK, image=None):
  """Streams the answer into the chat box (a generator: Gradio shows each yield); at
  the end, boxes in it are drawn on ``image`` and their syntax removed from the text."""
  if session is None or not message.strip():
    yield session, '', None, history
    return
  message = minigptv2.task_prompt(None if task == NO_TASK else task, message)
  history = history + [{'role': 'user', 'content': message},
                       {'role': 'assistant', 'content': ''}]
  session.ask(message)
  try:
    for piece in session.stream_answer(num_beams=int(num_beams), temperature=temperature):
      history[-1]['content'] += piece
      yield session, '', None, history
  except ContextOverflowError as err:
    history[-1]['content'] = f'[{err}]'
  history[-1]['content'], drawn = grounded_view(image, history[-1]['content'])
  yield session, '', drawn, history


def restart():
  return (None, gr.update(value=None, interactive=True),
          gr.update(value='', interactive=False, placeholder='Please upload your image first'),
          gr.update(value='Upload & Start Chat', interactive=True), [])


def build(base: Chat) -> gr.Blocks:
  name = base.family.title
  with gr.Blocks(title=name, analytics_enabled=False) as demo:
    gr.Markdown(f'# {name} (JAX)\n{HOWTO}')
    session = gr.State(None)
    with gr.Row():
      with gr.Column(scale=1):
        image = gr.Image(type='pil', label='Image')
        image.preprocess = readable_image_errors(image.preprocess)
        upload = gr.Button('Upload & Start Chat', variant='primary')
        clear = gr.Button('Restart')
        num_beams = gr.Slider(1, 10, value=1, step=1, label='beam search numbers')
        temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.1, label='Temperature')
        task = gr.Dropdown([NO_TASK, *minigptv2.TASKS], value=NO_TASK, label='Task (MiniGPT-v2)')
      with gr.Column(scale=2):
        chatbot = gr.Chatbot(label=name)
        text = gr.Textbox(label='User', placeholder='Please upload your image first',
                          interactive=False)
        boxes = gr.Image(type='pil', label='Boxes', interactive=False)
    upload.click(lambda img, hist: start(base, img, hist), [image, chatbot],
                 [session, image, text, upload, chatbot], api_name='upload')
    text.submit(respond, [session, text, chatbot, num_beams, temperature, task, image],
                [session, text, boxes, chatbot], api_name='ask')
    clear.click(restart, None, [session, image, text, upload, chatbot], api_name='restart')
  return demo


def parse_args(argv: list[str]) -> argparse.Namespace:
  p = argparse.ArgumentParser(prog='python -m launch.demo', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--ckpt', type=pathlib.Path, required=True,
                 help='converted checkpoint (python -m launch.convert) or training workdir')
  p.add_argument('--template', help='conversation template (default: matches the checkpoint)')
  p.add_argument('--host', default='127.0.0.1', help='interface to bind (0.0.0.0 = all)')
  p.add_argument('--port', type=int, default=7860)
  p.add_argument('--share', action='store_true', help='ask Gradio for a public share link')
  p.add_argument('--quantize', choices=QUANTIZE_CHOICES, default='none',
                 help='int8: weight-only int8 ViT and LLM matmuls (about half the bf16 bytes)')
  p.add_argument('--verbose', action='store_true', help=VERBOSE_HELP)
  return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
  args = parse_args(sys.argv[1:] if argv is None else argv)
  require_checkpoint(args.ckpt, '--ckpt')
  route_logs(None, args.verbose)
  demo = build(load_chat(args.ckpt, args.template, quantize=args.quantize))
  # show_error: any other failure reaches the page and API clients as its message.
  demo.queue().launch(server_name=args.host, server_port=args.port, share=args.share,
                      show_error=True, quiet=True, prevent_thread_lock=True)
  print(startup_message(demo.local_url, demo.share_url), flush=True)
  demo.block_thread()


if __name__ == '__main__':
  run(main)
