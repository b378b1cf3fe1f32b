"""Metrics to their official definitions; scores are in percent as papers print them.

  answers.py     the VQA answer normalization (vqaEval.py)
  vqa.py         VQAv2 / OK-VQA accuracy (10-choose-9 averaging), GQA exact match
  aokvqa.py      A-OKVQA multiple-choice and direct-answer accuracy
  captioning.py  BLEU, METEOR, ROUGE-L, CIDEr through pycocoevalcap
  chair.py       CHAIR_i / CHAIR_s (Rohrbach et al. 2018) and caption length
  pope.py        POPE accuracy, precision, recall, F1, yes ratio
"""
