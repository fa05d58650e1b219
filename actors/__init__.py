"""agentdeck's actors: supervised Trio tasks that own their state and talk through channels.

What it offers (see docs/design.md for the map):

- ``hub.Hub``: builds every actor with the channels it needs and starts them under the supervisor;
  the web layer's only handle (``ask_queue``, ``ask_dashboard``... and ``bus``).
- ``messages``: every request and event that crosses an actor boundary; ``replies``: the typed
  answers handed to the web layer (``HealthReport``, ``StatsReply``, ``StatusSources``).
- ``bus.EventBus`` (fan-out that never blocks), ``mailbox.ask``/``reply`` (request and answer),
  ``supervisor.Supervisor`` (restarts with backoff, ``ActorStatus``), ``config.HubConfig`` and the
  thresholds.
- Subpackages by concern: ``board`` (task files), ``queue`` (scheduling, the only writer),
  ``protocol`` (the agents' side), ``telemetry`` (costs), ``dashboard`` (snapshot, health, metrics),
  ``fleet`` (several hubs), and ``reference_agent`` (a client program, not an actor).

Modules inside a subpackage are its internals unless its ``__init__`` names them.
"""
