"""Prompt text, templates and tokenization, shared by training, chat and evaluation.

  tokens.py     the image marker and the two tokenizer rules (legacy pieces, whole text)
  prompts.py    system messages, instruction pools, evaluation prompt presets
  templates.py  ``Template`` (chat prompt + training layout), ``Conversation``, cleanup
  sequences.py  ``SequenceEncoder``: training samples -> token arrays and target masks
"""
