"""Sends events with the real sentry-sdk on demand, for the browser test of the Live page.

Usage: live_events.py DSN

Prints {"ready": true} once initialized; then, for each line of standard input (a JSON object
{"message": ..., "level": ...}), captures that message, waits until the SDK has sent it, and
prints {"id": "<event id>"}.
"""
import json
import sys

import sentry_sdk

sentry_sdk.init(
    dsn=sys.argv[1],
    release="shop@4.0.0",
    environment="production",
    default_integrations=False,
)
print(json.dumps({"ready": True}), flush=True)

for line in sys.stdin:
    request = json.loads(line)
    event_id = sentry_sdk.capture_message(request["message"], level=request["level"])
    sentry_sdk.flush(timeout=10)
    print(json.dumps({"id": event_id}), flush=True)
