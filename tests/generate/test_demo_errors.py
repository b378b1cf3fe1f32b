"""The demo's errors reach the page and API clients as readable messages, and its startup
line names --share (issue 14, item 7)."""

import pytest

from minigpt4_jax.generate.chat import Chat
from minigpt4_jax.generate.config import GenerationConfig
from tests.generate.conftest import MAX_NEW
from tests.generate.test_launch import free_port


@pytest.mark.filterwarnings('ignore:::gradio.queueing')
def test_non_image_upload_is_a_readable_error_for_api_clients(model, tokenizer, tmp_path):
  from gradio_client import Client, handle_file
  from gradio_client.exceptions import AppError

  from launch import demo as demo_app
  notes = tmp_path / 'notes.png'
  notes.write_text('not a picture')
  demo = demo_app.build(Chat(model, tokenizer, 'vicuna_v0', GenerationConfig(max_new_tokens=MAX_NEW)))
  port = free_port()
  demo.queue().launch(server_name='127.0.0.1', server_port=port, share=False, show_error=True,
                      prevent_thread_lock=True, quiet=True)
  try:
    client = Client(f'http://127.0.0.1:{port}/', verbose=False)
    with pytest.raises(AppError, match=r'notes\.png is not an image this demo can read'):
      client.predict(handle_file(str(notes)), [], api_name='/upload')
  finally:
    demo.close()


def test_startup_message_names_the_share_flag():
  from launch import demo as demo_app
  local = demo_app.startup_message('http://127.0.0.1:7860/', None)
  assert '--share' in local and 'share=True' not in local
  assert 'https://x.gradio.live' in demo_app.startup_message('http://127.0.0.1:7860/',
                                                             'https://x.gradio.live')
