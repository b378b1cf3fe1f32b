"""Named presets shared by the MiniGPT-4 config files: LLM choice and paper ablations."""

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
  if llm[0] == 'llama2_7b':
    c.model.no_qformer = True  # MiniGPT-4's Llama-2 model has no Q-Former
  if stage == 2:
    c.text.template = 'llama2' if llm[0] == 'llama2_7b' else 'vicuna_v0'
    c.text.max_answer_tokens = 160
  c.model.projector = 'mlp3' if 'mlp3' in names else 'linear'
  c.model.no_qformer = c.model.no_qformer or 'no_qformer' in names
  c.model.train_qformer = 'train_qformer' in names
