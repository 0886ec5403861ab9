"""A recording stand-in for the ``gh`` command: the few ``gh api`` calls on issue comments.

Each call is appended to ``$FAKE_GH_DIR/calls.jsonl``; the comments live in
``$FAKE_GH_DIR/comments.json`` (``{"repos/OWNER/REPO/issues/N": [comment, ...]}``), so a later
call (and a later run) sees what an earlier one wrote. Like GitHub, a listing comes in pages of
``per_page`` comments (at most ``$FAKE_GH_PAGE_SIZE``) and ``--paginate`` prints every page's
JSON array one after another; without it, only the first page. Without ``GH_TOKEN``, or with
``$FAKE_GH_DENY`` set for writes, it fails as gh does.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

STATE = Path(os.environ["FAKE_GH_DIR"])
LISTING = re.compile(r"^repos/([^/]+/[^/]+)/issues/(\d+)/comments$")
ONE = re.compile(r"^repos/([^/]+/[^/]+)/issues/comments/(\d+)$")


def fail(message: str, code: int = 1) -> None:
    print(message, file=sys.stderr)
    sys.exit(code)


def main(argv: list[str]) -> None:
    with open(STATE / "calls.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps({"argv": argv, "token": os.environ.get("GH_TOKEN", "")}) + "\n")
    if not os.environ.get("GH_TOKEN"):
        fail("gh: To use GitHub CLI in a GitHub Actions workflow, set the GH_TOKEN environment "
             "variable.", 4)  # fmt: skip
    if not argv or argv[0] != "api":
        fail(f"fake gh: only 'gh api' is implemented, not {argv}")
    method, body, paginate, endpoint = "GET", None, False, None
    args = iter(argv[1:])
    for arg in args:
        if arg == "--method":
            method = next(args)
        elif arg == "--input":
            body = json.loads(Path(next(args)).read_text(encoding="utf-8"))
        elif arg == "--paginate":
            paginate = True
        elif arg.startswith("-") or endpoint is not None:
            fail(f"fake gh: unexpected argument {arg!r}")
        else:
            endpoint = arg
    if endpoint is None:
        fail("fake gh: no endpoint")
    url = urlsplit(endpoint)
    store_path = STATE / "comments.json"
    store = json.loads(store_path.read_text()) if store_path.exists() else {}
    if method != "GET" and os.environ.get("FAKE_GH_DENY"):
        fail("gh: Resource not accessible by integration (HTTP 403)")
    listing, one = LISTING.match(url.path), ONE.match(url.path)
    if method == "GET" and listing:
        comments = store.get(url.path.removesuffix("/comments"), [])
        size = int(parse_qs(url.query).get("per_page", ["30"])[0])
        size = min(size, int(os.environ.get("FAKE_GH_PAGE_SIZE", "100")))
        pages = [comments[i : i + size] for i in range(0, len(comments), size)] or [[]]
        for page in pages if paginate else pages[:1]:
            sys.stdout.write(json.dumps(page))
        sys.stdout.write("\n")
    elif method == "POST" and listing and body is not None:
        repo, number = listing.groups()
        comment_id = 1000 + sum(len(v) for v in store.values())
        comment = {
            "id": comment_id,
            "body": body["body"],
            "user": {"login": "github-actions[bot]"},
            "html_url": f"https://github.com/{repo}/pull/{number}#issuecomment-{comment_id}",
        }
        store.setdefault(url.path.removesuffix("/comments"), []).append(comment)
        print(json.dumps(comment))
    elif method == "PATCH" and one and body is not None:
        comment_id = int(one.group(2))
        found = [c for v in store.values() for c in v if c["id"] == comment_id]
        if not found:
            fail("gh: Not Found (HTTP 404)")
        found[0]["body"] = body["body"]
        print(json.dumps(found[0]))
    else:
        fail(f"fake gh: {method} {endpoint} is not implemented")
    store_path.write_text(json.dumps(store))


if __name__ == "__main__":
    main(sys.argv[1:])
