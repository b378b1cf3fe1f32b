import pytest

from minigpt4_jax.generate.chat import default_dtype
from minigpt4_jax.tiny_checkpoint import ASSET_DIR as TINY_CHECKPOINT
from minigpt4_jax.tokenizer import load_tokenizer
from minigpt4_jax.train.model_init import load_trained


@pytest.fixture(scope='session')
def tiny():
  """(model, tokenizer) of the bundled tiny checkpoint."""
  loaded = load_trained(TINY_CHECKPOINT, default_dtype())
  return loaded.model, load_tokenizer(loaded.tokenizer_dir)
