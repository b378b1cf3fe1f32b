"""What a benchmark runs: model sizes and the two stages' sequence shapes."""

from __future__ import annotations

import dataclasses

from minigpt4_jax.tools.bench.decode import SIZES as DECODE_SIZES
from minigpt4_jax.families import preset
from minigpt4_jax.models.configs import EvaVitConfig, ModelConfig, QFormerConfig


@dataclasses.dataclass(frozen=True)
class StepShape:
  """One training sequence: [BOS] prompt-before <image tokens> prompt-after answer.

  Every row has the same length and no padding, so the FLOP count is exact.
  """

  name: str
  prompt_before: int
  prompt_after: int
  answer: int

  def sequence_length(self, num_image_tokens: int) -> int:
    return 1 + self.prompt_before + num_image_tokens + self.prompt_after + self.answer

  def first_target(self, num_image_tokens: int) -> int:
    """The first supervised position (the answer's first token)."""
    return self.sequence_length(num_image_tokens) - self.answer


# Stage 1 (template plain): [BOS][32 image embeddings][caption + "\n"], max_answer_tokens 32.
STAGE1 = StepShape('stage1', prompt_before=0, prompt_after=0, answer=32)
# Stage 2: '###Human: <Img>' (7 Vicuna tokens) <image> '</Img> Describe this image in
# detail. ###Assistant: ' (15 tokens), then an answer padded to max_answer_tokens 160.
STAGE2 = StepShape('stage2', prompt_before=7, prompt_after=15, answer=160)
SHAPES = (STAGE1, STAGE2)


@dataclasses.dataclass(frozen=True)
class BenchSize:
  """An architecture and the batch each stage's step runs with at this size.

  ``needs_gpu``: the real shapes, which would take hours per step on a CPU.
  """

  model: ModelConfig
  batch: dict[str, int]
  needs_gpu: bool = False


# The largest MiniGPT-4 whose step still takes about a second on 2 CPU cores: every
# tower scaled down in width and depth, but the real 224 px image (257 ViT tokens),
# 32 queries and 32k vocabulary, so the sequence shapes and the share of the LM head
# stay realistic. The LLM is the decode benchmark's `mid`, so the two are comparable.
MID = ModelConfig(
    family='minigpt4',
    vision=EvaVitConfig(width=256, depth=4, num_heads=4, mlp_dim=1024),
    qformer=QFormerConfig(hidden=256, num_layers=4, num_heads=4, mlp_dim=1024,
                          encoder_width=256, cross_attention_layers=(0, 2)),
    llm=DECODE_SIZES['mid'],
)

SIZES: dict[str, BenchSize] = {
    'tiny': BenchSize(preset('tiny'), {'stage1': 4, 'stage2': 4}),
    'mid': BenchSize(MID, {'stage1': 8, 'stage2': 4}),
    # MiniGPT-4's per-GPU batches: 64 in stage 1, 12 in stage 2.
    '7b': BenchSize(preset('vicuna_7b'), {'stage1': 64, 'stage2': 12}, needs_gpu=True),
    '13b': BenchSize(preset('vicuna_13b'), {'stage1': 64, 'stage2': 12}, needs_gpu=True),
}
