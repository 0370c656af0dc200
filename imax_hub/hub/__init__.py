"""Everything that talks to the Hugging Face Hub: leaderboard submissions and the gated dataset copy.

Nothing here uploads per-sample text or image bytes; every upload is a dry run unless asked for.
"""

from __future__ import annotations

import re

from imax_hub.errors import ImaxError


def check_repo_id(repo_id: str, what: str) -> str:
    """``ORG/NAME`` as the Hub spells repo ids, or a clear error naming the option."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise ImaxError(f"{what} {repo_id!r} is not a Hub repo id: {exc}") from None
    if repo_id.count("/") != 1:
        raise ImaxError(f"{what} must be ORG/NAME (a namespace and a name), not {repo_id!r}")
    return repo_id


def check_url(url: str | None, what: str) -> str | None:
    if url is not None and not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", url):
        raise ImaxError(f"{what} must be an http(s) URL, not {url!r}")
    return url


def hub_api(endpoint: str | None = None, token: str | None = None):
    """An ``HfApi`` for ``endpoint`` (default: ``HF_ENDPOINT`` or huggingface.co) and ``token`` (default: login)."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint, token=token)
