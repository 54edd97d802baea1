"""Hosting runs for pages: the threaded Trainer behind thread-safe controls, the process-wide
limiter that shares the cores between sessions, and the caps of a shared instance."""
