"""Pretraining of the tiny towers on the demo photographs, shared by the builders of
the bundled tiny checkpoints (``tools/tiny_checkpoint.py``, ``tools/tiny_llava_checkpoint.py``).

MiniGPT-4 and LLaVA freeze a *pretrained* vision tower and a *pretrained* LLM and
teach only the projector to connect them. Random towers carry almost nothing a
projector can use (every photograph got the same answer, issue 14), so the tiny
towers are trained here, seeded, as EVA-CLIP and BLIP-2 were pretrained before
MiniGPT-4 froze them: with the tiny LLM frozen, the towers and a throwaway projector
learn the captioning loss on randomly cropped demo photographs (the data pipeline's
``RandomResizedCrop``), in every sequence layout the model later meets: both training
stages' and the family's chat template with its system message (the frozen features
must work in the prompt chat shows, not only in the one the projector trains in).
A fresh, seeded projector then replaces the throwaway one, for ``launch.train``.
"""

from __future__ import annotations

import pathlib
import time
from typing import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from PIL import Image
from tqdm import tqdm

from minigpt4_jax import checkpoint
from minigpt4_jax.bundled import TINY_TOKENIZER, demo_paths
from minigpt4_jax.data.demo_texts import DEMO_IMAGES
from minigpt4_jax.data.transforms import decode_rgb, eval_image, normalize, train_image
from minigpt4_jax.families import family_of
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.models.projectors import make_projector
from minigpt4_jax.text.sequences import batch_arrays
from minigpt4_jax.text.templates import Template, get_template
from minigpt4_jax.text.tokens import pad_token_id
from minigpt4_jax.tools.tiny_llm_corpus import Document, Row, chat_row, question_turns
from minigpt4_jax.train.loss import batch_nll_sum, token_nll_sum

SEED = 0
TOWER_STEPS, TOWER_BATCH, TOWER_LR = 450, 8, 1e-3
# Batches are padded to their longest row rounded up to this: each batch shape is one
# compilation, which costs more than the padding at this size.
PAD_MULTIPLE = 128
Batch = dict[str, np.ndarray]
# Rows of one batch: (photograph names, rng) -> a (ids, supervised) row per name.
RowMaker = Callable[[Sequence[str], np.random.Generator], list[Row]]


def fit(module: nnx.Module, trainable: nnx.filterlib.Filter, batches: Iterator[Batch],
        loss_fn: Callable[[nnx.Module, Batch], jax.Array], steps: int, lr: float,
        desc: str) -> float:
  """AdamW with a warmup-cosine schedule on the ``trainable`` parameters of
  ``module``, in place; the rest stays bit-identical. Returns the mean loss of the
  last 20 steps."""
  graphdef, params, frozen = nnx.split(module, trainable, ...)
  tx = optax.adamw(optax.warmup_cosine_decay_schedule(0.0, lr, steps // 20, steps, lr / 20),
                   weight_decay=0.01)
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, batch):
    loss, grads = jax.value_and_grad(lambda p: loss_fn(nnx.merge(graphdef, p, frozen), batch))(
        params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  losses = []
  for _ in tqdm(range(steps), desc=desc, leave=False):
    params, opt_state, loss = step(params, opt_state, next(batches))
    losses.append(loss)
  nnx.update(module, params)
  return float(np.mean(jax.device_get(losses[-20:])))


def padded_batch(rows: Sequence[tuple[Sequence[int], Sequence[float]]], pad_id: int,
                 length: int = 0) -> Batch:
  """``rows`` padded to ``length``, or (0) to their longest rounded up to ``PAD_MULTIPLE``."""
  longest = max(len(ids) for ids, _ in rows)
  return batch_arrays(rows, length or -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE, pad_id)


def lm_batches(docs: list[Document], batch: int, pad_id: int,
               rng: np.random.Generator) -> Iterator[Batch]:
  """Endless batches of whole documents (every token after BOS supervised), all at the
  longest document's length (one compilation)."""
  length = max(map(len, docs))
  while True:
    chosen = [docs[k] for k in rng.choice(len(docs), batch, replace=False)]
    yield padded_batch([(doc, [0.0] + [1.0] * (len(doc) - 1)) for doc in chosen], pad_id, length)


def lm_loss(llm: nnx.Module, batch: Batch) -> jax.Array:
  total, count = token_nll_sum(llm(input_ids=batch['input_ids']), batch['input_ids'],
                               batch['target_mask'])
  return total / count


def caption_loss(model: VisionLanguageModel, batch: Batch) -> jax.Array:
  total, count = batch_nll_sum(model, batch)
  return total / count


def not_llm(path: tuple, value) -> bool:
  """Every parameter outside the LLM: the towers and the projector."""
  return isinstance(value, nnx.Param) and path[0] != 'llm'


def demo_images() -> dict[str, Image.Image]:
  image_dir = pathlib.Path(demo_paths().image_dir)
  return {name: decode_rgb((image_dir / f'{name}.jpg').read_bytes()) for name, _, _ in DEMO_IMAGES}


def crops(images: list[Image.Image], size: int, rng: np.random.Generator) -> np.ndarray:
  """CLIP-normalised random resized crops float32[B, size, size, 3]."""
  return normalize(np.stack([train_image(im, rng, size) for im in images]))


def photograph_features(model: VisionLanguageModel) -> dict[str, np.ndarray]:
  """Photograph -> its frozen projector inputs float32[Q, C], from the squashed image
  (the resize the data pipeline's evaluation and chat use)."""
  size = model.cfg.vision.image_size
  images = demo_images()
  pixels = normalize(np.stack([eval_image(image, size) for image in images.values()]))
  return dict(zip(images, np.asarray(model.image_features(jnp.asarray(pixels)))))


def feature_batches(rows: Sequence[tuple[str, Row]], features: dict[str, np.ndarray], batch: int,
                    pad_id: int, rng: np.random.Generator) -> Iterator[Batch]:
  """Endless batches of ``batch`` (photograph, row) pairs with their photographs'
  ``features``, all at the longest row's length (one compilation)."""
  length = -(-max(len(ids) for _, (ids, _) in rows) // PAD_MULTIPLE) * PAD_MULTIPLE
  while True:
    chosen = [rows[k] for k in rng.choice(len(rows), batch, replace=False)]
    yield {**padded_batch([row for _, row in chosen], pad_id, length),
           'features': np.stack([features[name] for name, _ in chosen])}


def projector_or_llm(path: tuple, value) -> bool:
  return isinstance(value, nnx.Param) and path[0] in ('projector', 'llm')


def chat_rows(tokenizer, template: Template, num_image_tokens: int) -> RowMaker:
  """Chat turns about each photograph (descriptions, POPE and VQA questions) exactly as
  ``generate.chat`` prompts for them in ``template``."""
  descriptions = {name: d for name, _, d in DEMO_IMAGES}

  def rows(names: Sequence[str], rng: np.random.Generator) -> list[Row]:
    out = []
    for name in names:
      turns = question_turns(name, descriptions[name])
      question, answer = turns[int(rng.integers(len(turns)))]
      out.append(chat_row(tokenizer, template, question, answer, num_image_tokens))
    return out
  return rows


def chat_template_of(model: VisionLanguageModel) -> Template:
  return get_template(family_of(model.cfg).chat_template(model.cfg))


def tower_batches(tokenizer, makers: Sequence[RowMaker], images: dict[str, Image.Image],
                  size: int, rng: np.random.Generator) -> Iterator[Batch]:
  """Endless batches of ``TOWER_BATCH`` distinct photographs, the row makers taking turns."""
  names = [name for name, _, _ in DEMO_IMAGES]
  pad_id = pad_token_id(tokenizer)
  for step in range(10**9):
    chosen = [names[k] for k in rng.choice(len(names), TOWER_BATCH, replace=False)]
    rows = makers[step % len(makers)](chosen, rng)
    yield {**padded_batch(rows, pad_id), 'image': crops([images[n] for n in chosen], size, rng)}


def train_towers(model: VisionLanguageModel, tokenizer, makers: Sequence[RowMaker],
                 images: dict[str, Image.Image], seed: int, desc: str) -> float:
  """Trains the towers (and a throwaway projector) of ``model`` against its frozen LLM,
  then gives it a fresh seeded projector; returns the final caption loss."""
  batches = tower_batches(tokenizer, makers, images, model.cfg.vision.image_size,
                          np.random.default_rng(seed))
  loss = fit(model, not_llm, batches, caption_loss, TOWER_STEPS, TOWER_LR, desc)
  fresh_projector(model)
  return loss


def fresh_projector(model: VisionLanguageModel) -> None:
  """Replaces ``model``'s projector by the seeded fresh one ``launch.train`` starts from."""
  cfg = model.cfg
  model.projector = make_projector(cfg.projector, cfg.projector_in, cfg.llm.hidden,
                                   rngs=nnx.Rngs(SEED + 1))


def save_tiny_checkpoint(model: VisionLanguageModel, out: pathlib.Path, started: float) -> None:
  """Writes a builder's model as a float32 converted checkpoint with the tiny tokenizer
  (replacing the bundled one) and says how long the build took since ``started``
  (``time.perf_counter()``)."""
  checkpoint.save(model, out, TINY_TOKENIZER, dtype=jnp.float32, overwrite=True)
  print(f'wrote {out} in {time.perf_counter() - started:.0f} s')
