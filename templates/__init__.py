"""The dashboard's Jinja templates (package data, found with importlib.resources)."""
