"""Run engines: the pure run state machine, the store protocol, and the executors."""
