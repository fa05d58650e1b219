"""The reference agent: a client program (``agentdeck agent``), not a hub actor.

It connects to a hub's ``/ws`` and runs what it is given with its executors. It lives beside the actors
because it speaks the same protocol and messages."""
