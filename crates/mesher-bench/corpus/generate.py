"""Generates Mesher's benchmark corpus with the real Python sentry-sdk.

Usage: generate.py [OUTPUT]   (default: python-sdk.envelopes next to this script)

Run it with the test virtualenv (scripts/test creates it):

    ~/.cache/mesher-venv/bin/python crates/mesher-bench/corpus/generate.py

The SDK is configured as an application would configure it (default integrations, local
variables and source context on) and the app code below raises and logs the way a small web
shop does. A custom transport captures every envelope the SDK would send and keeps those that
carry an event, serialized exactly as the SDK's HTTP transport serializes them, before
compression.

Output framing, read by `mesher_bench::corpus`: for each envelope, its length in bytes as
decimal ASCII on a line of its own, then the envelope bytes, then a newline. Lines starting
with `#` before the first length are comments.

The output changes on every run (event ids, timestamps); the choices of scenario, names and
sizes are seeded, so the shape of the corpus is stable.
"""

import logging
import os
import random
import sys

import sentry_sdk
from sentry_sdk.transport import Transport

SEED = 20240607
TYPICAL_EVENTS = 190
LARGE_EVENTS = 10

rng = random.Random(SEED)
captured = []


class CaptureTransport(Transport):
    """Keeps the envelopes the SDK hands over instead of sending them."""

    def capture_envelope(self, envelope):
        if any(item.type == "event" for item in envelope.items):
            captured.append(envelope.serialize())


WORDS = (
    "order cart checkout payment invoice customer shipping address warehouse sku price "
    "discount coupon currency refund session token request response timeout retry queue "
    "worker database query index cache miss hit render template user account email "
    "password reset region zone replica primary latency error warning status pending"
).split()


def text(n_bytes):
    """Pseudo-random prose of about `n_bytes`: compresses like real text, not like `x` * n."""
    out, size = [], 0
    while size < n_bytes:
        word = rng.choice(WORDS)
        if rng.random() < 0.08:
            word += str(rng.randint(0, 99999))
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:n_bytes]


def record_blob(n_bytes):
    """A JSON-ish export line, the kind of thing apps keep in a local before failing."""
    rows = []
    size = 0
    while size < n_bytes:
        row = '{"id":%d,"sku":"%s-%d","qty":%d,"note":"%s"}' % (
            rng.randint(1, 10**6),
            rng.choice(WORDS).upper(),
            rng.randint(100, 999),
            rng.randint(1, 20),
            text(rng.randint(20, 80)),
        )
        rows.append(row)
        size += len(row) + 1
    return "[" + ",".join(rows) + "]"


# --- The application -------------------------------------------------------------------


class PaymentDeclined(Exception):
    pass


class InventoryError(Exception):
    pass


class TemplateError(Exception):
    pass


PRICES = {"SKU-%d" % i: round(rng.uniform(1, 500), 2) for i in range(40)}


def parse_amount(raw):
    return int(raw)


def apply_coupon(total, coupon):
    rates = {"SPRING10": 0.1, "VIP": 0.25}
    return total * (1 - rates[coupon])


def charge(card, amount_cents):
    provider = {"name": "acme-pay", "region": rng.choice(["eu-west-1", "us-east-1"])}
    if card.endswith("0000"):
        raise PaymentDeclined("card declined by %s: insufficient funds" % provider["name"])
    return {"status": "ok", "amount": amount_cents}


def checkout(order):
    items = order["items"]
    total = sum(PRICES.get(sku, 0) * qty for sku, qty in items)
    try:
        cents = parse_amount(order["amount_text"])
    except ValueError as exc:
        raise RuntimeError("checkout failed for order %s" % order["id"]) from exc
    if order.get("coupon"):
        total = apply_coupon(total, order["coupon"])
    return charge(order["card"], cents)


def reserve(stock, sku, qty):
    available = stock[sku]
    if available < qty:
        raise InventoryError("only %d of %s left, wanted %d" % (available, sku, qty))
    stock[sku] = available - qty


def render(node, depth, context):
    label = "node-%d" % depth
    if depth == 0:
        return context["title"] / len(node)
    return render(node + [label], depth - 1, context)


def handle_request(request):
    user_id = request["headers"].get("X-User")
    limit = request["query"]["limit"]
    return sum(range(limit)) + user_id


def load_profile(cache, user_id):
    try:
        return cache[user_id]
    except KeyError:
        # An error while handling an error: Python chains it implicitly (__context__).
        return cache.fetch_remote(user_id)


def import_batch(records, batch_no):
    """Deep stack with big locals: the source of real 100-400 KB events."""
    payload = record_blob(rng.randint(8_000, 24_000))
    if batch_no == 0:
        raise ValueError("batch rejected: %d records failed validation" % len(records))
    return import_batch(records[1:], batch_no - 1)


def validate_all(forms):
    errors = []
    for form in forms:
        try:
            if not form.get("email"):
                raise ValueError("missing email in form %s" % form["id"])
        except ValueError as exc:
            errors.append(exc)
    raise ExceptionGroup("%d forms failed validation" % len(errors), errors)


# --- Scenarios: each produces one event ---------------------------------------------------


def random_order():
    return {
        "id": "ord_%d" % rng.randint(10**5, 10**6),
        "items": [(rng.choice(list(PRICES)), rng.randint(1, 5)) for _ in range(rng.randint(1, 6))],
        "amount_text": rng.choice(["12,50", "1 299", "n/a", "4999"]),
        "coupon": rng.choice([None, "SPRING10", "VIP", "BOGUS"]),
        "card": rng.choice(["4242424242424242", "4000000000000000"]),
    }


def scenario_checkout():
    try:
        checkout(random_order())
    except Exception:
        sentry_sdk.capture_exception()


def scenario_inventory():
    stock = {"SKU-%d" % i: rng.randint(0, 3) for i in range(8)}
    try:
        reserve(stock, "SKU-%d" % rng.randint(0, 12), rng.randint(1, 6))
    except Exception:
        sentry_sdk.capture_exception()


def scenario_render():
    try:
        render([], rng.randint(5, 30), {"title": "Order summary"})
    except Exception:
        sentry_sdk.capture_exception()


def scenario_request():
    request = {
        "method": rng.choice(["GET", "POST"]),
        "path": "/api/orders/%d" % rng.randint(1, 9999),
        "headers": {"X-User": rng.choice([None, "user-%d" % rng.randint(1, 500)])},
        "query": {"limit": rng.choice([10, "50"])},
    }
    try:
        handle_request(request)
    except Exception:
        sentry_sdk.capture_exception()


class RemoteCache(dict):
    pass


def scenario_profile():
    try:
        load_profile(RemoteCache(), "user-%d" % rng.randint(1, 500))
    except Exception:
        sentry_sdk.capture_exception()


def scenario_group():
    forms = [{"id": i, "email": rng.choice(["", "a@example.com"])} for i in range(rng.randint(2, 4))]
    forms[0]["email"] = ""
    try:
        validate_all(forms)
    except Exception:
        sentry_sdk.capture_exception()


def scenario_message():
    level = rng.choice(["debug", "info", "warning", "warning", "error", "error", "fatal"])
    template = rng.choice(
        [
            "cache miss rate at %d%% on replica %s",
            "payment provider timeout after %d ms (%s)",
            "queue depth %d exceeds threshold on %s",
        ]
    )
    message = template % (rng.randint(1, 5000), rng.choice(["db-1", "db-2", "eu-west-1"]))
    sentry_sdk.capture_message(message, level=level)


def scenario_log():
    log = logging.getLogger(rng.choice(["shop.checkout", "shop.worker", "shop.api"]))
    if rng.random() < 0.5:
        log.error("order %s stuck in state %s for %d s", "ord_%d" % rng.randint(1, 9999),
                  rng.choice(["pending", "charging"]), rng.randint(30, 900))
    else:
        try:
            apply_coupon(100, "BOGUS")
        except KeyError:
            log.exception("coupon lookup failed for cart %d", rng.randint(1, 9999))


def scenario_large():
    records = [record_blob(rng.randint(200, 600)) for _ in range(30)]
    with sentry_sdk.new_scope() as scope:
        scope.set_extra("last_response", text(rng.randint(20_000, 100_000)))
        scope.set_extra("import_job", {"id": rng.randint(1, 999), "source": "s3://exports/daily"})
        try:
            import_batch(records, rng.randint(6, 12))
        except Exception:
            sentry_sdk.capture_exception()


TYPICAL = [
    (scenario_checkout, 5),
    (scenario_inventory, 3),
    (scenario_render, 2),
    (scenario_request, 3),
    (scenario_profile, 2),
    (scenario_group, 1),
    (scenario_message, 4),
    (scenario_log, 3),
]


def add_context():
    """Breadcrumbs, tags, user and contexts, varied per event like a busy app's scopes."""
    scope = sentry_sdk.get_isolation_scope()
    scope.clear_breadcrumbs()
    for _ in range(rng.choice([0, 2, 5, 10, 20, 40])):
        kind = rng.random()
        if kind < 0.4:
            sentry_sdk.add_breadcrumb(
                category="http",
                type="http",
                data={
                    "method": rng.choice(["GET", "POST"]),
                    "url": "https://api.example.com/v1/%s/%d" % (rng.choice(WORDS), rng.randint(1, 999)),
                    "status_code": rng.choice([200, 200, 201, 404, 500]),
                },
            )
        elif kind < 0.7:
            sentry_sdk.add_breadcrumb(category="query", message="SELECT * FROM %s WHERE id = %%s" % rng.choice(WORDS))
        else:
            sentry_sdk.add_breadcrumb(category="ui.click", message=text(rng.randint(20, 80)), level="info")
    for key in rng.sample(["region", "feature", "tenant", "browser", "plan", "shard"], rng.randint(0, 5)):
        sentry_sdk.set_tag(key, "%s-%d" % (rng.choice(WORDS), rng.randint(1, 20)))
    if rng.random() < 0.7:
        n = rng.randint(1, 500)
        sentry_sdk.set_user({"id": "user-%d" % n, "email": "user%d@example.com" % n, "ip_address": "{{auto}}"})
    else:
        sentry_sdk.set_user(None)
    if rng.random() < 0.3:
        sentry_sdk.set_context("order", {"id": rng.randint(1, 10**6), "total": rng.uniform(1, 900)})


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "python-sdk.envelopes"
    )
    # Log records reach the SDK's logging integration; nothing needs printing.
    logging.getLogger().addHandler(logging.NullHandler())
    sentry_sdk.init(
        dsn="http://0123456789abcdef0123456789abcdef@127.0.0.1:9/1",
        transport=CaptureTransport,
        release="shop@3.2.1",
        environment="production",
        server_name="web-03",
        send_client_reports=False,
    )
    scenarios = [s for s, weight in TYPICAL for _ in range(weight)]
    plan = [rng.choice(scenarios) for _ in range(TYPICAL_EVENTS)] + [scenario_large] * LARGE_EVENTS
    rng.shuffle(plan)
    for scenario in plan:
        # Some runs of a scenario succeed (the order was fine): run it until it reports.
        before = len(captured)
        while len(captured) == before:
            add_context()
            scenario()
            sentry_sdk.flush(timeout=5)
    sentry_sdk.flush(timeout=5)

    with open(out, "wb") as f:
        f.write(b"# Sentry envelopes from the Python sentry-sdk %s (generate.py).\n" % sentry_sdk.VERSION.encode())
        f.write(b"# Framing: a line with the byte length, the envelope, a newline.\n")
        for envelope in captured:
            f.write(b"%d\n" % len(envelope))
            f.write(envelope)
            f.write(b"\n")
    sizes = sorted(len(e) for e in captured)
    print(
        "%d envelopes, %d bytes; median %d bytes, largest %d bytes -> %s"
        % (len(captured), sum(sizes), sizes[len(sizes) // 2], sizes[-1], out),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
