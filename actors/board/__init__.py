"""The board: task files on disk, parsed into tasks, watched for changes, moved crash-safely.

Offers: ``taskfile`` (path -> lane, bytes -> ``Task``; pure), ``lifecycle`` (where a task file goes
next; pure), ``board.Board`` (the in-memory board and the events its changes make), ``store.BoardStore``
(journalled moves and recovery; blocking, run in a thread), ``watcher.Watcher`` (the watcher actor),
``hub_lock.HubLock`` (one hub per board). Internals: ``lanes``, ``notify``, ``scan_cache``.
"""
