"""What module authors import: @module, Context, assets, timeouts, command modules."""
