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
  c.model.projector = 'mlp3' if 'mlp3' in names else 'linear'
  if 'no_qformer' in names:
    c.model.connector = 'patch_group'
  c.train.trainable = family.stage_trainable(f'stage{stage}')
  if 'train_qformer' in names:
    c.train.trainable += ('qformer/.*',)
