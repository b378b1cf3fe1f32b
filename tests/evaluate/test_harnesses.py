"""The harness adapters (lmms-eval, VLMEvalKit) on the bundled tiny checkpoint."""

import importlib
import importlib.metadata
import pathlib
import sys

import numpy as np
import pytest
from flax import nnx
from PIL import Image

from minigpt4_jax.evaluate.answerer import conversation_prompt
from minigpt4_jax.evaluate.harness_model import HarnessModel, cut_at_stops
from minigpt4_jax.evaluate.vlmevalkit_model import MiniGPT4JAX as VLMEvalKitModel
from minigpt4_jax.evaluate.vlmevalkit_model import split_message
from minigpt4_jax.generate.chat import preprocess
from minigpt4_jax.bundled import TINY_CHECKPOINT
from minigpt4_jax.text.tokens import tokenize_with_image

STUB_LMMS_EVAL = pathlib.Path(__file__).parent / 'stub_lmms_eval'
MAX_NEW = 6


@pytest.fixture(scope='module')
def images(tmp_path_factory) -> list[pathlib.Path]:
  folder = tmp_path_factory.mktemp('images')
  rng = np.random.default_rng(3)
  paths = []
  for i in range(3):
    paths.append(folder / f'{i}.jpg')
    Image.fromarray(rng.integers(0, 256, (48 + 8 * i, 64, 3), dtype=np.uint8)).save(paths[-1])
  return paths


@pytest.fixture(scope='module')
def harness() -> HarnessModel:
  return HarnessModel.load(TINY_CHECKPOINT, batch_size=2)


@pytest.fixture
def lmms_eval_module(monkeypatch):
  """``lmms_eval_model`` imported against the stand-in lmms-eval (see its README)."""
  monkeypatch.syspath_prepend(str(STUB_LMMS_EVAL))
  for name in [n for n in sys.modules if n.startswith('lmms_eval')]:
    monkeypatch.delitem(sys.modules, name)
  monkeypatch.delitem(sys.modules, 'minigpt4_jax.evaluate.lmms_eval_model', raising=False)
  return importlib.import_module('minigpt4_jax.evaluate.lmms_eval_model')


def test_cut_at_stops():
  assert cut_at_stops('a cat.\n\nQuestion: b', ['\n\n', 'Question:']) == 'a cat.'
  assert cut_at_stops('a cat', ['\n\n', '']) == 'a cat'


def test_generate_is_per_request(harness, images):
  messages = ['What is this?', 'Describe it.', 'Is it red?']
  together = harness.generate(images, messages, max_new_tokens=MAX_NEW)
  alone = [harness.generate([i], [m], max_new_tokens=MAX_NEW)[0] for i, m in zip(images, messages)]
  assert together == alone and any(together)


def test_loglikelihood_against_the_unpadded_forward(harness, images):
  message, continuation = 'What is this?', ' a grey cat on a mat'
  logp, greedy = harness.loglikelihood(images[0], message, continuation)

  a = harness.answerer
  prompt = tokenize_with_image(a.tokenizer, conversation_prompt(a.template, message),
                               a.num_image_tokens, split_specials=a.template.split_specials)
  target = a.tokenizer(continuation, add_special_tokens=False)['input_ids']
  model = nnx.merge(a.graphdef, a.params)  # unpadded, through the model's forward
  ids = np.asarray([prompt + target])
  logits = np.asarray(model(ids, preprocess(images[0], harness.answerer.image_size)[None]), np.float64)[0]
  logz = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
  positions = np.arange(len(prompt) - 1, len(prompt) + len(target) - 1)
  expected = sum(logits[p, t] - logz[p] for p, t in zip(positions, target))
  assert logp == pytest.approx(expected, rel=1e-5)
  assert greedy == all(logits[p].argmax() == t for p, t in zip(positions, target))

  # The model's own greedy continuation is greedy, and at least as likely.
  first = int(logits[len(prompt) - 1].argmax())
  own = a.tokenizer.decode([first])
  if a.tokenizer(own, add_special_tokens=False)['input_ids'] == [first]:
    own_logp, own_greedy = harness.loglikelihood(images[0], message, own)
    assert own_greedy and own_logp >= logits[len(prompt) - 1, target[0]] - logz[len(prompt) - 1]


def test_lmms_eval_entry_point_and_requests(lmms_eval_module, harness, images):
  (entry,) = [e for e in importlib.metadata.entry_points(group='lmms_eval.models')
              if e.name == 'minigpt4_jax']
  manifest = entry.load()()
  module_name, class_name = manifest.simple_class_path.rsplit('.', 1)
  model_class = getattr(importlib.import_module(module_name), class_name)
  assert manifest.model_id == 'minigpt4_jax' and module_name == lmms_eval_module.__name__
  lm = model_class.create_from_arg_string(f'pretrained={TINY_CHECKPOINT},batch_size=2',
                                          {'batch_size': None, 'device': 'cpu'})
  from lmms_eval.api.instance import Instance
  docs = [{'image': Image.open(p), 'answer': ' yes'} for p in images]
  lm.task_dict = {'tiny': {'test': docs}}
  to_visual = lambda doc: [doc['image']]  # noqa: E731
  short = {'max_new_tokens': MAX_NEW, 'until': ['\n\n'], 'temperature': 0}
  longer = {'max_new_tokens': MAX_NEW + 2, 'temperature': 0}
  requests = [Instance('generate_until', (f'<image>\nQuestion {i}?', kwargs, to_visual, i,
                                          'tiny', 'test'), idx=i)
              for i, kwargs in enumerate([short, longer, short])]
  answers = lm.generate_until(requests)
  expected = [harness.generate([images[i]], [f'Question {i}?'], max_new_tokens=n)[0]
              for i, n in enumerate([MAX_NEW, MAX_NEW + 2, MAX_NEW])]
  assert answers == [cut_at_stops(a, ['\n\n']) if i != 1 else a
                     for i, a in enumerate(expected)]

  scored = lm.loglikelihood([
      Instance('loglikelihood', ('<image> Is it a cat?', lambda doc: doc['answer'], to_visual, 0,
                                 'tiny', 'test'), idx=0),
      Instance('loglikelihood', ('Is it a cat?', ' no', to_visual, 1, 'tiny', 'test'), idx=1)])
  assert scored == [harness.loglikelihood(images[0], 'Is it a cat?', ' yes'),
                    harness.loglikelihood(images[1], 'Is it a cat?', ' no')]

  lm.task_dict['tiny']['test'].append({'image': [1, 2]})
  two_images = Instance('generate_until', ('q', short, lambda doc: doc['image'], 3, 'tiny',
                                           'test'), idx=0)
  with pytest.raises(ValueError, match="task 'tiny' doc 3 has 2 images"):
    lm.generate_until([two_images])
  with pytest.raises(NotImplementedError):
    lm.generate_until_multi_round([])


def test_vlmevalkit_generate_inner(harness, images):
  model = VLMEvalKitModel(TINY_CHECKPOINT, max_new_tokens=MAX_NEW)
  message = [{'type': 'image', 'value': str(images[2])},
             {'type': 'text', 'value': 'What is shown?'},
             {'type': 'text', 'value': 'Answer briefly.'}]
  expected = harness.generate([str(images[2])], ['What is shown?\nAnswer briefly.'],
                              max_new_tokens=MAX_NEW)[0]
  assert model.generate_inner(message, dataset='MMBench_DEV_EN') == expected
  assert model.generate(message) == expected
  assert not model.use_custom_prompt('POPE')


def test_vlmevalkit_messages():
  assert split_message([{'type': 'text', 'value': 'a'}, {'type': 'image', 'value': 'x.jpg'},
                        {'type': 'text', 'value': 'b'}]) == ('x.jpg', 'a\nb')
  with pytest.raises(ValueError, match='exactly one image.*got 0'):
    split_message('no image here')
  with pytest.raises(ValueError, match='exactly one image.*got 2'):
    split_message([{'type': 'image', 'value': 'a.jpg'}, {'type': 'image', 'value': 'b.jpg'}])
  with pytest.raises(ValueError, match="type \\['video'\\]"):
    split_message([{'type': 'video', 'value': 'a.mp4'}])
