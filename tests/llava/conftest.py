"""A tiny random transformers LLaVA (the oracle) and its llava-hf directory, shared."""

import pathlib
import shutil

import pytest

from minigpt4_jax import checkpoint
from tests.llava import reference as llava_ref


@pytest.fixture(scope='session')
def tiny():
  return llava_ref.tiny()


@pytest.fixture(scope='session')
def hf_llava(tiny):
  return llava_ref.llava(tiny)


def with_tokenizer(directory: pathlib.Path, tokenizer_dir: pathlib.Path) -> pathlib.Path:
  for f in checkpoint.tokenizer_files(tokenizer_dir):
    shutil.copy2(f, directory)
  return directory


@pytest.fixture(scope='session')
def llava_hf_dir(hf_llava, tokenizer_dir, tmp_path_factory) -> pathlib.Path:
  out = tmp_path_factory.mktemp('llava_hf')
  hf_llava.save_pretrained(out)
  return with_tokenizer(out, tokenizer_dir)
