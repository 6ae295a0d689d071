"""Sends N messages one request at a time and reports which the SDK sent.

Usage: rate_limited.py DSN N
"""
import json
import sys

import sentry_sdk

dsn, n = sys.argv[1], int(sys.argv[2])
sentry_sdk.init(dsn=dsn, default_integrations=False, send_client_reports=False)
ids = []
for i in range(n):
    ids.append(sentry_sdk.capture_message("burst message %d" % i))
    sentry_sdk.flush(timeout=5)
print(json.dumps(ids))
