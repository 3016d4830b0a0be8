"""Jotter's views, one module per area."""
