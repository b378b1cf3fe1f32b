"""An OpenAI-compatible chat server (``python -m launch.serve``).

  api.py     chat-completions requests and replies: parsing, validation, JSON shapes
  images.py  ``image_url`` parts: base64 data: URLs, file:// inside one allowed folder
  prompt.py  messages -> the family's chat template, and a request's token budget
  answer.py  a reply's tokens -> its text (template cleanup, request stop strings)
  engine.py  slot-based batched decoding (JetStream's prefill / insert / generate)
  server.py  the HTTP server and the requests -> engine service
"""
