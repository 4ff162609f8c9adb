"""Visualisation layer: images and matplotlib figures from results (no ipywidgets here)."""

from .masks import colorize, overlay

__all__ = ["colorize", "overlay"]
