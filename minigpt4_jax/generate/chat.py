"""A chat session with one image, as MiniGPT-4's ``Chat`` (``upload_img``, ``ask``, ``answer``).

The image is encoded once and its embeddings reused every turn; each turn renders
the whole history, tokenizes it with image placeholders, left-pads it to its length
bucket, splices the image in and generates (no KV cache is kept across turns, as in
MiniGPT-4). Compiled programs per session: the image encoder once, then per prompt
bucket one splice, one prefill and one decode loop (or one beam program per beam
count), so a session recompiles only when its history crosses into a new bucket.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import pathlib
import warnings
from typing import Any, Iterator, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from PIL import Image

from minigpt4_jax.data.transforms import decode_rgb, eval_image, normalize
from minigpt4_jax.families import family_of
from minigpt4_jax.generate.buckets import DEFAULT_BUCKETS, bucket_length, left_pad
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.generate.generator import Generator
from minigpt4_jax.generate.stop_strings import StopTables
from minigpt4_jax.generate.text_stream import TextStream, decoded
from minigpt4_jax.loading import load
from minigpt4_jax.models import IMAGE_TOKEN_ID, VisionLanguageModel
from minigpt4_jax.text.templates import Conversation, Template, get_template, postprocess
from minigpt4_jax.text.tokens import tokenize_with_image

ImageLike = str | pathlib.Path | Image.Image | np.ndarray


class ContextOverflowError(ValueError):
  """The history no longer fits next to the answer budget without losing the image."""


@functools.partial(jax.jit, static_argnames=('graphdef',))
def encode_program(graphdef, params, pixels_bhwc):
  return nnx.merge(graphdef, params).encode_image(pixels_bhwc)


@functools.partial(jax.jit, static_argnames=('graphdef',))
def splice_program(graphdef, params, ids_bt, image_embeds_bqd):
  return nnx.merge(graphdef, params).embed_multimodal(ids_bt, image_embeds_bqd)


def preprocess(image: ImageLike, size: int, transform: str = 'resize') -> np.ndarray:
  """The eval transform (``transform``: the family's, e.g. MiniGPT-4's bicubic resize or
  LLaVA-1.5's pad-to-square), /255, CLIP mean/std -> float32[size, size, 3]."""
  if isinstance(image, (str, pathlib.Path)):
    image = decode_rgb(pathlib.Path(image).read_bytes())
  elif isinstance(image, np.ndarray):
    image = Image.fromarray(image)
  return normalize(eval_image(image.convert('RGB'), size, transform))


def fit_context(ids: list[int], budget: int) -> list[int]:
  """Chat.answer's truncation: keep the last ``budget`` tokens, with a warning.

  MiniGPT-4 would also cut into (or past) the image and answer blind; that is an
  error here, since the image is the point of the conversation.
  """
  if len(ids) <= budget:
    return ids
  first_image = ids.index(IMAGE_TOKEN_ID) if IMAGE_TOKEN_ID in ids else len(ids)
  if len(ids) - budget > first_image:
    raise ContextOverflowError(
        f'the conversation needs {len(ids)} tokens but only {budget} fit (max_length minus '
        'max_new_tokens); dropping the oldest would drop the image. Restart the chat, '
        'or lower max_new_tokens.')
  warnings.warn(f'the conversation has {len(ids)} tokens; keeping the last {budget} '
                '(the model will not see the start of the system message)', stacklevel=3)
  return ids[len(ids) - budget:]


class Chat:
  """One conversation about one image.

  Args:
    model: the model; tokenizer: its LLM tokenizer.
    template: a template name (``text.templates.TEMPLATES``) or a ``Template``.
    config: default generation settings (``Chat.answer``'s defaults).
    max_length: context budget of prompt + answer (MiniGPT-4: 2000).
    seed: sampling seed; turn i uses seed + i, so a session replays exactly.
  """

  def __init__(self, model: VisionLanguageModel, tokenizer, template: str | Template,
               config: GenerationConfig = GenerationConfig(), *, max_length: int = 2000,
               seed: int = 0, buckets=DEFAULT_BUCKETS):
    self.template = get_template(template) if isinstance(template, str) else template
    self.tokenizer = tokenizer
    self.config = config
    self.max_length = max_length
    self.seed = seed
    self.buckets = tuple(buckets)
    self.num_image_tokens = model.cfg.num_image_tokens
    self.image_size = model.cfg.vision.image_size
    self.family = family_of(model.cfg)
    self.graphdef, self.params = nnx.split(model)
    stops = StopTables.build(tokenizer, self.template.stop_strings, model.cfg.llm.vocab_size)
    # The model config's EOS: the tokenizer's is the same id for LLaMA checkpoints.
    self.generator = Generator(model.llm, stops=stops, buckets=self.buckets)
    self.reset()

  def reset(self) -> None:
    """Forgets the image and the history (the demo's Restart)."""
    self.conversation = Conversation(self.template)
    self.image_embeds = None
    self.turn = 0

  def session(self) -> 'Chat':
    """A new, empty conversation sharing this chat's model, tokenizer and tables
    (the demo keeps one per browser session)."""
    fresh = copy.copy(self)
    fresh.reset()
    return fresh

  def upload_image(self, image: ImageLike) -> None:
    """Encodes the image once; it opens the conversation's first human message."""
    if self.image_embeds is not None:
      raise ValueError('this chat already has its image (one per conversation); reset() first')
    pixels = jnp.asarray(preprocess(image, self.image_size, self.family.image_transform))[None]
    self.image_embeds = encode_program(self.graphdef, self.params, pixels)
    self.conversation.add_image()

  def ask(self, text: str) -> None:
    self._require_image()
    self.conversation.ask(text)

  def answer(self, **overrides) -> str:
    """Generates the next answer (``overrides``: ``GenerationConfig`` fields) and records it."""
    config = dataclasses.replace(self.config, **overrides)
    embeds, mask = self._open_turn(config)
    out = self.generator.generate(embeds, mask, config, seed=self.seed + self.turn)
    return self._close_turn(out.sequences()[0])

  def stream_answer(self, chunk: int = 8, **overrides) -> Iterator[str]:
    """Yields the answer's text as it is generated, ``chunk`` tokens at a time.

    The pieces join to the recorded answer, unless the model itself writes
    ``Assistant:`` (MiniGPT-4's cleanup then keeps only what follows; text already
    shown cannot be taken back). Beam search yields the answer once, at the end.
    """
    config = dataclasses.replace(self.config, **overrides)
    if config.num_beams > 1:
      yield self.answer(**overrides)
      return
    embeds, mask = self._open_turn(config)
    tokens: list[int] = []
    text = TextStream(self.tokenizer, self.template.stop_strings)
    seed = self.seed + self.turn
    for new in self.generator.stream(embeds, mask, config, seed=seed, chunk=chunk):
      tokens += new[0]
      if piece := text.update(tokens):
        yield piece
    if piece := text.finish(self._close_turn(tokens)):
      yield piece

  def _open_turn(self, config: GenerationConfig) -> tuple[jax.Array, jax.Array]:
    """Renders the history with an open answer -> (embeds float[1, P, D], mask bool[1, P])."""
    self._require_image()
    self.conversation.open_answer()
    try:
      ids = tokenize_with_image(self.tokenizer, self.conversation.prompt(), self.num_image_tokens,
                                split_specials=self.template.split_specials)
      ids = fit_context(ids, self.max_length - config.max_new_tokens)
    except ContextOverflowError:
      self.conversation.messages.pop()
      raise
    # Padding ids are masked out; 0 only has to be a valid embedding row.
    ids_bt, mask_bt = left_pad([ids], bucket_length(len(ids), self.buckets), pad_id=0)
    embeds = splice_program(self.graphdef, self.params, jnp.asarray(ids_bt), self.image_embeds)
    return embeds, jnp.asarray(mask_bt)

  def _require_image(self) -> None:
    if self.image_embeds is None:
      raise ValueError('upload an image before asking')

  def _close_turn(self, tokens: list[int]) -> str:
    self.conversation.close_answer(postprocess(decoded(self.tokenizer, tokens),
                                                  self.template.stop_strings))
    self.turn += 1
    return self.conversation.messages[-1][1]


def load_chat(ckpt_dir: str | pathlib.Path, template: str | None = None, *, dtype=None,
              generation: Mapping[str, Any] | None = None, quantize: str = 'none',
              **kwargs) -> Chat:
  """A ``Chat`` over a converted checkpoint or a training workdir.

  ``template`` defaults to the family's chat template; the generation settings are the
  family's chat defaults with ``generation``'s fields on top (``config=`` replaces both);
  ``quantize``: ``minigpt4_jax.load``'s ('int8': quantized while loading).
  """
  loaded = load(ckpt_dir, dtype, quantize=quantize)
  kwargs.setdefault('config', GenerationConfig(**{**loaded.family.chat_defaults,
                                                  **(generation or {})}))
  return Chat(loaded.model, loaded.tokenizer, template or loaded.template, **kwargs)
