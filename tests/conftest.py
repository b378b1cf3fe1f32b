"""Session fixtures: a tiny tokenizer, and a tiny random transformers LLaVA (the oracle)
with its llava-hf directory; one compilation cache for the commands the tests start."""

import os
import pathlib
import shutil
import tempfile

# Eight fake CPU devices for the sharding tests; must be set before JAX starts.
os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=8')

# One persistent compilation cache for the commands the tests start (they inherit the
# environment), so the same tiny programs compile once across them; every program is
# kept (the tiny ones compile in well under a second). Never the user's own cache. The
# test process itself runs without one: its many small eager programs cost more to
# write than they save (a parity test ran 20% slower with it).
_COMPILE_CACHE = tempfile.mkdtemp(prefix='minigpt4_jax_test_xla_')
os.environ['MINIGPT4_JAX_COMPILE_CACHE'] = _COMPILE_CACHE
os.environ['MINIGPT4_JAX_COMPILE_CACHE_MIN_SECS'] = '0'
os.environ.pop('JAX_COMPILATION_CACHE_DIR', None)

import jax  # noqa: E402

# f32 parity against PyTorch: no reduced-precision matmul passes.
jax.config.update('jax_default_matmul_precision', 'highest')

import pytest  # noqa: E402

from minigpt4_jax import checkpoint  # noqa: E402
from minigpt4_jax.tokenizer import train_tokenizer  # noqa: E402
from tests import reference_llava as llava_ref  # noqa: E402

_CORPUS = [
    '###Human: <Img><ImageHere></Img> Describe this image in detail. ###Assistant: ',
    'Give the following image: <Img>ImageContent</Img>. You will be able to see the image '
    'once I provide it to you. Please answer my questions.',
    '[INST] <Img><ImageHere></Img> Take a look at this image and describe what you notice. [/INST] ',
    'a cat sitting on a red sofa next to a window, one two three four five six seven eight',
    'a woman in a space suit smiles; a cup of coffee on a saucer; a rocket on the launch pad.',
]


def pytest_unconfigure(config):
  shutil.rmtree(_COMPILE_CACHE, ignore_errors=True)


@pytest.fixture(scope='session')
def tokenizer_dir(tmp_path_factory):
  """A tiny LLaMA-style sentencepiece tokenizer (vocab < the tiny LLM's 1000)."""
  out = tmp_path_factory.mktemp('tokenizer')
  train_tokenizer(out, _CORPUS * 20, vocab_size=400)
  return out


@pytest.fixture(scope='session')
def tokenizer(tokenizer_dir):
  from minigpt4_jax.tokenizer import load_tokenizer
  return load_tokenizer(tokenizer_dir)


@pytest.fixture(scope='session')
def tiny_llava_cfg():
  return llava_ref.tiny()


@pytest.fixture(scope='session')
def hf_llava(tiny_llava_cfg):
  return llava_ref.llava(tiny_llava_cfg)


def with_tokenizer(directory: pathlib.Path, tokenizer_dir: pathlib.Path) -> pathlib.Path:
  for f in checkpoint.tokenizer_files(tokenizer_dir):
    shutil.copy2(f, directory)
  return directory


@pytest.fixture(scope='session')
def llava_hf_dir(hf_llava, tokenizer_dir, tmp_path_factory) -> pathlib.Path:
  out = tmp_path_factory.mktemp('llava_hf')
  hf_llava.save_pretrained(out)
  return with_tokenizer(out, tokenizer_dir)
