"""The trainer's configuration schema; ``configs/*.py`` start from ``base_config()``.

Every field the trainer reads is declared here with its default, and configs are
locked before use, so a misspelt ``--config.train.lrr=...`` is an error.
"""

from __future__ import annotations

import ml_collections

from minigpt4_jax.data.config import default_config as default_data_config
from minigpt4_jax.text.prompts import ALIGNMENT_INSTRUCTIONS



def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 42
  # A converted checkpoint (python -m launch.convert), an earlier stage's workdir
  # (its towers and trained projector), or '' for random towers (tiny demo only).
  c.init_from = ''

  c.model = ml_collections.ConfigDict()
  c.model.preset = 'tiny'        # architecture when init_from == '' (minigpt4_jax.families)
  c.model.projector = 'linear'   # 'linear' | 'mlp3' (paper ablation b) | 'mlp2x_gelu'
  # '' = the preset's / checkpoint's; 'patch_group': the paper's ablation (a), no
  # Q-Former (random init only: a converted checkpoint decides its own).
  c.model.connector = ''
  c.model.dtype = 'bfloat16'     # compute/storage dtype of the frozen towers
  c.model.tokenizer = ''         # '' = the checkpoint's, or the bundled tiny one
  c.model.remat = 'none'         # LLM blocks' remat policy (models/remat.py): none, full, dots, ...
  # The LLM's and the vision tower's blocks as stacked modules under lax.scan
  # (models/scanned_layers.py): one block each to compile instead of one per layer.
  # Training only; checkpoints, exports and models loaded for chat stay per layer.
  # MiniGPT-4's real-size presets turn it on, with remat 'dots' (configs/presets.py).
  c.model.scan_layers = False
  # Attention kernel: 'auto' (cuDNN flash on GPU, Pallas splash on TPU for long causal
  # sequences, XLA otherwise) | 'xla' | 'cudnn' | 'splash' (models/attention_kernels.py).
  c.model.attention = 'auto'
  c.model.lora_rank = 0          # > 0: LoRA adapters on the LLM (models/lora.py)
  c.model.lora_alpha = 256.0     # LLaVA-1.5's LoRA: r 128, alpha 256
  c.model.lora_targets = ()      # () = every linear of the LLM blocks
  # peft's lora_dropout on the adapters' input, in training only (MiniGPT-v2: 0.05).
  c.model.lora_dropout = 0.0

  c.text = ml_collections.ConfigDict()
  c.text.template = 'plain'      # a name in text/templates.py; plain = [BOS] <image> caption\n
  c.text.instructions = ALIGNMENT_INSTRUCTIONS  # human messages of caption/answer samples
  c.text.max_answer_tokens = 32  # cap on each answer's tokens (MiniGPT-4's max_txt_len); 0 = none
  # Cap on the whole sequence, image tokens included (LLaVA's model_max_length);
  # 0 = the longest instruction prompt + max_answer_tokens.
  c.text.max_length = 0
  # > 0: pad each batch to its longest row rounded up to this (a few compilations, less
  # work on padding); 0: every batch at the maximum length (one compilation).
  c.text.pad_multiple = 0

  c.data = default_data_config()

  c.train = ml_collections.ConfigDict()
  # Regexes over parameter paths: what trains (families state their stages' patterns).
  c.train.trainable = ('projector/.*',)
  c.train.steps = 20_000
  c.train.batch_size = 256       # global, across every device and accumulation micro-step
  c.train.grad_accum = 1         # micro-batches per step (batch_size must divide)
  c.train.lr = 1e-4              # init_lr
  c.train.min_lr = 8e-5
  c.train.warmup_lr = 1e-6
  c.train.warmup_steps = 5000
  c.train.weight_decay = 0.05
  c.train.b1 = 0.9
  c.train.b2 = 0.999
  c.train.clip_norm = 0.0        # 0 = off (MiniGPT-4 does not clip)
  c.train.log_every = 50
  c.train.checkpoint_every = 1000
  c.train.keep_checkpoints = 3

  c.mesh = ml_collections.ConfigDict()
  c.mesh.data = -1               # -1 = the devices left over
  c.mesh.fsdp = 1
  c.mesh.tensor = 1
  # Images launch.train describes (greedy chat) once training ends: the tiny demo's.
  c.describe_images = ()
  return c
