"""agentdeck's actors: supervised Trio tasks that own their state and talk through channels."""
