import pytest

from minigpt4_jax.bundled import TINY_CHECKPOINT
from minigpt4_jax.loading import load


@pytest.fixture(scope='session')
def tiny():
  """(model, tokenizer) of the bundled tiny checkpoint."""
  loaded = load(TINY_CHECKPOINT)
  return loaded.model, loaded.tokenizer
