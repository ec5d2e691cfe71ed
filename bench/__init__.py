"""bench: a reproducible benchmark harness for computer-vision and diffusion papers."""

__version__ = "0.1.0"
