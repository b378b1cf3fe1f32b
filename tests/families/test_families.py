"""The family registry: every "which family?" answer comes from the family object."""

import dataclasses

import pytest

from minigpt4_jax import families
from minigpt4_jax.models.configs import ModelConfig


@pytest.mark.parametrize('preset_name, family, template, transform', [
    ('tiny', 'minigpt4', 'vicuna_v0', 'resize'),
    ('vicuna_13b', 'minigpt4', 'vicuna_v0', 'resize'),
    ('tiny_no_qformer', 'minigpt4', 'llama2', 'resize'),
    ('llama2_7b', 'minigpt4', 'llama2', 'resize'),
    ('tiny_llava', 'llava', 'v1', 'pad'),
    ('llava_v15_13b', 'llava', 'v1', 'pad'),
    ('minigptv2_tiny', 'minigptv2', 'minigptv2', 'resize'),
    ('minigptv2_7b', 'minigptv2', 'minigptv2', 'resize'),
])
def test_each_preset_answers_through_its_family(preset_name, family, template, transform):
  cfg = families.preset(preset_name)
  found = families.family_of(cfg)
  assert found.name == cfg.family == family
  assert found.chat_template(cfg) == template
  assert found.image_transform == transform


def test_preset_names_are_one_table_across_families():
  table = families.presets()
  assert set(table) == {n for f in families.names() for n in families.get(f).presets}
  with pytest.raises(ValueError, match="unknown architecture preset 'nope'"):
    families.preset('nope')
  with pytest.raises(ValueError, match="unknown model family 'nope'"):
    families.get('nope')


@pytest.mark.parametrize('preset_name', ['tiny', 'tiny_no_qformer', 'tiny_llava', 'llama2_7b',
                                         'minigptv2_7b'])
def test_model_config_json_round_trip(preset_name):
  cfg = families.preset(preset_name)
  assert ModelConfig.from_json(cfg.to_json()) == cfg


def test_configs_written_before_families_still_read():
  """Converted checkpoints of the previous layout: MiniGPT-4's config had no family (a
  missing Q-Former meant the Llama-2 path); LLaVA's said "family": "llava" and had no
  vision kind or connector."""
  import json
  for name, old_keys in (('tiny', ()), ('tiny_no_qformer', ()), ('tiny_llava', ('patch_group',
                                                                                'ln_vision_eps',
                                                                                'qformer'))):
    cfg = families.preset(name)
    raw = json.loads(cfg.to_json())
    del raw['connector'], raw['lora'], raw['vision']['kind']
    if cfg.family == 'minigpt4':
      del raw['family']
    for key in old_keys:
      del raw[key]
    assert ModelConfig.from_json(json.dumps(raw)) == cfg


def test_connector_and_qformer_must_agree():
  cfg = families.preset('tiny')
  with pytest.raises(ValueError, match='a Q-Former config goes with the qformer connector'):
    dataclasses.replace(cfg, connector='patch_group')


def test_minigptv2_7b_is_the_papers_architecture():
  """arXiv 2310.09478 §3: 448-px EVA, 256 merged tokens of 5632, LoRA r 64 / alpha 16 on q, v."""
  cfg = families.preset('minigptv2_7b')
  assert (cfg.vision.image_size, cfg.num_image_tokens, cfg.projector_in) == (448, 256, 5632)
  assert (cfg.lora.rank, cfg.lora.alpha, cfg.lora.targets) == (64, 16.0, ('q_proj', 'v_proj'))
  assert cfg.lora.scale == 0.25 == families.preset('minigptv2_tiny').lora.scale
