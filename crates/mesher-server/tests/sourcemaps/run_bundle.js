// Runs a minified browser bundle under the real @sentry/node and reports what it throws
// (issue 18's source map tests).
//
//     NODE_PATH=…/node_modules node run_bundle.js DSN BUNDLE RELEASE
//
// The bundle was marked by `sentry-cli sourcemaps inject`: its snippet registers its debug ID,
// which the SDK sends in `debug_meta`. Prints the event id.
'use strict';

const Sentry = require('@sentry/node');

async function main() {
  const [dsn, bundle, release] = process.argv.slice(2);
  Sentry.init({ dsn, release, defaultIntegrations: false });
  // The bundle was built for a browser page.
  global.window = global;
  require(bundle);
  let id;
  try {
    window.runCheckout();
  } catch (err) {
    id = Sentry.captureException(err);
  }
  if (!(await Sentry.flush(10000))) throw new Error('the event was not sent');
  console.log(id);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
