"""Tower pretraining changes the towers only: the frozen LLM stays bit-identical, the
projector is a fresh seeded one, and the batches take the layouts in turn. The LLM's
step on tower features (tiny_checkpoint step 3) changes the LLM only."""

import jax
import numpy as np
from flax import nnx

from minigpt4_jax.bundled import TINY_TOKENIZER
from minigpt4_jax.data.demo_texts import DEMO_IMAGES
from minigpt4_jax.families import preset
from minigpt4_jax.models import IMAGE_TOKEN_ID, VisionLanguageModel
from minigpt4_jax.models.projectors import make_projector
from minigpt4_jax.tokenizer import load_tokenizer
from minigpt4_jax.tools import tiny_checkpoint, tiny_towers
from minigpt4_jax.tools.tiny_checkpoint import minigpt4_rows


def _params(module):
  return jax.tree.map(np.asarray, nnx.state(module, nnx.Param))


def test_train_towers_leaves_the_llm_and_seeds_the_projector(monkeypatch):
  monkeypatch.setattr(tiny_towers, 'TOWER_STEPS', 3)
  monkeypatch.setattr(tiny_towers, 'TOWER_BATCH', 2)
  tokenizer = load_tokenizer(TINY_TOKENIZER)
  model = VisionLanguageModel(preset('tiny'), rngs=nnx.Rngs(0))
  llm, qformer = _params(model.llm), _params(model.qformer)
  chat = minigpt4_rows(tokenizer, model)[-1:]  # one layout: one compilation
  loss = tiny_towers.train_towers(model, tokenizer, chat, tiny_towers.demo_images(), 5, 'test')
  assert np.isfinite(loss)
  jax.tree.map(np.testing.assert_array_equal, _params(model.llm), llm)
  changed = jax.tree.leaves(jax.tree.map(lambda a, b: not np.array_equal(a, b),
                                         _params(model.qformer), qformer))
  assert any(changed)
  _assert_fresh_projector(model)


def _assert_fresh_projector(model):
  cfg = model.cfg
  fresh = make_projector(cfg.projector, cfg.projector_in, cfg.llm.hidden,
                         rngs=nnx.Rngs(tiny_towers.SEED + 1))
  jax.tree.map(np.testing.assert_array_equal, _params(model.projector), _params(fresh))


def test_teach_llm_on_features_leaves_the_towers_and_seeds_the_projector(monkeypatch):
  monkeypatch.setattr(tiny_checkpoint, 'FEATURE_STEPS', 3)
  monkeypatch.setattr(tiny_checkpoint, 'FEATURE_BATCH', 2)
  tokenizer = load_tokenizer(TINY_TOKENIZER)
  model = VisionLanguageModel(preset('tiny'), rngs=nnx.Rngs(0))
  towers = {name: _params(getattr(model, name)) for name in ('vision', 'ln_vision', 'qformer')}
  llm = _params(model.llm)
  assert np.isfinite(tiny_checkpoint.teach_llm_on_features(model, tokenizer))
  for name, before in towers.items():
    jax.tree.map(np.testing.assert_array_equal, _params(getattr(model, name)), before)
  assert any(jax.tree.leaves(jax.tree.map(lambda a, b: not np.array_equal(a, b),
                                          _params(model.llm), llm)))
  _assert_fresh_projector(model)


def test_feature_rows_pair_each_photograph_with_its_own_turns():
  tokenizer = load_tokenizer(TINY_TOKENIZER)
  model = VisionLanguageModel(preset('tiny'), rngs=nnx.Rngs(0))
  rows = tiny_checkpoint.feature_rows(tokenizer, model)
  for name, (ids, supervised) in rows:
    assert ids.count(IMAGE_TOKEN_ID) == model.cfg.num_image_tokens
    assert any(supervised)
  answers = [tokenizer.decode([t for t, s in zip(ids, sup) if s]) for _, (ids, sup) in rows]
  yes = sum(a.startswith('Yes') for a in answers)
  no = sum(a.startswith('No') for a in answers)
  assert no > 0 and abs(yes - no) <= len(DEMO_IMAGES)  # question_turns adds 1 yes, 2 no each


def test_tower_batches_take_the_layouts_in_turn():
  tokenizer = load_tokenizer(TINY_TOKENIZER)
  model = VisionLanguageModel(preset('tiny'), rngs=nnx.Rngs(0))
  makers = minigpt4_rows(tokenizer, model)
  batches = tiny_towers.tower_batches(tokenizer, makers, tiny_towers.demo_images(),
                                      model.cfg.vision.image_size, np.random.default_rng(0))
  first = [next(batches) for _ in makers]
  size = model.cfg.vision.image_size
  for batch in first:
    assert batch['image'].shape == (tiny_towers.TOWER_BATCH, size, size, 3)
    assert batch['input_ids'].shape[1] % tiny_towers.PAD_MULTIPLE == 0
    assert batch['target_mask'].sum() > 0
  # Stage 1 (plain) has no system text; the chat layout opens with MiniGPT-4's.
  texts = [tokenizer.decode(np.maximum(b['input_ids'][0], 0), skip_special_tokens=True)
           for b in first]
  assert 'Human:' not in texts[0] and '###Human:' in texts[1]
  assert texts[2].startswith('Give the following image') and 'Assistant: ' in texts[2]
