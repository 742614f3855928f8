"""autoenc: autoencoder compression studies with statistical reporting."""

__version__ = "0.1.0"

# The model builders register their Module classes (e.g. AutoEncoder) with the core's registry, so
# that autoenc.nn.load can rebuild them without the numpy-only core importing anything above it.
from . import models as _models  # noqa: E402, F401
