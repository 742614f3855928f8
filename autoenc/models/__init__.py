"""Model builders on the NumPy core: autoencoders, MLPs and the Conv1D network."""

from .builders import ACTIVATIONS, AutoEncoder, autoencoder, conv1d_net, hidden_widths, mlp

__all__ = ["ACTIVATIONS", "AutoEncoder", "autoencoder", "conv1d_net", "hidden_widths", "mlp"]
