"""Page sizes of the admin listings."""

from __future__ import annotations

from gateway.errors import ValidationFailedError
from gateway.settings import Settings

DEFAULT_PAGE_SIZE = 100


def page_size(requested: int | None, settings: Settings) -> int:
    """The page size to use: the request's, else the default, never above the maximum."""
    if requested is None:
        return min(DEFAULT_PAGE_SIZE, settings.page_size_max)
    if requested > settings.page_size_max:
        raise ValidationFailedError(
            f"limit must be at most {settings.page_size_max}.",
            details=[{"field": "limit", "message": f"at most {settings.page_size_max}"}],
        )
    return requested
