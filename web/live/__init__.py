"""The live dashboard: the broadcaster that renders regions once and streams them to every browser."""
