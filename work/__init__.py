"""The demo board: task files shipped as package data and copied for ``agentdeck serve --demo``."""
