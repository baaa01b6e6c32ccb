"""A tiny test browser: keeps cookies, follows redirects, fills and submits forms."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx

MAX_REDIRECTS = 20


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(Form(values.get("action", ""), values.get("method", "get").lower()))
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1].fields[values["name"]] = values.get("value", "")


def forms_of(response: httpx.Response) -> list[Form]:
    parser = _FormParser()
    parser.feed(response.text)
    return parser.forms


class Browser:
    """One browser profile: a cookie jar and the pages it went through."""

    def __init__(self) -> None:
        self.client = httpx.Client(follow_redirects=False, timeout=30.0, trust_env=False)
        self.history: list[httpx.Response] = []

    def close(self) -> None:
        self.client.close()

    def get(
        self, url: str, *, stop: Callable[[str], bool] | None = None, **kwargs: object
    ) -> httpx.Response:
        """GET ``url`` and follow redirects, stopping before a URL ``stop`` accepts."""
        response = self.client.get(url, **kwargs)  # type: ignore[arg-type]
        return self._follow(response, stop)

    def submit(
        self,
        page: httpx.Response,
        values: Mapping[str, str] | None = None,
        *,
        index: int = 0,
        stop: Callable[[str], bool] | None = None,
    ) -> httpx.Response:
        """Submit the page's ``index``-th form with ``values`` over its own fields."""
        form = forms_of(page)[index]
        target = urljoin(str(page.url), form.action or str(page.url))
        data = {**form.fields, **(values or {})}
        if form.method == "post":
            response = self.client.post(target, data=data)
        else:
            response = self.client.get(target, params=data)
        return self._follow(response, stop)

    def _follow(
        self, response: httpx.Response, stop: Callable[[str], bool] | None
    ) -> httpx.Response:
        self.history.append(response)
        for _ in range(MAX_REDIRECTS):
            if not response.is_redirect:
                return response
            location = urljoin(str(response.url), response.headers["location"])
            if stop is not None and stop(location):
                return response
            response = self.client.get(location)
            self.history.append(response)
        raise AssertionError("too many redirects")
