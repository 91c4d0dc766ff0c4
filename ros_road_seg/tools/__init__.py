"""Bag and demo tools around the node, and the one process harness shared with the tests."""
