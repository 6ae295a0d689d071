// Captures real @sentry/node events for the grouping corpus (see ../README.md).
//
//     NODE_PATH=/path/to/node_modules node capture_node.js OUT_DIR
//
// Like capture_python.py: every scenario runs in its own process against a small
// application written to a scratch directory (optionally padded with blank lines,
// or under a hashed bundle name), and the event item of the envelope the SDK
// would send is written out as is.
'use strict';

const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const APP = `
function readUser(req) {
  return req.session.user.id;
}

function allocate(n) {
  return new Array(n);
}

function walk(node, depth) {
  if (depth === 0) {
    throw new Error('tree too deep below ' + node);
  }
  return walk(node, depth - 1);
}

function connect() {
  throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
}

function handle(req) {
  try {
    connect();
  } catch (err) {
    throw new Error('request ' + req.id + ' failed', { cause: err });
  }
}

function fetchShard(id) {
  return Promise.reject(new Error('shard ' + id + ' unavailable'));
}

function queryAll(n) {
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  return Promise.any(ids.map((id) => fetchShard(id)));
}

function report(Sentry, message) {
  Sentry.captureMessage(message);
}

function audit(Sentry, message) {
  Sentry.captureMessage(message);
}

module.exports = { readUser, allocate, walk, handle, queryAll, report, audit };
`;

// Scenarios are called from one line in the driver, so the driver's own (system) frames are the
// same for all of them.
const CALLS = {
  typeerror: (app) => app.readUser({}),
  rangeerror: (app) => app.allocate(-1),
  recursion_3: (app) => app.walk('node', 3),
  recursion_9: (app) => app.walk('node', 9),
  cause: (app, pad) => app.handle({ id: 7919 + pad }),
  // Promise.any rejected by every shard: an AggregateError whose children are alike.
  any_2: (app) => app.queryAll(2),
  any_3: (app) => app.queryAll(3),
  message_a: (app, pad, Sentry) =>
    app.report(Sentry, 'Payment 4711 failed for alice@example.com after 3012ms (request 3f2a1b9c-8d7e-4f6a-9b5c-4d3e2f1a0b9c)'),
  message_b: (app, pad, Sentry) =>
    app.report(Sentry, 'Payment 98 failed for bob@example.org after 17ms (request 9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b)'),
  message_other_site: (app, pad, Sentry) =>
    app.audit(Sentry, 'Payment 4711 failed for alice@example.com after 3012ms (request 3f2a1b9c-8d7e-4f6a-9b5c-4d3e2f1a0b9c)'),
};

async function runScenario(name, outPath, pad, bundle) {
  const root = process.cwd();
  const file = path.join(root, bundle ? `dist/${bundle}` : 'src/server.js');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '\n'.repeat(pad) + APP);

  const Sentry = require('@sentry/node');
  const captured = [];
  Sentry.init({
    dsn: 'https://e12d836b15bb49d7bbf99e64295d995b@o1.ingest.example.com/42',
    release: 'web@2.0.0',
    environment: 'production',
    serverName: 'api-1',
    transport: (options) =>
      Sentry.createTransport(options, async (request) => {
        const body = typeof request.body === 'string' ? request.body : Buffer.from(request.body).toString('utf8');
        const lines = body.split('\n');
        for (let i = 1; i + 1 < lines.length; i += 2) {
          if (JSON.parse(lines[i]).type === 'event') captured.push(lines[i + 1]);
        }
        return { statusCode: 200 };
      }),
  });

  const app = require(file);
  try {
    await CALLS[name](app, pad, Sentry);
  } catch (err) {
    Sentry.captureException(err);
  }

  await Sentry.flush(2000);
  if (captured.length !== 1) throw new Error(`${name}: ${captured.length} events`);
  const event = JSON.parse(captured[0]);
  fs.writeFileSync(outPath, JSON.stringify(event, null, 1) + '\n');
}

const SCENARIOS = [
  ['typeerror', 0, '', 'node_typeerror.json'],
  ['typeerror', 5, '', 'node_typeerror_moved.json'],
  ['rangeerror', 0, '', 'node_rangeerror.json'],
  ['recursion_3', 0, '', 'node_recursion_3.json'],
  ['recursion_9', 0, '', 'node_recursion_9.json'],
  ['cause', 0, '', 'node_cause.json'],
  ['cause', 2, '', 'node_cause_moved.json'],
  ['any_2', 0, '', 'node_any_2.json'],
  ['any_3', 0, '', 'node_any_3.json'],
  ['message_a', 0, '', 'node_message_a.json'],
  ['message_b', 0, '', 'node_message_b.json'],
  ['message_other_site', 0, '', 'node_message_other_site.json'],
  ['typeerror', 0, 'main.3f2a1b9c.js', 'node_bundle_3f2a1b9c.json'],
  ['typeerror', 3, 'main.9e8d7c6b.js', 'node_bundle_9e8d7c6b.json'],
];

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--one') {
    await runScenario(args[1], args[2], Number(args[3]), args[4]);
    return;
  }
  const outDir = path.resolve(args[0]);
  for (const [name, pad, bundle, fileName] of SCENARIOS) {
    // The application lives in a fixed scratch directory; the driver runs from its node_modules
    // so that the SDK marks the driver's frames as not in-app, like any dependency.
    const root = '/tmp/node-app';
    fs.rmSync(root, { recursive: true, force: true });
    const driver = path.join(root, 'node_modules', 'grouping-capture', 'index.js');
    fs.mkdirSync(path.dirname(driver), { recursive: true });
    fs.copyFileSync(__filename, driver);
    execFileSync(process.execPath, [driver, '--one', name, path.join(outDir, fileName), String(pad), bundle], {
      cwd: root,
      stdio: 'inherit',
    });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
