//! Grouping: the fingerprint that decides which issue an event joins (GROUP-01 … GROUP-03).
//!
//! Modelled on Sentry's default grouping (protocol doc A9; `sentry/grouping/strategies/
//! newstyle.py`), computed as a tree of [`Component`]s so the server can show which parts of an
//! event contributed and which did not, and why.
//!
//! Priority, first that contributes wins:
//! 1. the client's fingerprint ([`fingerprint`](self::fingerprint()) entries; `{{ default }}`
//!    expands to the automatic grouping below, `["{{ default }}"]` alone *is* it);
//! 2. the exception chain: per exception its stack trace and type, and its parameterized value
//!    when it has no contributing stack trace (so an exception without a usable stack groups by
//!    type and value);
//! 3. the stack trace of the one relevant thread (crashed, else current, else the only one with
//!    a stack), then a legacy top-level stack trace;
//! 4. the parameterized message (the template, not the formatted text);
//! 5. nothing: every such event of a project shares one issue ([`GroupingKind::Fallback`]).
//!
//! Stack traces (`stacktrace.rs`): frames contribute module or file base name, cleaned function
//! and context line (`frames.rs`), never line numbers; recursion collapses; in-app frames decide
//! when there are any. Messages ([`normalize_message`]): variable parts become placeholders.
//! The hash (`hash.rs`) covers the contributing part of the tree.
//!
//! Pure and deterministic: the same event always gets the same hash, on any machine.

mod clean;
mod component;
mod dates;
mod exception;
mod fingerprint;
mod frames;
mod hash;
mod message;
mod params;
mod stacktrace;

use serde::{Deserialize, Serialize};

pub use self::component::{Component, ComponentId, Hint};
pub(crate) use self::exception::main_of_exception_group;
use self::fingerprint::ClientKind;
pub use self::hash::HASH_HEX_LEN;
pub use self::message::normalize_message;
pub use self::stacktrace::FrameSelection;
use self::stacktrace::StackParts;
use crate::event::{Event, Stacktrace};

/// Names the grouping rules. Stored with explanations so a later Mesher can tell which rules
/// produced a stored hash.
pub const CONFIG: &str = "mesher:2026-11";

/// Which rule produced a fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupingKind {
    /// The client's fingerprint, without `{{ default }}`.
    Custom,
    /// The client's fingerprint with `{{ default }}` expanded.
    Hybrid,
    /// The exception chain, with stack frames contributing.
    ExceptionStacktrace,
    /// The exception chain's types and values: no usable stack trace.
    Exception,
    /// The stack trace of the one relevant thread (no exception).
    ThreadStacktrace,
    /// A stack trace sent outside exceptions and threads.
    Stacktrace,
    /// The message.
    Message,
    /// Nothing to group by: every such event of a project shares one issue.
    Fallback,
}

/// A fingerprint, the components it was computed from and the grouping tree behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// [`HASH_HEX_LEN`] lowercase hex characters.
    pub hash: String,
    /// The values that contributed, in order (for display; the hash also covers the tree's
    /// shape).
    pub components: Vec<String>,
    /// Which rule applied.
    pub kind: GroupingKind,
    /// Whether only in-app frames or all frames decided; `None` when no frame contributed.
    pub frames: Option<FrameSelection>,
    /// The grouping tree with the contributing values moved into `components` (they would
    /// otherwise be stored twice, at an allocation each); [`Fingerprint::tree`] puts them back.
    tree: Component,
}

/// The serialized explanation ([`Fingerprint::explanation`]).
#[derive(Serialize)]
struct Explanation<'a> {
    config: &'static str,
    hash: &'a str,
    kind: GroupingKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    frames: Option<FrameSelection>,
    components: &'a [String],
    tree: &'a Component,
}

impl Fingerprint {
    /// Everything grouping looked at, contributing or not, with reasons.
    pub fn tree(&self) -> Component {
        let mut tree = self.tree.clone();
        tree.restore_values(&mut self.components.iter().cloned());
        tree
    }

    /// Why the event grouped where it did, as JSON for storage and display:
    /// `{"config", "hash", "kind", "frames"?, "components", "tree"}`, where `tree` is the
    /// [`Component`] tree (`id`, `contributes`, `hint`?, `label`?, `value`?, `children`?), which
    /// deserializes back into a [`Component`].
    pub fn explanation(&self) -> serde_json::Value {
        // Serializing plain structs, strings and enums into a `Value` cannot fail (that needs
        // non-string map keys or a failing custom `Serialize`).
        self.with_explanation(|e| serde_json::to_value(e).expect("explanations serialize"))
    }

    /// [`Fingerprint::explanation`] as JSON text, written straight from the tree: what is
    /// stored with every event's batch, without a tree of JSON values in between.
    pub fn explanation_json(&self) -> String {
        // As above: plain structs, strings and enums cannot fail to serialize.
        self.with_explanation(|e| serde_json::to_string(e).expect("explanations serialize"))
    }

    /// Runs `f` on the explanation, which borrows the tree with its values put back.
    fn with_explanation<T>(&self, f: impl FnOnce(&Explanation<'_>) -> T) -> T {
        let tree = self.tree();
        f(&Explanation {
            config: CONFIG,
            hash: &self.hash,
            kind: self.kind,
            frames: self.frames,
            components: &self.components,
            tree: &tree,
        })
    }
}

/// What one strategy produced.
#[derive(Debug, Clone)]
struct Strategy {
    root: Component,
    kind: GroupingKind,
    frames: Option<FrameSelection>,
}

/// The fingerprint of an event.
pub fn fingerprint(event: &Event) -> Fingerprint {
    let (mut root, kind, frames) = match fingerprint::client_kind(&event.fingerprint) {
        ClientKind::Default => {
            let default = default_grouping(event);
            (default.root, default.kind, default.frames)
        }
        ClientKind::Hybrid => {
            let default = default_grouping(event);
            let root = fingerprint::fingerprint_component(event, Some(&default.root));
            (root, GroupingKind::Hybrid, default.frames)
        }
        ClientKind::Custom => (
            fingerprint::fingerprint_component(event, None),
            GroupingKind::Custom,
            None,
        ),
    };
    let (hash, components) = hash::hash(&mut root);
    Fingerprint {
        hash,
        components,
        kind,
        frames,
        tree: root,
    }
}

/// The automatic grouping: the first strategy that contributes.
fn default_grouping(event: &Event) -> Strategy {
    exception::exception_strategy(event)
        .or_else(|| thread_strategy(event))
        .or_else(|| stacktrace_strategy(event))
        .or_else(|| message::message_strategy(event))
        .unwrap_or_else(|| Strategy {
            root: Component::empty(ComponentId::Message),
            kind: GroupingKind::Fallback,
            frames: None,
        })
}

/// The stack of the one relevant thread: the crashed one, else the current one, else the only
/// one with a stack trace (Sentry's `threads` strategy; the Python SDK's `attach_stacktrace`).
fn thread_strategy(event: &Event) -> Option<Strategy> {
    let thread = event.primary_thread()?;
    let stack = stack_strategy(
        thread.stacktrace.as_ref()?,
        event,
        GroupingKind::ThreadStacktrace,
    )?;
    Some(Strategy {
        root: Component::node(ComponentId::Threads, vec![stack.root]),
        ..stack
    })
}

/// A legacy top-level stack trace (normalization moves it into a sole exception when there is
/// one, so this is for events without exceptions).
fn stacktrace_strategy(event: &Event) -> Option<Strategy> {
    stack_strategy(event.stacktrace.as_ref()?, event, GroupingKind::Stacktrace)
}

fn stack_strategy(stacktrace: &Stacktrace, event: &Event, kind: GroupingKind) -> Option<Strategy> {
    let parts = StackParts::new(stacktrace, &event.platform);
    let selection = stacktrace::selection([&parts]);
    let root = parts.into_component(selection);
    root.contributes.then_some(Strategy {
        root,
        kind,
        frames: Some(selection),
    })
}

#[cfg(test)]
mod tests;
