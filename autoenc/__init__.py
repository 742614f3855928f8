"""autoenc: autoencoder compression studies with statistical reporting."""

__version__ = "0.1.0"
