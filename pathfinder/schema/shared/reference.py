"""Shared tables (being written)."""
