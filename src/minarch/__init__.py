"""minarch: minimal deep learning architectures, swept."""

__version__ = "0.1.0"
