//! The operations layer: the use cases that the API, the dashboard and the CLI share, each
//! written once.
//!
//! Every function takes where it runs ([`Ops`]), who acts ([`Actor`]) and its inputs. It checks
//! the actor's permission itself, does the work (in one store transaction where the store offers
//! one), and makes its side effects in one place: dropping this node's key cache when a project
//! or key changes, announcing issue changes on the cluster bus. Front-ends only translate: form
//! fields, JSON bodies and command-line flags in, [`OpsError`] out as their own errors.

mod access;
pub mod alerts;
mod error;
pub mod issues;
pub mod members;
pub mod orgs;
pub mod projects;
pub mod tokens;

use mesher_store::Store;

pub use access::{Actor, Denied, check};
pub use error::OpsError;

use crate::cluster::IssueEvent;
use crate::state::AppState;

/// Where an operation runs.
#[derive(Clone, Copy)]
pub enum Ops<'a> {
    /// In a serving node: its caches and its cluster bus see the changes at once.
    Node(&'a AppState),
    /// On the bare store, as the CLI runs: no cache here to drop and no bus to announce on.
    /// Serving nodes notice project and key changes through the store's config epoch.
    Offline(&'a dyn Store),
}

impl<'a> Ops<'a> {
    /// The store.
    pub fn store(&self) -> &'a dyn Store {
        match self {
            Ops::Node(state) => state.store(),
            Ops::Offline(store) => *store,
        }
    }

    /// After a project's settings or keys changed: ingestion on this node applies the change
    /// now, other nodes within the config epoch's check interval.
    fn projects_changed(&self) {
        if let Ops::Node(state) = self {
            state.cache().invalidate();
        }
    }

    /// Tells every node's live streams that alerts fired.
    fn announce_alerts(&self, alerts: Vec<(i64, i64)>) {
        if let Ops::Node(state) = self {
            state
                .bus()
                .announce_alerts(&state.cluster().identity().name, alerts);
        }
    }

    /// Tells every node (live streams, alerts) that issues changed.
    fn announce(&self, issues: Vec<IssueEvent>) {
        if let Ops::Node(state) = self {
            state
                .bus()
                .announce_issues(&state.cluster().identity().name, issues);
        }
    }
}

/// A denial on a resource named `what`: a non-member is told it does not exist.
fn hidden(what: &'static str) -> impl Fn(Denied) -> OpsError {
    move |denied| match denied {
        Denied::NotMember => OpsError::NotFound(what),
        other => OpsError::Denied(other),
    }
}

#[cfg(test)]
mod tests;
