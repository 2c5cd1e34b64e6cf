"""Fault-injection suite: real store servers, contender processes, nemeses and checkers."""
