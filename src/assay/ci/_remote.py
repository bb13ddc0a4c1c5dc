"""Which credentials a remote's URL needs in CI (fsspec reads them from the environment)."""

from __future__ import annotations

_BY_SCHEME: dict[str, tuple[str, ...]] = {
    "s3": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "s3a": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "gs": ("GOOGLE_APPLICATION_CREDENTIALS",),
    "gcs": ("GOOGLE_APPLICATION_CREDENTIALS",),
    "az": ("AZURE_STORAGE_CONNECTION_STRING",),
    "abfs": ("AZURE_STORAGE_CONNECTION_STRING",),
    "abfss": ("AZURE_STORAGE_CONNECTION_STRING",),
    "adl": ("AZURE_STORAGE_CONNECTION_STRING",),
}


def scheme_of(url: str | None) -> str | None:
    """``s3`` for ``s3://bucket/x``; None for a local path or no remote."""
    if url is None or "://" not in url:
        return None
    return url.split("://", 1)[0].lower()


def secret_names(url: str | None) -> tuple[str, ...]:
    """The environment variables a CI job must get as secrets to reach ``url``."""
    scheme = scheme_of(url)
    return _BY_SCHEME.get(scheme, ()) if scheme is not None else ()


def is_local(url: str | None) -> bool:
    """A remote that is a folder on this machine, which a CI runner cannot reach."""
    return url is not None and ("://" not in url or url.startswith("file://"))
