// Generates the JavaScript corpus of the source map benchmark (issue 18) with the real
// @sentry/node: the bundle of `crates/mesher-protocol/tests/sourcemaps` (esbuild-minified,
// marked by `sentry-cli sourcemaps inject`) throws, and every envelope the SDK would send is
// kept, in `mesher_bench::corpus`'s framing (a length line, the envelope, a newline).
//
//     NODE_PATH=~/.cache/mesher-tools/js/node_modules node generate_js.js [OUTPUT]
//
// Its events carry the bundle's debug ID in `debug_meta`, so a server with that bundle's map
// uploaded maps their frames; one without it keeps them as sent.
'use strict';

const fs = require('fs');
const path = require('path');
const Sentry = require('@sentry/node');

const EVENTS = 50;
const bundle = path.resolve(__dirname, '../../mesher-protocol/tests/sourcemaps/app.min.js');
const out = process.argv[2] || path.join(__dirname, 'node-sdk-sourcemapped.envelopes');

async function main() {
  const captured = [];
  Sentry.init({
    dsn: 'https://e12d836b15bb49d7bbf99e64295d995b@o1.ingest.example.com/42',
    release: 'shop@1.0',
    environment: 'production',
    defaultIntegrations: false,
    transport: (options) =>
      Sentry.createTransport(options, async (request) => {
        captured.push(Buffer.from(request.body));
        return { statusCode: 200 };
      }),
  });
  global.window = global;
  require(bundle);
  for (let i = 0; i < EVENTS; i++) {
    try {
      window.runCheckout();
    } catch (err) {
      Sentry.captureException(err, { tags: { attempt: String(i % 7) } });
    }
  }
  await Sentry.flush(5000);
  if (captured.length !== EVENTS) throw new Error(`${captured.length} envelopes`);
  const parts = ['# @sentry/node 11.12.0 running the source map test bundle; see generate_js.js\n'];
  for (const envelope of captured) {
    parts.push(`${envelope.length}\n`, envelope, '\n');
  }
  fs.writeFileSync(out, Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
