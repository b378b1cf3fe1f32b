"""Named presets shared by the MiniGPT-4 config files: LLM choice and paper ablations."""

from minigpt4_jax import families
LLMS = ('vicuna7b', 'vicuna13b', 'llama2_7b', 'tiny')
ABLATIONS = ('mlp3', 'no_qformer', 'train_qformer')


def apply(c, arg: str, *, stage: int) -> None:
  """Applies ``arg`` = 'LLM[,ABLATION]' to config ``c`` in place."""
  names = [n for n in arg.split(',') if n]
  llm = [n for n in names if n in LLMS]
  unknown = [n for n in names if n not in LLMS + ABLATIONS]
  if unknown or len(llm) != 1:
    raise ValueError(f'config presets {arg!r}: need one of {LLMS} plus any of {ABLATIONS}')
  c.model.preset = {'vicuna7b': 'vicuna_7b', 'vicuna13b': 'vicuna_13b',
                    'llama2_7b': 'llama2_7b', 'tiny': 'tiny'}[llm[0]]

  family = families.get('minigpt4')
  if stage == 2:  # the template the released model trained in (Llama-2's without a Q-Former)
    c.text.template = family.chat_template(families.preset(c.model.preset))
    c.text.max_answer_tokens = 160
  if llm[0] != 'tiny':
    # The towers' blocks under lax.scan, each projection output kept for the backward.
    # Planned for a v5p-8 (BENCHMARKS.md, "Scanned blocks"): the Vicuna-7B stage-1 step
    # compiles in 34 s against 65 s unrolled (Llama-2 7B: 20 against 64 s; stage 2: 31
    # against 81 s), with fewer temporaries (13.47 against 14.56 GiB a chip at 64 rows;
    # 13B: 20.76 against 22.49) and the same matmul FLOPs. The tiny demo's 2 layers stay
    # per layer: on a CPU they compile as fast either way.
    c.model.scan_layers, c.model.remat = True, 'dots'
  c.model.projector = 'mlp3' if 'mlp3' in names else 'linear'
  if 'no_qformer' in names:
    c.model.connector = 'patch_group'
  c.train.trainable = family.stage_trainable(f'stage{stage}')
  if 'train_qformer' in names:
    c.train.trainable += ('qformer/.*',)
