"""Helpers shared by the test folders: fixtures, data factories, the in-process CLI, host-module
loading, notification sinks."""
