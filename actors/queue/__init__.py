"""The queue actor: the single writer of task files, which hands tasks to agents and routes them.

Offers: ``actor.TaskQueue`` (answers ``ListTasks``, ``GetTask``, ``WhyWaiting``, ``ListAgents``,
``RetryTask``, ``CancelTask`` and the agents' messages), ``routing`` (which tier a task is and where
it runs; pure), ``waiting`` (why an inbox task waits, in words; pure). Internals: ``coordinator``
(agents, assignments, deadlines), ``agents`` (each agent's state machine).
"""
