//! Exceptions, stack traces and threads as Mesher stores them (protocol doc A6).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One exception of a chain. Chains are ordered oldest → newest: the last one was raised.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Exception {
    /// The exception class, e.g. `ValueError`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    /// The message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The module or package the type lives in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The thread that raised it (links to [`Thread::id`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<ThreadId>,
    /// How it was captured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<Mechanism>,
    /// Where it was raised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stacktrace: Option<Stacktrace>,
    /// The stack trace as sent, when the server rewrote `stacktrace` (minified JavaScript
    /// frames mapped to their original source, issue 18).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_stacktrace: Option<Stacktrace>,
}

/// How an exception was captured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Mechanism {
    /// E.g. `generic` (the default), `chained`, `onunhandledrejection`, `panic`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Human-readable description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Documentation link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help_link: Option<String>,
    /// `false` for crashes the application did not catch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handled: Option<bool>,
    /// The exception type was invented by the SDK and says nothing about the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<bool>,
    /// Where in the parent this exception came from (e.g. `__cause__`, `errors[0]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Id of this exception within the event, for chains and groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception_id: Option<u64>,
    /// `exception_id` of the parent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<u64>,
    /// This exception is an exception group (e.g. JavaScript `AggregateError`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_exception_group: Option<bool>,
    /// OS-level details (`signal`, `mach_exception`, `errno`, …), kept as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    /// Arbitrary extra data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A stack trace. Frames run caller → callee: the last frame is where the error happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stacktrace {
    /// The frames, never empty after normalization.
    pub frames: Vec<Frame>,
    /// Register values of the crashing frame (native).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registers: Option<Map<String, Value>>,
}

/// One stack frame.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Frame {
    /// File path relative to the project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Absolute path or URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abs_path: Option<String>,
    /// Function name (`?` from SDKs becomes `None`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Unmangled or original function name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_function: Option<String>,
    /// Native symbol name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// Module (Python, Java) — replaces the filename in grouping when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Native package (library path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Per-frame platform override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// 1-based line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lineno: Option<u64>,
    /// 1-based column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub colno: Option<u64>,
    /// The source line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_line: Option<String>,
    /// Source lines before `context_line`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pre_context: Vec<String>,
    /// Source lines after `context_line`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_context: Vec<String>,
    /// Whether the frame belongs to the application (`None`: unknown, treated as not in-app).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_app: Option<bool>,
    /// Local variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vars: Option<Value>,
    /// Native instruction address (hex string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction_addr: Option<String>,
    /// Native symbol address (hex string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol_addr: Option<String>,
    /// Native image address (hex string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_addr: Option<String>,
    /// Native addressing mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr_mode: Option<String>,
    /// Marks the start of an async stack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_start: Option<bool>,
    /// Link to the source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_link: Option<String>,
    /// What the server learnt about the frame (never read from the SDK).
    #[serde(skip_serializing_if = "FrameData::is_empty")]
    pub data: FrameData,
}

/// What the server learnt about a frame, under Sentry's name `data`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FrameData {
    /// The source map that mapped the frame to its original source (its URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sourcemap: Option<String>,
}

impl FrameData {
    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.sourcemap.is_none()
    }
}

impl Frame {
    /// Whether the SDK marked the frame in-app.
    pub fn is_in_app(&self) -> bool {
        self.in_app == Some(true)
    }

    /// Where the frame's code came from: `abs_path`, else `filename` (browser SDKs send the URL
    /// as `filename` only, Node SDKs the path).
    pub fn location(&self) -> Option<&str> {
        self.abs_path.as_deref().or(self.filename.as_deref())
    }
}

/// A thread id: SDKs send integers or strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ThreadId {
    /// Numeric id.
    Int(u64),
    /// Textual id.
    String(String),
}

/// A thread that was running when the event happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thread {
    /// The thread id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<ThreadId>,
    /// The thread name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// This thread crashed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crashed: Option<bool>,
    /// This thread was the current one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<bool>,
    /// This is the main thread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main: Option<bool>,
    /// Thread state (Java, Android).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Locks held (Java), kept as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_locks: Option<Value>,
    /// The thread's stack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stacktrace: Option<Stacktrace>,
}
