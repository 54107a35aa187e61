"""Loaders that bring external inputs into Bronze."""
