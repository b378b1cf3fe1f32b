"""The ``data`` section of the training config."""

from __future__ import annotations

import ml_collections


def default_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # 'webdataset' | 'align' | 'tfds' | 'llava' | 'llava_mixture' | 'features'
  c.kind = 'webdataset'
  # One entry per source; each a brace pattern or whitespace-separated patterns.
  c.train_shards = ()
  c.weights = ()             # sampling ratio per source; () = equal
  c.align_dir = ''           # kind='align': a cc_sbu_align folder
  c.tfds_name = ''           # kind='tfds': a dataset written by minigpt4_jax.data.tfds_builder
  c.tfds_dir = ''
  # kind='features': frozen-tower outputs cached by launch.cache_features, one per source
  # (stage 1 without augmentation: the ViT and Q-Former then never run).
  c.feature_dirs = ()
  c.llava_json = ''          # kind='llava': LLaVA conversation JSON (data/llava.py)
  c.llava_image_dir = ''     # kind='llava': the folder its "image" paths are under
  # kind='llava_mixture' (MiniGPT-v2's datasets): one conversation JSON per source and
  # the folder of its images, each batch from one source drawn by data.weights.
  c.llava_jsons = ()
  c.llava_image_dirs = ()
  c.augment = True           # RandomResizedCrop(224, 0.5-1.0) vs image_transform
  # Without augmentation: 'resize' (MiniGPT-4's eval resize), 'pad' (LLaVA-1.5's
  # pad-to-square) or 'center_crop' (CLIP's own; LLaVA stage 1's 'square').
  c.image_transform = 'resize'
  c.clean_captions = True    # BLIP caption cleaning (stage 1) vs raw text (stage 2)
  c.max_words = 50
  c.image_size = 224
  c.num_workers = 4          # decode/augment processes per host; 0 = in-process
  c.worker_buffer_size = 2    # batches each worker stacks ahead (in shared memory)
  c.shuffle = True
  return c
