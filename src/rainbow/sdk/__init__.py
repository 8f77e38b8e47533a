"""What module authors import: @module, Context, assets, inner timeouts, command modules, the worker skeleton."""
