"""Timus identity provisioning gateway for Microsoft Entra ID."""

__version__ = "0.1.0"
