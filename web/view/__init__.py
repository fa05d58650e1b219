"""Presentation: the words, numbers, charts and JSON shapes people and scripts read."""
