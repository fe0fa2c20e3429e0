"""The synthetic video world the default model is trained on: clips, captions, ground truth, eval prompts."""
