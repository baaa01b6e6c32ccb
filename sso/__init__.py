"""OpenID Connect sign-in through Microsoft Entra ID at ``/user/external``, and the
gateway's own ID tokens for the product's other services (the bridge)."""

from sso.app import build_sso_app, close_sso_app, sso_root_routes

__all__ = ["build_sso_app", "close_sso_app", "sso_root_routes"]
