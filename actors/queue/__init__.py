"""The queue actor: the single writer of task files, which hands tasks to agents and routes them."""
