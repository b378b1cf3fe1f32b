r"""MiniGPT-v2 stage 3 (multimodal instruction tuning): LoRA on q/v + llama_proj.

train_configs/minigptv2_finetune.yaml (Vision-CAIR/MiniGPT-4 d94738a): AdamW (0.9, 0.999)
wd 0.05, lr warmed up linearly from 1e-6 to 1e-5 over 1000 steps, then cosine to 1e-6
over 50 x 1000 iterations; LoRA r 64, alpha 16 on q_proj / v_proj; 448-px squashed
images; answers + '</s>' in the minigptv2 template, answers <= 1024 tokens
(max_txt_len), the whole sequence <= 3800 (max_context_len). Each batch is drawn from
ONE dataset with probability proportional to its ratio (dataloader_utils.py:35-43).

ARG is the folder holding one conversation JSON per source (built with
minigpt4_jax/tools/minigptv2_samples.py) and their images: coco/ (COCO train2014;
LLaVA's instruct images), coco2017/ (A-OKVQA's), flickr30k/, textcaps/ (TextCaps'
train images), gqa/, ocrvqa/, visual_genome/ (VG_100K/ and VG_100K_2/).

  python -m launch.convert --family minigptv2 --vision eva_vit_g.pth \
      --llm Llama-2-7b-chat-hf --checkpoint minigptv2_stage2.pth --keep-lora --out ckpt/v2s2
  python -m launch.train --config configs/minigptv2_stage3.py:data/minigptv2 \
      --workdir runs/v2_stage3 --config.init_from=ckpt/v2s2

Differences from the original, each a known gap: the original's per-dataset batch
sizes (2-6) become one batch size; unnatural_instruction (text only, ratio 10 of
730) is left out: no reader of its file yet (the minigptv2 template already trains a
text-only conversation as the original asks it, '[INST] {} [/INST]', one space).
"""

from minigpt4_jax import families
from minigpt4_jax.families.minigptv2 import LORA, LORA_DROPOUT
from minigpt4_jax.train.config import base_config

# (source, ratio in ft.yaml, image folder under ARG)
MIXTURE = (
    ('llava_detail', 20, 'coco'), ('llava_reason', 80, 'coco'), ('llava_conversation', 30, 'coco'),
    ('multitask_conversation', 50, 'coco'), ('refvg', 40, 'visual_genome'),
    ('flickr_grounded_caption', 80, 'flickr30k'), ('flickr_CaptionToPhrase', 80, 'flickr30k'),
    ('flickr_ObjectToPhrase', 80, 'flickr30k'),
    ('refcoco', 25, 'coco'), ('refcocop', 25, 'coco'), ('refcocog', 25, 'coco'),
    ('invrefcoco', 10, 'coco'), ('invrefcocop', 10, 'coco'), ('invrefcocog', 10, 'coco'),
    ('coco_vqa', 15, 'coco'), ('ok_vqa', 8, 'coco'), ('aok_vqa', 12, 'coco2017'),
    ('gqa', 50, 'gqa'), ('ocrvqa', 30, 'ocrvqa'),
    ('coco_caption', 10, 'coco'), ('textcaps_caption', 30, 'textcaps'),
)


def get_config(arg: str = 'data/minigptv2'):
  c = base_config()
  c.model.preset = 'minigptv2_7b'  # random init only; the converted checkpoint decides otherwise
  # A checkpoint converted with --keep-lora brings its adapters; these add them otherwise.
  c.model.lora_rank, c.model.lora_alpha = LORA.rank, LORA.alpha
  c.model.lora_targets = LORA.targets
  c.model.lora_dropout = LORA_DROPOUT  # the adapters' input, in training
  c.train.trainable = families.get('minigptv2').stage_trainable('stage3')
  c.data.kind = 'llava_mixture'
  c.data.llava_jsons = tuple(f'{arg}/{name}.json' for name, _, _ in MIXTURE)
  c.data.llava_image_dirs = tuple(f'{arg}/{images}' for _, _, images in MIXTURE)
  c.data.weights = tuple(float(ratio) for _, ratio, _ in MIXTURE)
  c.data.augment = False
  c.data.image_transform = 'resize'  # squashed: box text stays relative to W and H
  c.data.image_size = 448
  c.text.template = 'minigptv2'
  c.text.max_answer_tokens = 1024
  c.text.max_length = 3800
  c.train.steps = 50 * 1000
  c.train.batch_size = 6
  c.train.lr, c.train.min_lr, c.train.warmup_lr = 1e-5, 1e-6, 1e-6
  c.train.warmup_steps = 1000
  c.train.weight_decay = 0.05
  c.train.log_every = 50
  c.train.checkpoint_every = 1000
  return c.lock()
