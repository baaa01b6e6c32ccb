"""Stateful fakes of the remote services the gateway cannot reach in tests."""
