//! Mesher's load generator and the pieces its micro-benchmarks share.
//!
//! A run, as `mesher-bench run` drives it:
//!
//! 1. [`corpus`] reads real SDK envelopes (`corpus/python-sdk.envelopes`, written by the Python
//!    `sentry-sdk` through `corpus/generate.py`) and turns each into a [`corpus::Template`]: the
//!    bytes plus the offsets of the event id and the timestamps.
//! 2. [`load`] replays the templates round-robin over `C` keep-alive HTTP/1.1 connections, each
//!    request with a fresh event id (so the server's idempotency on event ids does not turn the
//!    replay into duplicates) and the current time, as fast as the server answers or at a fixed
//!    rate. Every response is timed and counted by status.
//! 3. [`measure`] reads what the server cannot report about itself from outside the request
//!    path: peak RSS and CPU time from `/proc`, and the events and bytes in the database.
//! 4. [`report`] turns it all into one [`report::Report`], printed as a table or JSON.
//!
//! With `--subscribers`, [`subscribers`] opens live stream WebSockets before the load (filters
//! from [`fanout::mix`]), reads them during it, and [`fanout`] checks that each received exactly
//! the acknowledged events its filters select, in commit order, and how fast.
//!
//! `mesher-bench soak` ([`soak`]) holds a fixed rate for half an hour with live subscribers
//! ([`soak_streams`]) and an alert webhook receiver ([`webhook_sink`]), samples each node
//! ([`node_probe`]) and judges the minutes ([`flatness`]).
//!
//! Besides runs, [`seed`] fills a project with a million synthetic events through the store and
//! [`queries`] times the store's list, search and dashboard reads on it.
//!
//! The generator shares the machine with the server, so it does as little as it can while the
//! clock runs: a render is a copy plus a few patched bytes, gzip bodies are compressed before
//! the clock starts whenever the number of events is known, and its own CPU time is reported.
#![warn(missing_docs)]

pub mod corpus;
pub mod fanout;
pub mod flatness;
pub mod load;
pub mod measure;
pub mod node_probe;
pub mod queries;
pub mod report;
pub mod seed;
pub mod soak;
pub mod soak_streams;
pub mod stats;
pub mod subscribers;
pub mod webhook_sink;
