"""The embedded studio: a JACK server on its dummy backend, and virtual gear."""
