"""``python -m launch.serve`` as a process: binds 127.0.0.1, prints its address, asks for
the bearer key named by --api-key-env, serves int8 weights; bad flags exit 2."""

import os
import re
import subprocess
import sys

import openai
import pytest

from tests.serve.conftest import TINY, image_message, png_bytes


def run_server(*flags, env=None):
  return subprocess.Popen([sys.executable, '-m', 'launch.serve', '--ckpt', str(TINY),
                           '--port', '0', '--slots', '2', *flags],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, **(env or {})})


def test_serves_int8_behind_a_key():
  process = run_server('--api-key-env', 'TEST_SERVE_KEY', '--quantize', 'int8',
                       env={'TEST_SERVE_KEY': 'sesame'})
  try:
    line = process.stdout.readline()
    url = re.search(r'on (http://127\.0\.0\.1:\d+)', line).group(1)
    client = openai.OpenAI(base_url=url + '/v1', api_key='sesame', max_retries=0, timeout=120)
    reply = client.chat.completions.create(
        model='tiny_checkpoint', messages=[image_message('Hi', png_bytes(32, 32))],
        max_tokens=4, temperature=0)
    assert 1 <= reply.usage.completion_tokens <= 4
    with pytest.raises(openai.AuthenticationError):
      openai.OpenAI(base_url=url + '/v1', api_key='wrong', max_retries=0).models.list()
  finally:
    process.terminate()
    process.wait(timeout=30)


@pytest.mark.parametrize('flags, env, needle', [
    (['--api-key-env', 'TEST_SERVE_UNSET_KEY'], {}, 'TEST_SERVE_UNSET_KEY is not set'),
    (['--slots', '0'], {}, '--slots must be >= 1'),
])
def test_bad_flags_exit_2(flags, env, needle):
  process = run_server(*flags, env=env)
  _, err = process.communicate(timeout=120)
  assert process.returncode == 2 and needle in err
