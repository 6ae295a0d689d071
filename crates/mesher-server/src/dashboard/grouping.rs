//! "Why grouped here": an issue's stored grouping explanation (`{config, hash, kind, frames?,
//! components, tree}`, made by `mesher_protocol::grouping`) as the issue page shows it: which
//! rule applied, the values that made the fingerprint, and the whole tree with what did not
//! count and why.

use mesher_protocol::grouping::{Component, FrameSelection, GroupingKind};
use serde_json::Value;

/// Deepest indentation drawn (the stylesheet has a step per level up to this).
const MAX_DEPTH: usize = 10;

/// The explanation of an issue's grouping.
pub struct GroupingView {
    /// Which rule applied, in words.
    pub rule: &'static str,
    /// Which frames decided, in words.
    pub frames: Option<&'static str>,
    /// The grouping rules' version.
    pub config: String,
    /// The fingerprint.
    pub hash: String,
    /// The values that contributed, in order.
    pub components: Vec<String>,
    /// The tree, depth first.
    pub tree: Vec<Node>,
}

/// A component of the tree.
pub struct Node {
    /// Nesting depth (0 for the root), at most [`MAX_DEPTH`].
    pub depth: usize,
    /// What it is ("frame", "function", …).
    pub id: String,
    /// Its value (leaves).
    pub value: Option<String>,
    /// Whether it fed the fingerprint.
    pub contributes: bool,
    /// Why not, or how its value was rewritten.
    pub hint: Option<&'static str>,
}

impl GroupingView {
    /// The view of a stored explanation; `None` when the issue has none or it is unreadable.
    pub fn new(explanation: &Value) -> Option<GroupingView> {
        let kind: GroupingKind = serde_json::from_value(explanation.get("kind")?.clone()).ok()?;
        let frames = explanation
            .get("frames")
            .and_then(|f| serde_json::from_value::<FrameSelection>(f.clone()).ok())
            .map(|f| match f {
                FrameSelection::App => "only in-app frames decided",
                FrameSelection::System => "all frames decided (none is in-app)",
            });
        let text = |key: &str| {
            explanation
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let components = explanation
            .get("components")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let mut tree = Vec::new();
        if let Some(root) = explanation
            .get("tree")
            .and_then(|t| serde_json::from_value::<Component>(t.clone()).ok())
        {
            flatten(&root, 0, &mut tree);
        }
        Some(GroupingView {
            rule: rule(kind),
            frames,
            config: text("config"),
            hash: text("hash"),
            components,
            tree,
        })
    }
}

fn rule(kind: GroupingKind) -> &'static str {
    match kind {
        GroupingKind::Custom => "the fingerprint your SDK sent",
        GroupingKind::Hybrid => "the fingerprint your SDK sent, with the default grouping inside",
        GroupingKind::ExceptionStacktrace => "the exception's stack trace",
        GroupingKind::Exception => "the exception's type and message (no usable stack trace)",
        GroupingKind::ThreadStacktrace => "the stack trace of the thread",
        GroupingKind::Stacktrace => "the stack trace",
        GroupingKind::Message => "the message, with its variable parts replaced",
        GroupingKind::Fallback => {
            "nothing specific: every event without exception, stack trace or message joins one issue"
        }
    }
}

fn flatten(component: &Component, depth: usize, out: &mut Vec<Node>) {
    // The id's serialized name ("context-line") reads well as is.
    let id = serde_json::to_value(component.id)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('-', " ")))
        .unwrap_or_default();
    out.push(Node {
        depth: depth.min(MAX_DEPTH),
        id,
        value: component.value.clone().or_else(|| component.label.clone()),
        contributes: component.contributes,
        hint: component.hint.map(|h| h.description()),
    });
    for child in &component.children {
        flatten(child, depth + 1, out);
    }
}

#[cfg(test)]
mod tests {
    use mesher_protocol::grouping::fingerprint;
    use serde_json::json;

    use super::*;

    #[test]
    fn an_explanation_reads_as_rule_components_and_tree() {
        let event: mesher_protocol::Event = serde_json::from_value(json!({
            "event_id": "fc6d8c0c43fc46308f772ee4ba48c31d",
            "timestamp": 1_700_000_000,
            "received": 1_700_000_000,
            "level": "error",
            "platform": "python",
            "exception": {"values": [{
                "type": "KeyError",
                "value": "'user'",
                "stacktrace": {"frames": [
                    {"function": "main", "module": "app", "in_app": true},
                    {"function": "get", "module": "dict", "in_app": false}
                ]}
            }]}
        }))
        .unwrap();
        let explanation = fingerprint(&event).explanation();
        let view = GroupingView::new(&explanation).unwrap();
        assert_eq!(view.rule, "the exception's stack trace");
        assert_eq!(view.frames, Some("only in-app frames decided"));
        assert!(
            view.components.iter().any(|c| c == "main"),
            "{:?}",
            view.components
        );
        assert_eq!(view.tree[0].depth, 0);
        let ignored: Vec<_> = view
            .tree
            .iter()
            .filter(|n| n.hint == Some("not in-app"))
            .collect();
        assert!(!ignored.is_empty());
        assert!(ignored.iter().all(|n| !n.contributes));
        assert!(
            view.tree
                .iter()
                .any(|n| n.id == "function" && n.value.as_deref() == Some("main"))
        );
        assert!(GroupingView::new(&json!({"kind": "nonsense"})).is_none());
    }
}
