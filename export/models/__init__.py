"""The model ports in PyTorch: STDiT3, T5 v1.1 encoder, the Open-Sora VAE, tokenizers, checkpoint loading."""
