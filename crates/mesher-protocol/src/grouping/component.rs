//! The grouping tree: every part of an event that grouping looked at, whether it contributed to
//! the hash and, when it did not or was rewritten, why.
//!
//! This mirrors Sentry's grouping components (`sentry/grouping/component.py`): a stack trace is
//! a node whose children are frames, a frame is a node whose children are the module, file name,
//! function and context line, and so on. Only contributing parts feed the hash
//! ([`super::hash`]); the others stay in the tree so the server can show "why grouped here".

use serde::{Deserialize, Serialize};

/// What a [`Component`] stands for (serialized in kebab-case: `context-line`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentId {
    /// The client's fingerprint (custom or hybrid).
    Fingerprint,
    /// One resolved entry of the client's fingerprint.
    FingerprintEntry,
    /// The automatic grouping, inside a hybrid fingerprint (`{{ default }}`).
    Default,
    /// Several exceptions (a cause chain or an exception group).
    ChainedException,
    /// One exception.
    Exception,
    /// The exception class.
    Type,
    /// The exception message, parameterized.
    Value,
    /// Apple's `NSError` domain and code.
    NsError,
    /// The stack trace of the one thread that is used.
    Threads,
    /// A stack trace.
    Stacktrace,
    /// One stack frame.
    Frame,
    /// The frame's module (replaces the file name when present).
    Module,
    /// The base name of the frame's file.
    Filename,
    /// The frame's function, cleaned per platform.
    Function,
    /// The frame's source line, whitespace collapsed.
    ContextLine,
    /// The event message, parameterized.
    Message,
}

impl ComponentId {
    /// The byte that stands for the id in the hash input. Fixed forever: changing one regroups
    /// every event of that kind.
    pub(crate) fn tag(self) -> u8 {
        match self {
            Self::Fingerprint => 1,
            Self::FingerprintEntry => 2,
            Self::Default => 3,
            Self::ChainedException => 4,
            Self::Exception => 5,
            Self::Type => 6,
            Self::Value => 7,
            Self::NsError => 8,
            Self::Threads => 9,
            Self::Stacktrace => 10,
            Self::Frame => 11,
            Self::Module => 12,
            Self::Filename => 13,
            Self::Function => 14,
            Self::ContextLine => 15,
            Self::Message => 16,
        }
    }
}

/// Why a component does not contribute, or how its value was rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hint {
    /// Frames: in-app frames decide and this one is not in-app.
    NotInApp,
    /// Frames: repeats the frame (or block of frames) just before it.
    Recursion,
    /// Frames: belongs to the Sentry SDK itself, which differs between SDK versions.
    SdkFrame,
    /// Frames: runtime scheduling internals (microtask queues and the like).
    RuntimeInternals,
    /// Frames: JavaScript `eval`, `[native code]` or anonymous frames.
    LowQualityFrame,
    /// Frames: a lone JavaScript frame from a URL without a function name.
    SingleUrlFrame,
    /// Stack traces: no frame contributed.
    NoContributingFrames,
    /// File names: the frame points to a URL, whose path changes with every deploy.
    UrlOrigin,
    /// File names: `<anonymous>`.
    AnonymousFilename,
    /// File names: `[native code]`.
    NativeCode,
    /// File names: the module is used instead.
    ModuleTakesPrecedence,
    /// File names and modules: a build hash, version or query string was removed.
    HashRemoved,
    /// Modules: derived from the file's URL, as Sentry's JavaScript processing does.
    ModuleFromUrl,
    /// Modules: the JavaScript SDK sent the file path as module.
    BadJavascriptModule,
    /// Modules and file names: generated class markers (proxies, lambdas, reflection) replaced.
    CodegenMarkerRemoved,
    /// Functions: `Object.foo` → `foo` (browsers disagree on the receiver).
    JavascriptFunctionTrimmed,
    /// Functions: unknown or anonymous function name.
    UnknownFunction,
    /// Functions: a source map gave the frame its source line, which says more than a function
    /// name that may be a minifier's guess (Sentry's rule).
    SourceMapContextLine,
    /// Functions: Ruby block nesting depth removed.
    RubyBlock,
    /// Functions: generated ERB template suffix removed.
    ErbSuffixRemoved,
    /// Functions: PHP anonymous function or class.
    PhpAnonymous,
    /// Functions: PHP anonymous class prefix removed.
    PhpAnonymousClassMethod,
    /// Functions: Java lambda counter removed.
    JavaLambda,
    /// Functions: native symbol trimmed (Rust hash suffix, C# signature).
    FunctionTrimmed,
    /// Context lines: longer than 120 characters (minified code).
    LineTooLong,
    /// Context lines: from a URL and without a function name.
    UrlOriginWithoutFunction,
    /// Exception types: invented by the SDK.
    Synthetic,
    /// Exception values: the stack trace is used instead.
    StacktraceTakesPrecedence,
    /// Exception values: the `NSError` domain and code are used instead.
    NsErrorTakesPrecedence,
    /// Values and messages: variable parts replaced by placeholders.
    Parameterized,
    /// Exceptions: a duplicate inside an exception group, or the group around a single error.
    ExceptionGroupFiltered,
    /// Fingerprint entries: a variable that resolved to a placeholder.
    VariableUnresolved,
}

impl Hint {
    /// A sentence for people.
    pub fn description(self) -> &'static str {
        match self {
            Self::NotInApp => "not in-app",
            Self::Recursion => "ignored due to recursion",
            Self::SdkFrame => "frame of the Sentry SDK",
            Self::RuntimeInternals => "runtime scheduling internals",
            Self::LowQualityFrame => "low quality JavaScript frame",
            Self::SingleUrlFrame => "single JavaScript frame from a URL without a function",
            Self::NoContributingFrames => "no frame contributes",
            Self::UrlOrigin => "ignored because the frame points to a URL",
            Self::AnonymousFilename => "anonymous file name",
            Self::NativeCode => "native code",
            Self::ModuleTakesPrecedence => "module takes precedence",
            Self::HashRemoved => "build hash, version or query string removed",
            Self::ModuleFromUrl => "module derived from the URL",
            Self::BadJavascriptModule => "module is the file path",
            Self::CodegenMarkerRemoved => "generated class marker removed",
            Self::JavascriptFunctionTrimmed => "receiver removed from JavaScript function",
            Self::UnknownFunction => "unknown function name",
            Self::SourceMapContextLine => "source map gave the source line",
            Self::RubyBlock => "Ruby block nesting removed",
            Self::ErbSuffixRemoved => "generated ERB template suffix removed",
            Self::PhpAnonymous => "anonymous PHP function or class",
            Self::PhpAnonymousClassMethod => "anonymous class method",
            Self::JavaLambda => "lambda counter removed",
            Self::FunctionTrimmed => "function name trimmed",
            Self::LineTooLong => "line too long",
            Self::UrlOriginWithoutFunction => "from a URL and without a function",
            Self::Synthetic => "exception type is synthetic",
            Self::StacktraceTakesPrecedence => "stack trace takes precedence",
            Self::NsErrorTakesPrecedence => "NSError domain and code take precedence",
            Self::Parameterized => "variable parts replaced",
            Self::ExceptionGroupFiltered => "filtered out of the exception group",
            Self::VariableUnresolved => "variable has no value",
        }
    }
}

/// One node of the grouping tree.
///
/// A leaf carries a `value`; a node carries `children`. A node contributes when it was not
/// switched off and at least one child contributes; a leaf when it was not switched off and has
/// a non-empty value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// What this is.
    pub id: ComponentId,
    /// Whether it feeds the hash.
    pub contributes: bool,
    /// Why it does not contribute, or how its value was rewritten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<Hint>,
    /// What the value was resolved from, when it does not say so itself (the raw fingerprint
    /// entry, e.g. `{{ tags.region }}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The leaf's value (one per leaf: a list per leaf would cost an allocation per frame part
    /// on the ingestion path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Sub-components, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Component>,
}

impl Component {
    /// A leaf; it contributes when the value is not empty.
    pub(crate) fn leaf(id: ComponentId, value: String) -> Self {
        let contributes = !value.is_empty();
        Self {
            id,
            contributes,
            hint: None,
            label: None,
            value: contributes.then_some(value),
            children: Vec::new(),
        }
    }

    /// A leaf for something the event does not have.
    pub(crate) fn empty(id: ComponentId) -> Self {
        Self {
            id,
            contributes: false,
            hint: None,
            label: None,
            value: None,
            children: Vec::new(),
        }
    }

    /// A node; it contributes when any child does.
    pub(crate) fn node(id: ComponentId, children: Vec<Component>) -> Self {
        Self {
            id,
            contributes: children.iter().any(|c| c.contributes),
            hint: None,
            label: None,
            value: None,
            children,
        }
    }

    /// Switches the component off, saying why.
    pub(crate) fn ignore(&mut self, hint: Hint) {
        self.contributes = false;
        self.hint = Some(hint);
    }

    /// Builder form of [`Component::ignore`].
    pub(crate) fn ignored(mut self, hint: Hint) -> Self {
        self.ignore(hint);
        self
    }

    /// Notes how the value was rewritten, without changing whether it contributes.
    pub(crate) fn with_hint(mut self, hint: Hint) -> Self {
        self.hint = Some(hint);
        self
    }

    /// The values of contributing leaves below (and including) this component, in order.
    pub fn contributing_values(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_values(&mut out);
        out
    }

    fn collect_values(&self, out: &mut Vec<String>) {
        if !self.contributes {
            return;
        }
        out.extend(self.value.iter().cloned());
        for child in &self.children {
            child.collect_values(out);
        }
    }

    /// Puts back the values [`super::hash::hash`] moved out of contributing leaves, in order.
    ///
    /// Only contributing leaves lose their value, and a contributing component without a value
    /// is always a leaf whose value was moved: nodes contribute through children.
    pub(crate) fn restore_values(&mut self, values: &mut impl Iterator<Item = String>) {
        if !self.contributes {
            return;
        }
        if self.children.is_empty() && self.value.is_none() {
            self.value = values.next();
        }
        for child in &mut self.children {
            child.restore_values(values);
        }
    }

    /// Whether two components contribute exactly the same things (hints and non-contributing
    /// parts aside). Used to detect recursion and duplicate exceptions.
    pub(crate) fn same_contribution(&self, other: &Component) -> bool {
        if self.contributes != other.contributes {
            return false;
        }
        if !self.contributes {
            return true;
        }
        if self.id != other.id || self.value != other.value {
            return false;
        }
        let mut mine = self.children.iter().filter(|c| c.contributes);
        let mut theirs = other.children.iter().filter(|c| c.contributes);
        loop {
            match (mine.next(), theirs.next()) {
                (None, None) => return true,
                (Some(a), Some(b)) if a.same_contribution(b) => {}
                _ => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_contribute_through_children() {
        let empty = Component::node(
            ComponentId::Frame,
            vec![Component::empty(ComponentId::Module)],
        );
        assert!(!empty.contributes);
        let frame = Component::node(
            ComponentId::Frame,
            vec![
                Component::leaf(ComponentId::Module, "app.views".into()),
                Component::leaf(ComponentId::Filename, "views.py".into())
                    .ignored(Hint::ModuleTakesPrecedence),
            ],
        );
        assert!(frame.contributes);
        assert_eq!(frame.contributing_values(), ["app.views"]);
        assert!(
            Component::leaf(ComponentId::Type, String::new())
                .value
                .is_none()
        );
    }

    #[test]
    fn same_contribution_ignores_hints_and_switched_off_parts() {
        let a = Component::node(
            ComponentId::Frame,
            vec![
                Component::leaf(ComponentId::Function, "walk".into()),
                Component::leaf(ComponentId::Filename, "a.py".into()).ignored(Hint::UrlOrigin),
            ],
        );
        let b = Component::node(
            ComponentId::Frame,
            vec![
                Component::leaf(ComponentId::Function, "walk".into())
                    .with_hint(Hint::JavascriptFunctionTrimmed),
                Component::leaf(ComponentId::Filename, "b.py".into()).ignored(Hint::UrlOrigin),
            ],
        );
        assert!(a.same_contribution(&b));
        let c = Component::node(
            ComponentId::Frame,
            vec![Component::leaf(ComponentId::Function, "run".into())],
        );
        assert!(!a.same_contribution(&c));
    }

    #[test]
    fn serializes_with_stable_names() {
        let c =
            Component::leaf(ComponentId::ContextLine, "x = 1".into()).ignored(Hint::LineTooLong);
        let json = serde_json::to_value(&c).expect("serializable");
        assert_eq!(json["id"], "context-line");
        assert_eq!(json["hint"], "line_too_long");
        assert_eq!(json["contributes"], false);
        let back: Component = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, c);
    }
}
