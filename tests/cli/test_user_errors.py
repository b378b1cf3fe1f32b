"""Expected user errors through the real commands: one line on stderr, exit status 2, no
traceback, and nothing written to the workdir (issue 14, item 3)."""

import json

import pytest

from minigpt4_jax.bundled import TINY_CHECKPOINT, demo_paths
from tests.commands import run_module

STAGE1 = ('--config', 'configs/tiny.py:stage1')
STAGE2 = ('--config', 'configs/tiny.py:stage2', f'--config.init_from={TINY_CHECKPOINT}')
DEMO_IMAGE = f'{demo_paths().align_dir}/image/coffee.jpg'


def json_position(path) -> str:
  """Where json itself says the file breaks, as the error message should put it."""
  with pytest.raises(json.JSONDecodeError) as err:
    json.loads(path.read_text())
  return f'{path}: invalid JSON at line {err.value.lineno} column {err.value.colno}: {err.value.msg}'


def assert_one_line_error(result, *fragments: str) -> str:
  assert result.returncode == 2, result.stderr[-3000:]
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr[-3000:]
  assert 'Traceback' not in result.stderr
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  return lines[0]


@pytest.fixture
def not_an_image(tmp_path):
  path = tmp_path / 'notes.jpg'
  path.write_text('not a picture')
  return path


@pytest.fixture
def bad_align_dir(tmp_path):
  """A cc_sbu_align folder whose filter_cap.json misses a comma on line 2."""
  folder = tmp_path / 'align'
  (folder / 'image').mkdir(parents=True)
  (folder / 'filter_cap.json').write_text('{"annotations": [\n {"image_id": "a" "caption": "b"}]}')
  return folder


def test_chat_missing_image(tmp_path):
  result = run_module('launch.chat', '--ckpt', TINY_CHECKPOINT, '--image', tmp_path / 'no.jpg')
  assert_one_line_error(result, f'{tmp_path / "no.jpg"}: no such file')


def test_chat_bad_image_names_the_file(not_an_image):
  result = run_module('launch.chat', '--ckpt', TINY_CHECKPOINT, '--image', not_an_image)
  assert_one_line_error(result, f'{not_an_image}: not an image')


def test_chat_missing_checkpoint(tmp_path):
  result = run_module('launch.chat', '--ckpt', tmp_path / 'ckpt', '--image', DEMO_IMAGE)
  assert_one_line_error(result, f'--ckpt {tmp_path / "ckpt"}: no such directory')


def test_chat_folder_that_is_no_checkpoint(tmp_path):
  result = run_module('launch.chat', '--ckpt', tmp_path, '--image', DEMO_IMAGE)
  assert_one_line_error(result, 'neither a converted checkpoint', 'nor a training workdir')


def test_debug_environment_variable_shows_the_traceback(tmp_path):
  result = run_module('launch.chat', '--ckpt', tmp_path / 'ckpt', '--image', DEMO_IMAGE,
                      MINIGPT4_JAX_DEBUG='1')
  assert result.returncode == 1 and 'Traceback' in result.stderr
  assert 'MissingInput: --ckpt' in result.stderr


def test_train_workdir_is_a_file(tmp_path):
  workdir = tmp_path / 'run'
  workdir.write_text('')
  result = run_module('launch.train', *STAGE1, '--workdir', workdir)
  assert_one_line_error(result, f'--workdir {workdir}: is a file')


def test_train_empty_align_dir(tmp_path):
  (tmp_path / 'align').mkdir()
  result = run_module('launch.train', *STAGE2, f'--config.data.align_dir={tmp_path / "align"}',
                      '--workdir', tmp_path / 'run')
  assert_one_line_error(result, f'{tmp_path / "align" / "filter_cap.json"}: missing')
  assert not (tmp_path / 'run').exists()


def test_train_malformed_filter_cap_names_file_and_position(tmp_path, bad_align_dir):
  result = run_module('launch.train', *STAGE2, f'--config.data.align_dir={bad_align_dir}',
                      '--workdir', tmp_path / 'run')
  assert_one_line_error(result, json_position(bad_align_dir / 'filter_cap.json'))
  assert not (tmp_path / 'run').exists()


def test_train_missing_shards(tmp_path):
  result = run_module('launch.train', *STAGE1,
                      f"--config.data.train_shards=('{tmp_path}/{{00000..00001}}.tar',)",
                      '--workdir', tmp_path / 'run')
  assert_one_line_error(result, '2 shard(s) missing', f'{tmp_path}/00000.tar')
  assert not (tmp_path / 'run').exists()


def test_train_missing_init_from(tmp_path):
  result = run_module('launch.train', *STAGE1, f'--config.init_from={tmp_path / "nope"}',
                      '--workdir', tmp_path / 'run')
  assert_one_line_error(result, f'init_from {tmp_path / "nope"}: no such directory')
  assert not (tmp_path / 'run').exists()


def test_train_misspelt_field_suggests_the_right_one(tmp_path):
  result = run_module('launch.train', *STAGE1, '--config.train.lrr=3', '--workdir', tmp_path)
  assert_one_line_error(result, '--config.train.lrr: no such config field',
                        'Did you mean "lr" instead of "lrr"?')


def test_train_wrong_preset(tmp_path):
  result = run_module('launch.train', '--config', 'configs/tiny.py:stage3', '--workdir', tmp_path)
  assert_one_line_error(result, "preset must be stage1 or stage2, got 'stage3'")


def test_train_unknown_model_preset(tmp_path):
  result = run_module('launch.train', *STAGE1, '--config.init_from=',
                      '--config.model.preset=tiny9', '--workdir', tmp_path / 'run')
  assert_one_line_error(result, "unknown architecture preset 'tiny9'", "'tiny'")
  assert not (tmp_path / 'run').exists()


def test_convert_conflicting_flags(tmp_path):
  result = run_module('launch.convert', '--blip2', tmp_path / 'blip2', '--vision',
                      tmp_path / 'eva.pth', '--llm', tmp_path / 'llm', '--out', tmp_path / 'out')
  assert_one_line_error(result, '--blip2 replaces --vision/--qformer: pass one or the other')
  assert not (tmp_path / 'out').exists()


def test_bench_real_size_without_a_gpu():
  result = run_module('launch.bench', '--size', '13b')
  assert_one_line_error(result, '--size 13b runs the real MiniGPT-4 shapes and needs a GPU')


def test_train_missing_flag(tmp_path):
  result = run_module('launch.train', *STAGE1)
  assert_one_line_error(result, '--workdir must have a value')


def test_cache_features_without_augment_off(tmp_path):
  result = run_module('launch.cache_features', *STAGE1, '--out', tmp_path / 'cache')
  assert_one_line_error(result, '--config.data.augment=False')
  assert not (tmp_path / 'cache').exists()


def test_curate_malformed_rules_names_file_and_position(tmp_path):
  rules = tmp_path / 'rules.json'
  rules.write_text('[{"name": "x", "kind": "regex" "params": {}}]')
  result = run_module('launch.curate', '--ckpt', TINY_CHECKPOINT, '--images',
                      f'{demo_paths().align_dir}/image', '--out', tmp_path / 'out',
                      '--rules', rules)
  assert_one_line_error(result, json_position(rules))
  assert not (tmp_path / 'out').exists()


def test_evaluate_missing_data_folder(tmp_path):
  result = run_module('launch.evaluate', '--ckpt', TINY_CHECKPOINT, '--task', 'pope',
                      '--data', tmp_path / 'pope')
  assert_one_line_error(result, f'--data {tmp_path / "pope"}: no such directory')



def test_evaluate_missing_annotation_file(tmp_path):
  result = run_module('launch.evaluate', '--ckpt', TINY_CHECKPOINT, '--task', 'pope',
                      '--data', tmp_path)
  assert_one_line_error(result, f'annotation file {tmp_path / "coco_pope_random.json"}: no such file')
