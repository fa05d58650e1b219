"""The dashboard state actor and its pure parts: snapshot tables, JSON views, health rules, metrics."""
