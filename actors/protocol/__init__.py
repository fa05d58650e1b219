"""The hub's side of the agent protocol: message schemas, sessions, tokens and live output.

Offers: ``schema`` (the one schema table, ``decode``/``encode`` and reply builders; served at
``/api/schemas``), ``session.SessionFactory`` (one session per ``/ws`` connection), ``auth.TokenStore``,
``execution_log.ExecutionLog`` (the output actor), ``run_history`` (attempts' output on disk),
``assignment`` (what ``task_assign`` carries). Internals: ``throttle``, ``verification``.
"""
