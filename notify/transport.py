"""A JSON POST over HTTP(S) with a timeout, for the webhook and the SMS gateway: the answer's status and body, or a
DeliveryFailed saying why (Unreachable, Timeout, Refused for a status outside 2xx; redirects are not followed)."""
from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping

from notify.errors import Refused, Timeout, Unreachable


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 - urllib's signature
        return None  # a 3xx answer is an HTTPError: the message was not taken


def opener(proxy_url: str | None = None) -> urllib.request.OpenerDirector:
    """An opener that follows no redirect and uses `proxy_url` for http and https, or no proxy (the environment's
    proxy settings are not used)."""
    proxies = {} if proxy_url is None else {"http": proxy_url, "https": proxy_url}
    return urllib.request.build_opener(urllib.request.ProxyHandler(proxies), _NoRedirect())


def post_json(open_: urllib.request.OpenerDirector, channel: str, url: str, body: bytes, headers: Mapping[str, str],
              timeout_s: float, address: str | None = None) -> tuple[int, bytes]:
    """POST `body` (JSON) to url; (status, answer body) for a 2xx answer. timeout_s: to connect, and between bytes."""
    who = address or url
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with open_.open(request, timeout=timeout_s) as response:
            return response.status, response.read(65536)
    except urllib.error.HTTPError as e:
        text = e.read(500).decode("utf-8", "replace").strip() if e.fp is not None else ""
        raise Refused(channel, who, e.code, f"HTTP {e.code} {e.reason}" + (f": {text[:200]}" if text else "")) \
            from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, (TimeoutError, socket.timeout)):
            raise Timeout(channel, who, f"no answer within {timeout_s:g} s") from None
        raise Unreachable(channel, who, f"cannot connect: {e.reason}") from None
    except (TimeoutError, socket.timeout):
        raise Timeout(channel, who, f"no answer within {timeout_s:g} s") from None
    except http.client.HTTPException as e:
        raise Unreachable(channel, who, f"broken HTTP answer: {type(e).__name__}: {e}") from None
    except OSError as e:
        raise Unreachable(channel, who, f"connection failed: {e}") from None
