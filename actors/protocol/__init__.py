"""The hub's side of the agent protocol: message schemas, sessions, tokens and live output."""
