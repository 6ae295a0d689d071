//! The bodies of users, members, invitations, sessions and API tokens.

use mesher_store::{ApiToken, Member, Role, Scope, User};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::OrgBody;

/// A user.
#[derive(Serialize, ToSchema)]
pub struct UserBody {
    /// Id.
    pub id: i64,
    /// Email (sign-in name).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// The time zone the dashboard shows times in; `null` for the browser's own.
    pub time_zone: Option<String>,
}

impl From<User> for UserBody {
    fn from(u: User) -> Self {
        UserBody {
            id: u.id,
            email: u.email,
            name: u.name,
            created_at: u.created_at,
            time_zone: u.time_zone,
        }
    }
}

/// A member of an organization.
#[derive(Serialize, ToSchema)]
pub struct MemberBody {
    /// The user.
    pub user: UserBody,
    /// owner, admin or member.
    #[schema(value_type = String)]
    pub role: Role,
    /// Since when.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: OffsetDateTime,
}

impl From<Member> for MemberBody {
    fn from(m: Member) -> Self {
        MemberBody {
            user: m.user.into(),
            role: m.role,
            joined_at: m.joined_at,
        }
    }
}

/// Adding a member: an invitation to this email, which its user accepts. Unknown fields
/// (such as the `password` that used to create accounts) are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMemberBody {
    /// Email of the person to invite.
    pub email: String,
    /// owner, admin or member.
    #[schema(value_type = String)]
    pub role: Role,
}

/// An invitation to an organization. Its shape does not depend on whether the email has an
/// account.
#[derive(Serialize, ToSchema)]
pub struct InvitationBody {
    /// The invitation.
    pub id: i64,
    /// Who is invited.
    pub email: String,
    /// The role the membership will have.
    #[schema(value_type = String)]
    pub role: Role,
    /// Always `pending`: accepted, declined and revoked invitations are gone.
    pub status: &'static str,
    /// The organization's slug.
    pub org_slug: String,
    /// The organization's name.
    pub org_name: String,
    /// When it was sent.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// When it can no longer be accepted.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

impl InvitationBody {
    /// The body of `invitation` to `org`.
    pub fn new(invitation: mesher_store::Invitation, org: &mesher_store::Organization) -> Self {
        InvitationBody {
            id: invitation.id,
            email: invitation.email,
            role: invitation.role,
            status: "pending",
            org_slug: org.slug.clone(),
            org_name: org.name.clone(),
            created_at: invitation.created_at,
            expires_at: invitation.expires_at,
        }
    }
}

/// A role change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// owner, admin or member.
    #[schema(value_type = String)]
    pub role: Role,
}

/// The signed-in user.
#[derive(Serialize, ToSchema)]
pub struct MeBody {
    /// The user.
    pub user: UserBody,
    /// Organizations and roles.
    pub organizations: Vec<OrgBody>,
    /// The CSRF token to send in `X-CSRF-Token` (session authentication only).
    pub csrf_token: Option<String>,
}

/// Profile changes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MePatch {
    /// Display name.
    pub name: Option<String>,
    /// The dashboard's time zone: an IANA name (`Europe/Berlin`), or `""` for the browser's.
    pub time_zone: Option<String>,
}

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// The current password.
    pub current_password: String,
    /// The new password (at least 8 characters).
    pub new_password: String,
}

/// Signing in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A signed-in session.
#[derive(Serialize, ToSchema)]
pub struct LoginResult {
    /// The user.
    pub user: UserBody,
    /// The CSRF token to send in `X-CSRF-Token` with changes.
    pub csrf_token: String,
}

/// An API token (never its secret).
#[derive(Serialize, ToSchema)]
pub struct TokenBody {
    /// Id.
    pub id: i64,
    /// Label.
    pub label: String,
    /// read, write or admin.
    #[schema(value_type = String)]
    pub scope: Scope,
    /// The first characters, to recognise it.
    pub prefix: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Last use.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
    /// Revocation time.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<ApiToken> for TokenBody {
    fn from(t: ApiToken) -> Self {
        TokenBody {
            id: t.id,
            label: t.label,
            scope: t.scope,
            prefix: t.prefix,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A new API token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// Label.
    pub label: Option<String>,
    /// read, write or admin (at most the caller's own scope).
    #[schema(value_type = String)]
    pub scope: Scope,
}

/// A created API token: the secret appears here once.
#[derive(Serialize, ToSchema)]
pub struct CreatedTokenBody {
    /// The secret; store it now.
    pub token: String,
    /// The token's record.
    #[serde(flatten)]
    pub record: TokenBody,
}
