"""Captures real sentry-sdk events for the grouping corpus (see ../README.md).

Run with a Python that has sentry-sdk installed:

    python capture_python.py OUT_DIR

Each scenario runs in its own process: the script writes a small application
package (`shop`) into a scratch directory, optionally padded with blank lines so
the same code sits on other line numbers, makes that directory the project root
(so sentry-sdk marks its frames in-app), triggers the scenario and writes the
event payload exactly as the SDK would send it (the envelope's event item).
"""

import json
import os
import subprocess
import sys
import shutil

MODELS = '''
def load_user(data):
    return data["user_id"]


def parse_quantity(raw):
    return int(raw)


def total(items):
    return sum(items)


def walk(node, depth):
    if depth == 0:
        raise LookupError("tree too deep below " + node)
    return walk(node, depth - 1)
'''

VIEWS = '''
from shop.models import load_user, parse_quantity, total, walk


def profile(request):
    return load_user(request)


def order(request):
    return parse_quantity(request["quantity"])


def basket(request):
    return total(request["items"])


def tree(request):
    return walk(request["root"], request["depth"])


def profile_or_fail(request):
    try:
        return load_user(request)
    except KeyError as e:
        raise RuntimeError("could not load profile for request " + str(id(request))) from e


def warm_cache():
    import sentry_sdk
    sentry_sdk.capture_message("Cache warmup finished with errors")


def warm_index():
    import sentry_sdk
    sentry_sdk.capture_message("Cache warmup finished with errors")
'''


def write_app(root, pad):
    pkg = os.path.join(root, "shop")
    os.makedirs(pkg, exist_ok=True)
    with open(os.path.join(pkg, "__init__.py"), "w") as f:
        f.write("")
    for name, body in (("models.py", MODELS), ("views.py", VIEWS)):
        with open(os.path.join(pkg, name), "w") as f:
            f.write("\n" * pad + body)


def run_scenario(name, out_path, pad):
    # A fixed root keeps regenerated fixtures comparable; scenarios run one at a time.
    root = "/tmp/shop-app"
    shutil.rmtree(root, ignore_errors=True)
    write_app(root, pad)
    os.chdir(root)
    sys.path.insert(0, root)

    import logging

    import sentry_sdk
    from sentry_sdk.transport import Transport

    captured = []

    class DumpTransport(Transport):
        def capture_envelope(self, envelope):
            for item in envelope.items:
                if item.headers.get("type") == "event":
                    captured.append(item.get_bytes())

    sentry_sdk.init(
        dsn="https://e12d836b15bb49d7bbf99e64295d995b@o1.ingest.example.com/42",
        transport=DumpTransport,
        release="shop@1.4.2",
        environment="production",
        server_name="web-1",
        attach_stacktrace=name.startswith("attach_"),
        # The driver (this file) is not part of the application.
        in_app_exclude=["__main__"],
    )

    from shop import views

    def capture(fn, request):
        try:
            fn(request)
        except Exception:
            sentry_sdk.capture_exception()

    if name == "keyerror":
        capture(views.profile, {"name": "x"})
    elif name.startswith("parse_"):
        capture(views.order, {"quantity": name.split("_", 1)[1]})
    elif name == "typeerror":
        capture(views.basket, {"items": ["1", 2]})
    elif name == "chained":
        capture(views.profile_or_fail, {"name": "x"})
    elif name.startswith("recursion_"):
        capture(views.tree, {"root": "node-" + name, "depth": int(name.split("_")[1])})
    elif name == "message_a":
        sentry_sdk.capture_message(
            "Payment 4711 failed for alice@example.com from 10.0.0.5 after 3012ms "
            "(request 3f2a1b9c-8d7e-4f6a-9b5c-4d3e2f1a0b9c at 2024-05-01T12:00:00Z)"
        )
    elif name == "message_b":
        sentry_sdk.capture_message(
            "Payment 98 failed for bob.smith@example.org from 2001:db8::17 after 17ms "
            "(request 9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b at 2024-06-30T08:15:42.123Z)"
        )
    elif name == "message_other":
        sentry_sdk.capture_message("Inventory sync failed for warehouse 4")
    elif name.startswith("logging_"):
        user = {"logging_a": "u-42", "logging_b": "u-9001"}[name]
        shard = {"logging_a": 3, "logging_b": 17}[name]
        logging.getLogger("shop.accounts").error("User %s not found in shard %d", user, shard)
    elif name == "fingerprint_custom_typeerror":
        with sentry_sdk.new_scope() as scope:
            scope.fingerprint = ["database-unavailable"]
            capture(views.basket, {"items": ["1", 2]})
    elif name.startswith("fingerprint_"):
        fingerprint = {
            "fingerprint_default_only": ["{{ default }}"],
            "fingerprint_hybrid": ["payment-gateway", "{{ default }}"],
            "fingerprint_custom_keyerror": ["database-unavailable"],
        }[name]
        with sentry_sdk.new_scope() as scope:
            scope.fingerprint = fingerprint
            capture(views.profile, {"name": "x"})
    elif name == "attach_cache":
        views.warm_cache()
    elif name == "attach_index":
        views.warm_index()
    else:
        raise SystemExit("unknown scenario " + name)

    sentry_sdk.flush()
    assert len(captured) == 1, (name, len(captured))
    event = json.loads(captured[0])
    with open(out_path, "w") as f:
        json.dump(event, f, indent=1, sort_keys=True)
        f.write("\n")


SCENARIOS = [
    ("keyerror", 0, "py_keyerror.json"),
    ("keyerror", 7, "py_keyerror_moved.json"),
    ("parse_abc", 0, "py_parse_abc.json"),
    ("parse_x17", 3, "py_parse_x17.json"),
    ("typeerror", 0, "py_typeerror.json"),
    ("chained", 0, "py_chained.json"),
    ("chained", 4, "py_chained_moved.json"),
    ("recursion_3", 0, "py_recursion_3.json"),
    ("recursion_9", 0, "py_recursion_9.json"),
    ("message_a", 0, "py_message_a.json"),
    ("message_b", 0, "py_message_b.json"),
    ("message_other", 0, "py_message_other.json"),
    ("logging_a", 0, "py_logging_a.json"),
    ("logging_b", 0, "py_logging_b.json"),
    ("fingerprint_default_only", 0, "py_fingerprint_default_only.json"),
    ("fingerprint_hybrid", 0, "py_fingerprint_hybrid.json"),
    ("fingerprint_custom_keyerror", 0, "py_fingerprint_custom_keyerror.json"),
    ("fingerprint_custom_typeerror", 0, "py_fingerprint_custom_typeerror.json"),
    ("attach_cache", 0, "py_attach_cache.json"),
    ("attach_index", 0, "py_attach_index.json"),
]


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        run_scenario(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    out_dir = os.path.abspath(sys.argv[1])
    for name, pad, file_name in SCENARIOS:
        subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--one", name,
             os.path.join(out_dir, file_name), str(pad)],
            check=True,
        )


if __name__ == "__main__":
    main()
