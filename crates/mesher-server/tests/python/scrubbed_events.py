"""Sends events carrying secrets with the real sentry-sdk and prints their ids as JSON
(issue 11: server-side scrubbing).

Usage: scrubbed_events.py DSN

The SDK scrubs a denylist of keys itself before sending; this script gives it an empty one so
that the password, the `Authorization` and `Cookie` headers and the card number reach the
server as an application without that scrubber would send them: what the server stores is
then the server's doing.
"""
import json
import sys

import sentry_sdk
from sentry_sdk.scrubber import EventScrubber

SECRET = "hunter2-sesame"
CARD = "4111 1111 1111 1111"

sentry_sdk.init(
    dsn=sys.argv[1],
    default_integrations=False,
    send_default_pii=True,
    include_local_variables=True,
    event_scrubber=EventScrubber(denylist=[], send_default_pii=True),
)
ids = {}


def with_request(event, hint):
    # What a web framework integration adds: the request being handled.
    event["request"] = {
        "method": "POST",
        "url": "https://shop.example/checkout",
        "headers": {
            "Authorization": "Bearer tok-abc123secret",
            "Cookie": "sessionid=sess-xyz789; theme=dark",
            "User-Agent": "shop-client/1.0",
        },
        "data": {"username": "ann", "password": SECRET},
    }
    return event


def charge(card_number, amount):
    password = SECRET  # noqa: F841 (a local variable the SDK sends with the frame)
    raise ValueError("card " + card_number + " declined")


with sentry_sdk.new_scope() as scope:
    scope.add_event_processor(with_request)
    scope.set_extra("password", SECRET)
    scope.set_extra("payment", {"card": CARD, "amount": 12})
    scope.set_user({"id": "u-1", "ip_address": "203.0.113.9"})
    try:
        charge(CARD, 12)
    except ValueError:
        ids["exception"] = sentry_sdk.capture_exception()
    ids["message"] = sentry_sdk.capture_message("payment with " + CARD + " failed")

sentry_sdk.flush(timeout=10)
print(json.dumps(ids))
