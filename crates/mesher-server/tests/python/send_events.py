"""Sends events with the real sentry-sdk and prints their ids as JSON.

Usage: send_events.py DSN COMPRESSION   (COMPRESSION is "br" or "gzip")
"""
import json
import sys

import sentry_sdk

dsn, compression = sys.argv[1], sys.argv[2]
sentry_sdk.init(
    dsn=dsn,
    release="shop@3.2.1",
    environment="production",
    default_integrations=False,
    _experiments={"transport_compression_algo": compression},
)
ids = {}


def parse_amount(text):
    return int(text)


def checkout(text):
    try:
        parse_amount(text)
    except ValueError as exc:
        raise RuntimeError("checkout failed") from exc


try:
    checkout("12,50")
except RuntimeError:
    ids["chained"] = sentry_sdk.capture_exception()

for level in ["debug", "info", "warning", "error", "fatal"]:
    ids["message_" + level] = sentry_sdk.capture_message("cache miss rate at " + level, level=level)

# Not a level Sentry knows (issue 12, acceptance 2): the event is kept as an error.
ids["message_verbose"] = sentry_sdk.capture_message("cache miss rate at verbose", level="verbose")

sentry_sdk.add_breadcrumb(category="auth", message="user signed in", level="info")
sentry_sdk.add_breadcrumb(category="http", message="GET /cart", level="info", data={"status_code": 200})
with sentry_sdk.new_scope() as scope:
    scope.set_tag("feature", "checkout")
    scope.set_tag("region", "eu-west-1")
    scope.set_user({"id": "user-7", "email": "user7@example.com"})
    ids["with_context"] = sentry_sdk.capture_message("payment provider timeout after 3000 ms")

with sentry_sdk.new_scope() as scope:
    scope.fingerprint = ["payment-provider"]
    ids["custom_1"] = sentry_sdk.capture_message("provider A is down")
with sentry_sdk.new_scope() as scope:
    scope.fingerprint = ["payment-provider"]
    ids["custom_2"] = sentry_sdk.capture_message("provider B is down")
with sentry_sdk.new_scope() as scope:
    scope.fingerprint = ["{{ default }}", "eu"]
    ids["hybrid"] = sentry_sdk.capture_message("provider A is down")

sentry_sdk.flush(timeout=10)
print(json.dumps(ids))
