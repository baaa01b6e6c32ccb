"""Entra deployments ("clouds") and the endpoints the Graph client and SSO use.

One place maps a cloud name, or an admin's custom endpoints, to the Entra
login authority and the Microsoft Graph root. Pure values: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CloudName = Literal["global", "usgov", "dod", "china"]
CLOUD_NAMES: tuple[CloudName, ...] = ("global", "usgov", "dod", "china")


@dataclass(frozen=True, slots=True)
class CloudEndpoints:
    """Endpoints of a deployment not named by a cloud (or a local fake).

    ``login_url`` is the authority host root (``/{tenant id}/...`` is appended);
    ``graph_url`` is the Graph root without a version (``/v1.0/...`` is appended).
    """

    login_url: str
    graph_url: str


Cloud = CloudName | CloudEndpoints

# Microsoft's national cloud deployments: login host and Graph host of each.
_NAMED: dict[CloudName, CloudEndpoints] = {
    "global": CloudEndpoints("https://login.microsoftonline.com", "https://graph.microsoft.com"),
    "usgov": CloudEndpoints("https://login.microsoftonline.us", "https://graph.microsoft.us"),
    "dod": CloudEndpoints("https://login.microsoftonline.us", "https://dod-graph.microsoft.us"),
    "china": CloudEndpoints(
        "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"
    ),
}


@dataclass(frozen=True, slots=True)
class EntraEndpoints:
    """Every Entra and Graph address the gateway derives for one integration."""

    login_url: str
    graph_url: str
    # Microsoft's own clouds are known to MSAL; anything else needs
    # ``instance_discovery=False`` so MSAL does not ask the public cloud about it.
    known_to_msal: bool

    def authority(self, entra_tenant_id: str) -> str:
        return f"{self.login_url}/{entra_tenant_id}"

    def v2_issuer(self, entra_tenant_id: str) -> str:
        return f"{self.login_url}/{entra_tenant_id}/v2.0"

    def openid_configuration_url(self, entra_tenant_id: str) -> str:
        return f"{self.v2_issuer(entra_tenant_id)}/.well-known/openid-configuration"

    @property
    def graph_v1(self) -> str:
        return f"{self.graph_url}/v1.0"

    @property
    def graph_scope(self) -> str:
        """The client-credentials scope: every application permission granted."""
        return f"{self.graph_url}/.default"


def endpoints_for(cloud: Cloud) -> EntraEndpoints:
    """The endpoints of a named cloud or of an admin's custom deployment."""
    if isinstance(cloud, CloudEndpoints):
        return EntraEndpoints(
            login_url=cloud.login_url.rstrip("/"),
            graph_url=cloud.graph_url.rstrip("/"),
            known_to_msal=False,
        )
    named = _NAMED[cloud]
    return EntraEndpoints(login_url=named.login_url, graph_url=named.graph_url, known_to_msal=True)
