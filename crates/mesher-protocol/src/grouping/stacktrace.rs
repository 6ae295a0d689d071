//! Stack traces (GROUP-01): which frames contribute.
//!
//! Per event, either only in-app frames decide ([`FrameSelection::App`]) — when any in-app frame
//! contributes — or all frames do ([`FrameSelection::System`]). Sentry computes both variants and
//! stores both hashes, joining a group that owns either; Mesher keeps one hash per event: the app
//! variant whenever it contributes, the system variant otherwise.
//!
//! Repeated frames collapse: a frame (or a block of up to `MAX_CYCLE` frames) that contributes
//! exactly what the one just before it contributed is recursion, so recursion depth does not
//! split issues. Sentry compares raw fields including line numbers, and only single frames;
//! comparing contributions keeps the hash independent of line numbers and also folds mutual
//! recursion (`a → b → a → b`).

use serde::{Deserialize, Serialize};

use super::component::{Component, ComponentId, Hint};
use super::frames::{self, Family, FramePart};
use crate::event::Stacktrace;

/// Longest block of frames that is recognized as repeating.
const MAX_CYCLE: usize = 4;

/// Which frames of the event's stack traces decided its grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameSelection {
    /// Only frames marked in-app.
    App,
    /// All frames: no in-app frame contributed.
    System,
}

/// A stack trace's frames, analysed but not yet filtered by in-app.
#[derive(Debug, Clone)]
pub(super) struct StackParts {
    /// The `frame` components.
    frames: Vec<Component>,
    /// Per frame, whether it counts as application code.
    in_app: Vec<bool>,
}

impl StackParts {
    /// Computes every frame's components and marks recursion, SDK frames and lone URL frames.
    pub(super) fn new(stacktrace: &Stacktrace, event_platform: &str) -> Self {
        let mut frames = Vec::with_capacity(stacktrace.frames.len());
        let mut in_app = Vec::with_capacity(stacktrace.frames.len());
        for frame in &stacktrace.frames {
            let FramePart {
                component,
                in_app: app,
            } = frames::frame_part(frame, event_platform);
            frames.push(component);
            in_app.push(app);
        }
        mark_recursion(&mut frames);

        // Sentry ignores a lone JavaScript frame from a URL without a function: it says nothing
        // but "some script failed".
        if let ([only], [component]) = (stacktrace.frames.as_slice(), frames.as_mut_slice()) {
            let platform = only.platform.as_deref().unwrap_or(event_platform);
            if component.contributes
                && Family::of(platform) == Family::JavaScript
                && only.function.is_none()
                && frames::has_url_origin(only.location())
            {
                component.ignore(Hint::SingleUrlFrame);
            }
        }
        Self { frames, in_app }
    }

    /// Whether an in-app frame contributes, i.e. the app variant has something to say.
    pub(super) fn has_app_frames(&self) -> bool {
        self.frames
            .iter()
            .zip(&self.in_app)
            .any(|(frame, &app)| app && frame.contributes)
    }

    /// The `stacktrace` component, keeping only in-app frames for [`FrameSelection::App`].
    pub(super) fn into_component(self, selection: FrameSelection) -> Component {
        let Self { mut frames, in_app } = self;
        if selection == FrameSelection::App {
            for (frame, app) in frames.iter_mut().zip(in_app) {
                if !app {
                    frame.ignore(Hint::NotInApp);
                }
            }
        }
        let stack = Component::node(ComponentId::Stacktrace, frames);
        if stack.contributes {
            stack
        } else {
            stack.ignored(Hint::NoContributingFrames)
        }
    }
}

/// The selection for a set of stack traces analysed together (an exception chain).
pub(super) fn selection<'a>(stacks: impl IntoIterator<Item = &'a StackParts>) -> FrameSelection {
    if stacks.into_iter().any(StackParts::has_app_frames) {
        FrameSelection::App
    } else {
        FrameSelection::System
    }
}

/// Marks frames that repeat the frame or block of frames right before them.
fn mark_recursion(frames: &mut [Component]) {
    // Indices of the frames kept so far; repeats are compared against its tail.
    let mut kept: Vec<usize> = Vec::with_capacity(frames.len());
    for i in 0..frames.len() {
        kept.push(i);
        for cycle in 1..=MAX_CYCLE {
            let len = kept.len();
            if len < 2 * cycle {
                break;
            }
            let repeats = (0..cycle).all(|k| {
                let newer = &frames[kept[len - cycle + k]];
                let older = &frames[kept[len - 2 * cycle + k]];
                newer.contributes && newer.same_contribution(older)
            });
            if repeats {
                for &index in &kept[len - cycle..] {
                    frames[index].ignore(Hint::Recursion);
                }
                kept.truncate(len - cycle);
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Frame;

    fn frame(module: &str, function: &str, lineno: u64, in_app: bool) -> Frame {
        Frame {
            module: Some(module.into()),
            function: Some(function.into()),
            lineno: Some(lineno),
            in_app: Some(in_app),
            ..Frame::default()
        }
    }

    fn stack(frames: Vec<Frame>) -> Stacktrace {
        Stacktrace {
            frames,
            registers: None,
        }
    }

    fn contributing_functions(component: &Component) -> Vec<String> {
        component
            .children
            .iter()
            .filter(|f| f.contributes)
            .flat_map(|f| f.children.iter().filter(|c| c.id == ComponentId::Function))
            .filter_map(|c| c.value.clone())
            .collect()
    }

    #[test]
    fn in_app_frames_decide_when_there_are_any_group_01() {
        let parts = StackParts::new(
            &stack(vec![
                frame("django.core", "inner", 55, false),
                frame("app.views", "index", 8, true),
            ]),
            "python",
        );
        assert_eq!(selection([&parts]), FrameSelection::App);
        let c = parts.into_component(FrameSelection::App);
        assert_eq!(contributing_functions(&c), ["index"]);
        assert_eq!(c.children[0].hint, Some(Hint::NotInApp));

        let system = StackParts::new(
            &stack(vec![frame("a", "f", 1, false), frame("b", "g", 2, false)]),
            "python",
        );
        assert_eq!(selection([&system]), FrameSelection::System);
        let c = system.into_component(FrameSelection::System);
        assert_eq!(contributing_functions(&c), ["f", "g"]);
    }

    #[test]
    fn recursion_collapses_whatever_the_depth_group_01() {
        let functions = |depth: usize| {
            let mut frames = vec![frame("app", "main", 1, true)];
            frames.extend((0..depth).map(|i| frame("app", "walk", 10 + i as u64, true)));
            frames.push(frame("app", "fail", 3, true));
            let c = StackParts::new(&stack(frames), "other").into_component(FrameSelection::App);
            contributing_functions(&c)
        };
        assert_eq!(functions(1), ["main", "walk", "fail"]);
        assert_eq!(functions(2), functions(1));
        assert_eq!(functions(30), functions(1));
    }

    #[test]
    fn mutual_recursion_collapses() {
        let functions = |rounds: usize| {
            let mut frames = vec![frame("app", "main", 1, true)];
            for _ in 0..rounds {
                frames.push(frame("app", "even", 1, true));
                frames.push(frame("app", "odd", 2, true));
            }
            frames.push(frame("app", "fail", 3, true));
            let c = StackParts::new(&stack(frames), "other").into_component(FrameSelection::App);
            contributing_functions(&c)
        };
        assert_eq!(functions(1), ["main", "even", "odd", "fail"]);
        assert_eq!(functions(7), functions(1));
    }

    #[test]
    fn lone_url_frame_without_function_is_ignored() {
        let only = Frame {
            abs_path: Some("https://example.com/app.js".into()),
            filename: Some("/app.js".into()),
            ..Frame::default()
        };
        let c = StackParts::new(&stack(vec![only]), "javascript")
            .into_component(FrameSelection::System);
        assert!(!c.contributes);
        assert_eq!(c.children[0].hint, Some(Hint::SingleUrlFrame));
        assert_eq!(c.hint, Some(Hint::NoContributingFrames));
    }
}
