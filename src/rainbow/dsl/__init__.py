"""The pipeline DSL: plain functions, ``rb.step()`` calls, compiled to a JSON spec."""
