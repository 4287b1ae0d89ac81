"""cstool: POS-based code-switching and replay-adapter continual learning for low-resource LMs."""

__version__ = "0.1.0"
