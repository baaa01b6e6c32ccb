"""Typed settings, read once from ``GATEWAY_*`` environment variables.

This is the only module that reads the environment; everything else receives a
:class:`Settings` value.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_VAR_DIR = Path("var")


class Settings(BaseSettings):
    """Process configuration (see the operator contract in the README)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", frozen=True, extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_VAR_DIR}/gateway.db",
        description="SQLAlchemy URL; postgresql+psycopg://... in production.",
    )
    secret_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated encryption keys, newest first (URL-safe base64, 32 bytes).",
    )
    var_dir: Path = Field(
        default=DEFAULT_VAR_DIR, description="Where SQLite and its key file live."
    )
    public_url: str = Field(default="http://127.0.0.1:8000", description="External base URL.")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    page_size_max: int = Field(default=500, ge=1)
    deactivation_threshold_share: float = Field(default=0.10, ge=0.0, le=1.0)
    deactivation_threshold_min_users: int = Field(default=10, ge=0)
    log_level: str = "INFO"

    # -- Graph pull sync (issue 3) --
    sync_scheduler_enabled: bool = Field(
        default=True, description="Run scheduled Graph syncs in this process."
    )
    sync_scheduler_tick_seconds: float = Field(default=30.0, gt=0)
    sync_lease_seconds: float = Field(
        default=120.0, ge=3, description="A crashed process's tenant is taken over after this."
    )
    sync_backstop_hours: float = Field(
        default=24.0, gt=0, description="A full reconciliation runs at least this often."
    )
    graph_retry_budget_seconds: float = Field(default=300.0, ge=0)
    graph_timeout_seconds: float = Field(default=60.0, gt=0)
    # The standard variables for a private CA (custom Entra/Graph endpoints).
    ca_bundle: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "ca_bundle"),
    )

    # SCIM server (issue 4); request bodies reuse max_body_bytes.
    scim_filter_max_length: int = Field(default=4096, ge=64)
    scim_filter_max_depth: int = Field(default=16, ge=1)
    scim_max_count: int = Field(default=1000, ge=1, description="Largest SCIM page.")
    scim_bulk_max_operations: int = Field(default=1000, ge=1)
    scim_rate_limit_per_second: float = Field(
        default=1000.0, gt=0, description="Per tenant; Entra sends at most about 25/s."
    )
    scim_rate_limit_burst: int = Field(default=2000, ge=1)
    scim_identity_apply_delay_seconds: float = Field(
        default=2.0, ge=0, le=60, description="Pushes gathered into one identity apply."
    )

    # --- SSO bridge at /user/external (issue 5) ---
    sso_return_to_allowed: str = Field(
        default="",
        description=(
            "Comma-separated URL prefixes (scheme://host[:port]/path) a sign-in may return to; "
            "anything else lands on the gateway's own signed-in page."
        ),
    )
    sso_session_idle_minutes: int = Field(default=60, ge=1, le=24 * 60)
    sso_session_absolute_hours: int = Field(default=12, ge=1, le=24 * 30)
    sso_clock_skew_seconds: int = Field(default=120, ge=0, le=300)
    sso_bridge_token_minutes: int = Field(default=10, ge=1, le=60)
    sso_bridge_audience: str = Field(
        default="timus", description="The `aud` of the gateway's own ID tokens."
    )

    def sso_return_to_prefixes(self) -> list[str]:
        """The configured return_to allow-list (empty: only the gateway's own page)."""
        return [part.strip() for part in self.sso_return_to_allowed.split(",") if part.strip()]

    @field_validator("public_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secret_key_list(self) -> list[str]:
        """The configured encryption keys, newest first (empty when unset)."""
        if self.secret_keys is None:
            return []
        raw = self.secret_keys.get_secret_value()
        return [part.strip() for part in raw.split(",") if part.strip()]


def load_settings() -> Settings:
    """Read the settings from the environment (call once, at start-up)."""
    return Settings()
