"""Integrations of the tier chain with frameworks and tools: each a subpackage importing its framework only there."""
