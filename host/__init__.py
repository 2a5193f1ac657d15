"""outboard: a real-time host for hybrid analog/digital mastering."""

__version__ = "0.4.0"
