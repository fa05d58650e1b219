"""``agentdeck`` sub-commands that live in their own modules: ``task`` (give the hub work and manage
it), the reference agent's executor options, and the demo's extras. ``web/cli.py`` wires them in."""
