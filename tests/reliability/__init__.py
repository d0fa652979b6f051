"""Reliability suite: concurrency, crash safety, hostile input, files, security (tracker issue 6)."""
