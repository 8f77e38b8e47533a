"""The compiled spec and module interfaces: pydantic models, JSON Schema, validation. No I/O."""
