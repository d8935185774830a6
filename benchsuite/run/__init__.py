"""The suite run in its steps, and the executors that run its work here or on Ray."""
