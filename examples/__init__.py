"""Example pipelines built on Rainbow."""
