"""Training of the default model (VAE, then STDiT3 + T5) and its export to models/default."""
