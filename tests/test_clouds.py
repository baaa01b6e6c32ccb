from __future__ import annotations

import pytest

from gateway.clouds import CLOUD_NAMES, CloudEndpoints, endpoints_for


@pytest.mark.parametrize(
    ("cloud", "login", "graph"),
    [
        ("global", "https://login.microsoftonline.com", "https://graph.microsoft.com"),
        ("usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us"),
        ("dod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us"),
        ("china", "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"),
    ],
)
def test_named_clouds_map_to_their_hosts(cloud: str, login: str, graph: str) -> None:
    assert cloud in CLOUD_NAMES
    endpoints = endpoints_for(cloud)  # type: ignore[arg-type]
    assert endpoints.login_url == login
    assert endpoints.graph_v1 == f"{graph}/v1.0"
    assert endpoints.graph_scope == f"{graph}/.default"
    assert endpoints.known_to_msal


def test_custom_endpoints_drop_trailing_slashes_and_skip_msal_discovery() -> None:
    endpoints = endpoints_for(CloudEndpoints("https://login.example/", "https://graph.example/"))
    tid = "11111111-2222-3333-4444-555555555555"
    assert endpoints.authority(tid) == f"https://login.example/{tid}"
    assert endpoints.v2_issuer(tid) == f"https://login.example/{tid}/v2.0"
    assert endpoints.openid_configuration_url(tid) == (
        f"https://login.example/{tid}/v2.0/.well-known/openid-configuration"
    )
    assert endpoints.graph_v1 == "https://graph.example/v1.0"
    assert not endpoints.known_to_msal
