"""Logging, metrics and notifications: cross-cutting, imported by every layer above."""
