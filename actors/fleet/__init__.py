"""A fleet of hubs: what a hub publishes on the broker, and the fleet view that reads it."""
