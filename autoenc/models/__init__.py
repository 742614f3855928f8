"""Model builders on the NumPy core: autoencoders, MLPs and the Conv1D network."""

from .builders import ACTIVATIONS, AutoEncoder, autoencoder, conv1d_net, hidden_widths, mlp
from .compression import CompressionAutoencoder, compression_autoencoder

__all__ = ["ACTIVATIONS", "AutoEncoder", "CompressionAutoencoder", "autoencoder", "compression_autoencoder",
           "conv1d_net", "hidden_widths", "mlp"]
