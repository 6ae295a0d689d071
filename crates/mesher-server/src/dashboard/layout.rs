//! What every page shares: its title, the public URL's path prefix, the header's navigation and
//! project switcher. `base.html` reads it as the `layout` field of each page struct.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::assets::Asset;
use super::paths;
use crate::state::AppState;

/// The layout of a page. Extract it in a handler (it knows the path prefix), then give it a title
/// and, for a signed-in user, their [`UserChrome`] and the current [`Nav`] section.
#[derive(Debug, Clone)]
pub struct Layout {
    title: String,
    base: String,
    nav: Nav,
    user: Option<UserChrome>,
}

/// The section a page belongs to, marked `aria-current` in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// No section (sign-in, error pages).
    None,
    /// The project overview.
    Overview,
    /// The issues list and an issue's page.
    Issues,
    /// Event search.
    Events,
    /// The live stream of events.
    Live,
    /// Alerts and alert rules.
    Alerts,
    /// Releases, their commits and deploys.
    Releases,
    /// Project settings.
    Settings,
}

/// The signed-in user, as the header shows them.
#[derive(Debug, Clone)]
pub struct UserChrome {
    /// Shown in the header next to "Sign out".
    pub email: String,
    /// The session's CSRF token, sent back by every form (the sign-out button's included).
    pub csrf: String,
    /// The organizations and projects the user can switch between.
    pub switcher: Switcher,
    /// Invitations waiting for the user's answer, shown above every page.
    pub invitations: Vec<InvitationNotice>,
    /// Whether the user administers an organization, and so may see the Cluster page.
    pub operator: bool,
    /// The time zone of the page's times, in words ("Europe/Berlin (your browser's)").
    pub time_zone: String,
}

/// An invitation to an organization, with the forms to accept or decline it.
#[derive(Debug, Clone)]
pub struct InvitationNotice {
    /// The organization's name.
    pub org_name: String,
    /// The role offered.
    pub role: &'static str,
    /// Where the Accept form posts (before the prefix).
    pub accept_path: String,
    /// Where the Decline form posts (before the prefix).
    pub decline_path: String,
}

/// The organization/project switcher: a disclosure menu of links, so that it works without
/// JavaScript and with the keyboard.
#[derive(Debug, Clone, Default)]
pub struct Switcher {
    /// The project the page is about, if any; the navigation links point into it.
    pub current: Option<ProjectRef>,
    /// Every organization of the user with its projects.
    pub orgs: Vec<OrgProjects>,
}

/// An organization in the switcher.
#[derive(Debug, Clone)]
pub struct OrgProjects {
    /// Display name.
    pub name: String,
    /// URL name.
    pub slug: String,
    /// Whether the user may create projects and manage members there.
    pub can_admin: bool,
    /// Its projects, in display order.
    pub projects: Vec<ProjectRef>,
}

/// A project as the header shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRef {
    /// Project id (it appears in URLs and DSNs).
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Its organization's display name.
    pub org_name: String,
}

/// One link of the main navigation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavItem {
    /// Visible text.
    pub label: &'static str,
    /// Full path, prefix included.
    pub href: String,
    /// Whether this is the page's section.
    pub current: bool,
}

impl Layout {
    /// A layout for a server whose public URL has the path `base` (`""` or `/prefix`).
    pub fn new(base: &str) -> Layout {
        Layout {
            title: String::new(),
            base: base.trim_end_matches('/').to_string(),
            nav: Nav::None,
            user: None,
        }
    }

    /// Sets the page title (the `<title>` becomes "`title` · Mesher").
    pub fn titled(mut self, title: impl Into<String>) -> Layout {
        self.title = title.into();
        self
    }

    /// Sets the section the page belongs to.
    pub fn with_nav(mut self, nav: Nav) -> Layout {
        self.nav = nav;
        self
    }

    /// Shows the header of a signed-in user.
    pub fn with_user(mut self, user: UserChrome) -> Layout {
        self.user = Some(user);
        self
    }

    /// The page title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The public URL's path prefix (`""` when served at the root).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `path` (which starts with `/`) under the public URL's path prefix: every link of a page
    /// goes through this, so that Mesher works behind a reverse proxy at a sub-path.
    /// The root (`"/"`) under a prefix is the prefix itself: the nested router answers `/prefix`,
    /// not `/prefix/`.
    pub fn url(&self, path: &str) -> String {
        if path == "/" && !self.base.is_empty() {
            return self.base.clone();
        }
        format!("{}{path}", self.base)
    }

    /// The content-hashed URL of an embedded asset.
    pub fn asset(&self, asset: &Asset) -> String {
        self.url(&asset.path())
    }

    /// The overview page of `project`.
    pub fn project_url(&self, project: &ProjectRef) -> String {
        self.url(&paths::project(project.id))
    }

    /// The members page of an organization.
    pub fn members_url(&self, org: &OrgProjects) -> String {
        self.url(&paths::members(&org.slug))
    }

    /// The page creating a project in an organization.
    pub fn new_project_url(&self, org: &OrgProjects) -> String {
        self.url(&paths::new_project(&org.slug))
    }

    /// The signed-in user, if any.
    pub fn user(&self) -> Option<&UserChrome> {
        self.user.as_ref()
    }

    /// The session's CSRF token for the page's forms (`""` when signed out: such a page has
    /// no forms that need it).
    pub fn csrf(&self) -> &str {
        self.user.as_ref().map_or("", |u| u.csrf.as_str())
    }

    /// The project the page is about, if any.
    pub fn project(&self) -> Option<&ProjectRef> {
        self.user.as_ref()?.switcher.current.as_ref()
    }

    /// The main navigation: the sections of the current project (none without one).
    pub fn nav_items(&self) -> Vec<NavItem> {
        let Some(project) = self.project() else {
            return Vec::new();
        };
        [
            (Nav::Overview, "Overview", paths::project(project.id)),
            (Nav::Issues, "Issues", paths::issues(project.id)),
            (Nav::Events, "Events", paths::events(project.id)),
            (Nav::Live, "Live", paths::live(project.id)),
            (Nav::Alerts, "Alerts", paths::alerts(project.id)),
            (Nav::Releases, "Releases", paths::releases(project.id)),
            (Nav::Settings, "Settings", paths::settings(project.id)),
        ]
        .into_iter()
        .map(|(nav, label, path)| NavItem {
            label,
            href: self.url(&path),
            current: nav == self.nav,
        })
        .collect()
    }

    /// Mesher's version, shown in the footer.
    pub fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

impl FromRequestParts<AppState> for Layout {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        _parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Layout::new(state.public_url().path()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_in(nav: Nav) -> Layout {
        let project = ProjectRef {
            id: 7,
            name: "web".into(),
            org_name: "Acme".into(),
        };
        Layout::new("/mesher/").with_nav(nav).with_user(UserChrome {
            email: "a@example.com".into(),
            csrf: "c".into(),
            time_zone: "UTC".into(),
            switcher: Switcher {
                current: Some(project.clone()),
                orgs: vec![OrgProjects {
                    name: "Acme".into(),
                    slug: "acme".into(),
                    can_admin: true,
                    projects: vec![project],
                }],
            },
            invitations: Vec::new(),
            operator: true,
        })
    }

    #[test]
    fn links_carry_the_path_prefix() {
        let layout = Layout::new("/mesher/");
        assert_eq!(layout.url("/signin"), "/mesher/signin");
        assert!(
            layout
                .asset(&super::super::assets::STYLESHEET)
                .starts_with("/mesher/static/")
        );
        assert_eq!(layout.url("/"), "/mesher");
        assert_eq!(Layout::new("/").url("/signin"), "/signin");
        assert_eq!(Layout::new("").url("/"), "/");
    }

    #[test]
    fn navigation_marks_the_current_section() {
        assert!(Layout::new("").nav_items().is_empty());
        let items = signed_in(Nav::Issues).nav_items();
        let current: Vec<_> = items.iter().filter(|i| i.current).collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0].label, "Issues");
        assert_eq!(current[0].href, "/mesher/projects/7/issues");
    }
}
