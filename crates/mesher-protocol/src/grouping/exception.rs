//! Exceptions (GROUP-01, GROUP-02): each exception of the chain contributes its stack trace and
//! type; its value (parameterized) only when it has no contributing stack trace.
//!
//! Sentry's `single-exception` and `chained-exception` strategies: the type is ignored when the
//! SDK marks it synthetic, an `NSError` domain and code beat the value, and exception groups
//! (JavaScript `AggregateError`, Python `ExceptionGroup`) are reduced to their distinct leaf
//! errors (getsentry/rfcs 0079).

use serde_json::Value;

use super::component::{Component, ComponentId, Hint};
use super::message::normalize_message;
use super::stacktrace::{self, FrameSelection, StackParts};
use super::{GroupingKind, Strategy};
use crate::event::{Event, Exception};

/// Characters of an ignored exception value kept in the tree for display.
const MAX_SHOWN_VALUE_CHARS: usize = 200;

/// The exception strategy; `None` when no exception contributes anything.
pub(super) fn exception_strategy(event: &Event) -> Option<Strategy> {
    if event.exception.is_empty() {
        return None;
    }
    let platform = event.platform.as_str();
    let Reduced {
        selected, filtered, ..
    } = filter_exception_groups(&event.exception, platform);
    let stacks: Vec<Option<StackParts>> = selected
        .iter()
        .map(|e| e.stacktrace.as_ref().map(|s| StackParts::new(s, platform)))
        .collect();
    let selection = stacktrace::selection(stacks.iter().flatten());

    let mut any_frames = false;
    let mut components: Vec<Component> = selected
        .iter()
        .zip(stacks)
        .map(|(exception, stack)| {
            let stack = stack.map(|s| s.into_component(selection));
            any_frames |= stack.as_ref().is_some_and(|s| s.contributes);
            exception_component(exception, stack)
        })
        .collect();

    let root = if components.len() == 1 {
        // A group reduced to one error hashes exactly like that error alone, so the exceptions
        // filtered out around it are not shown either.
        components.pop()?
    } else {
        components.extend(filtered.into_iter().map(|e| {
            Component::node(ComponentId::Exception, vec![type_component(e)])
                .ignored(Hint::ExceptionGroupFiltered)
        }));
        Component::node(ComponentId::ChainedException, components)
    };
    root.contributes.then(|| Strategy {
        root,
        kind: if any_frames {
            GroupingKind::ExceptionStacktrace
        } else {
            GroupingKind::Exception
        },
        frames: any_frames.then_some(selection),
    })
}

fn exception_component(exception: &Exception, stack: Option<Component>) -> Component {
    let stack_contributes = stack.as_ref().is_some_and(|s| s.contributes);
    let ns_error = ns_error_component(exception);
    let ns_error_contributes = ns_error.as_ref().is_some_and(|c| c.contributes);

    let value = match exception.value.as_deref().filter(|v| !v.trim().is_empty()) {
        None => Component::empty(ComponentId::Value),
        // Not parameterized: it does not count, and this keeps the common case cheap.
        Some(raw) if stack_contributes || ns_error_contributes => {
            let shown: String = raw.chars().take(MAX_SHOWN_VALUE_CHARS).collect();
            Component::leaf(ComponentId::Value, shown).ignored(if stack_contributes {
                Hint::StacktraceTakesPrecedence
            } else {
                Hint::NsErrorTakesPrecedence
            })
        }
        Some(raw) => {
            let normalized = normalize_message(raw);
            let changed = normalized != raw;
            let component = Component::leaf(ComponentId::Value, normalized);
            if changed {
                component.with_hint(Hint::Parameterized)
            } else {
                component
            }
        }
    };

    let mut children = Vec::with_capacity(4);
    children.extend(stack);
    children.push(type_component(exception));
    children.extend(ns_error);
    children.push(value);
    Component::node(ComponentId::Exception, children)
}

fn type_component(exception: &Exception) -> Component {
    let ty = Component::leaf(ComponentId::Type, exception.ty.clone().unwrap_or_default());
    let synthetic = exception
        .mechanism
        .as_ref()
        .is_some_and(|m| m.synthetic == Some(true));
    if synthetic && ty.contributes {
        ty.ignored(Hint::Synthetic)
    } else {
        ty
    }
}

/// `mechanism.meta.ns_error.{domain, code}` of Apple platforms, as `domain:code`.
fn ns_error_component(exception: &Exception) -> Option<Component> {
    let ns_error = exception
        .mechanism
        .as_ref()?
        .meta
        .as_ref()?
        .get("ns_error")?;
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let domain = text(ns_error.get("domain"));
    let code = text(ns_error.get("code"));
    let value = if domain.is_empty() && code.is_empty() {
        String::new()
    } else {
        format!("{domain}:{code}")
    };
    Some(Component::leaf(ComponentId::NsError, value))
}

/// The exception an event is about when its exception groups hold one distinct error (the
/// same rejection of every `Promise.any` shard, say): that error, which titles the issue rather
/// than the group (Sentry's `main_exception_id`). `None` without such a group.
pub(crate) fn main_of_exception_group<'a>(
    exceptions: &'a [Exception],
    platform: &str,
) -> Option<&'a Exception> {
    filter_exception_groups(exceptions, platform).main
}

/// The exceptions to group by, those filtered out, and the one error a group was reduced to.
struct Reduced<'a> {
    selected: Vec<&'a Exception>,
    filtered: Vec<&'a Exception>,
    main: Option<&'a Exception>,
}

/// Reduces exception groups to their distinct leaf errors (Sentry's
/// `filter_exceptions_for_exception_groups`): one distinct error stands alone with its chain of
/// first children; several distinct errors are kept with the root group.
///
/// Unlike Sentry, chains without any exception group are left in their stored order (oldest →
/// newest) rather than re-ordered along the `parent_id` tree: the order does not change which
/// events group together.
fn filter_exception_groups<'a>(exceptions: &'a [Exception], platform: &str) -> Reduced<'a> {
    let all = || Reduced {
        selected: exceptions.iter().collect(),
        filtered: Vec::new(),
        main: None,
    };
    let mechanism_ids = |e: &Exception| {
        let m = e.mechanism.as_ref()?;
        Some((
            m.exception_id?,
            m.parent_id,
            m.is_exception_group == Some(true),
        ))
    };
    let is_group = |e: &Exception| mechanism_ids(e).is_some_and(|(_, _, group)| group);
    if exceptions.len() < 2 || !exceptions.iter().any(is_group) {
        return all();
    }
    let Some(ids) = exceptions
        .iter()
        .map(mechanism_ids)
        .collect::<Option<Vec<_>>>()
    else {
        return all();
    };
    let Some(root) = ids.iter().position(|&(id, _, _)| id == 0) else {
        return all();
    };
    // Children in reverse order of the list, as Sentry builds them (it walks the list backwards
    // and appends); the order decides which child is "first".
    let children = |parent: u64| {
        ids.iter()
            .enumerate()
            .rev()
            .filter(move |(_, (_, p, _))| *p == Some(parent))
            .map(|(i, _)| i)
    };

    let mut leaves = Vec::new();
    let mut pending = vec![root];
    let mut visited = 0;
    while let Some(i) = pending.pop() {
        visited += 1;
        if visited > exceptions.len() {
            // A cycle in the parent ids: give up filtering rather than loop.
            return all();
        }
        let (id, _, group) = ids[i];
        if group {
            let mut kids: Vec<usize> = children(id).collect();
            kids.reverse();
            pending.extend(kids);
        } else {
            leaves.push(i);
        }
    }
    // Sentry sorts by type name, descending, then keeps one of each run of equal errors.
    leaves.sort_by(|&a, &b| exceptions[b].ty.cmp(&exceptions[a].ty));
    let system_component = |i: usize| {
        let e = &exceptions[i];
        let stack = e
            .stacktrace
            .as_ref()
            .map(|s| StackParts::new(s, platform).into_component(FrameSelection::System));
        exception_component(e, stack)
    };
    let mut distinct: Vec<(usize, Component)> = Vec::new();
    for i in leaves {
        let component = system_component(i);
        if !distinct
            .last()
            .is_some_and(|(_, last)| last.same_contribution(&component))
        {
            distinct.push((i, component));
        }
    }

    let main = match distinct.as_slice() {
        [(main, _)] => Some(&exceptions[*main]),
        _ => None,
    };
    let mut keep: Vec<usize> = match distinct.as_slice() {
        [(main, _)] => {
            // The single error and its chain of first children.
            let mut path = vec![*main];
            let mut current = ids[*main].0;
            while let Some(first) = children(current).next() {
                if path.contains(&first) {
                    break;
                }
                path.push(first);
                current = ids[first].0;
            }
            path
        }
        _ => {
            let mut keep: Vec<usize> = distinct.iter().map(|(i, _)| *i).collect();
            keep.push(root);
            keep
        }
    };
    let selected = keep.iter().map(|&i| &exceptions[i]).collect();
    keep.sort_unstable();
    let filtered = (0..exceptions.len())
        .filter(|i| keep.binary_search(i).is_err())
        .map(|i| &exceptions[i])
        .collect();
    Reduced {
        selected,
        filtered,
        main,
    }
}

#[cfg(test)]
mod tests;
