"""A tiny release in the original layouts, and its float32 conversion, shared by the tests."""

import pathlib

import pytest

from launch import convert as convert_cli
from minigpt4_jax.families import preset
from tests.convert import layouts


@pytest.fixture(scope='session')
def release(tmp_path_factory, tokenizer_dir) -> layouts.TinyRelease:
  return layouts.write_release(tmp_path_factory.mktemp('release'), preset('tiny'), tokenizer_dir)


@pytest.fixture(scope='session')
def converted(release, tmp_path_factory) -> pathlib.Path:
  """The release converted through the command line, stored in float32."""
  out = tmp_path_factory.mktemp('converted') / 'ckpt'
  convert_cli.main(layouts.cli_args(release, out) + ['--dtype', 'float32'])
  return out
