//! Every route of the scheduler's HTTP API and who may call it: the one table that both the
//! OpenAPI test (documented = served) and the authorization matrix check against.

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials.
    Public,
    /// Only an execution's report token.
    ReportToken,
    /// API tokens and sessions of at least this role.
    Role(&'static str),
}

use Access::{Public, ReportToken, Role};

pub const ROUTES: &[(&str, Access)] = &[
    ("GET /api/v1/agents", Role("viewer")),
    ("GET /api/v1/agents/{id}", Role("viewer")),
    ("PATCH /api/v1/agents/{id}", Role("admin")),
    ("GET /api/v1/jobs", Role("viewer")),
    ("POST /api/v1/jobs", Role("operator")),
    ("GET /api/v1/jobs/{id}", Role("viewer")),
    ("PUT /api/v1/jobs/{id}", Role("operator")),
    ("DELETE /api/v1/jobs/{id}", Role("operator")),
    ("GET /api/v1/jobs/by-name/{name}", Role("viewer")),
    ("PUT /api/v1/jobs/by-name/{name}", Role("operator")),
    ("POST /api/v1/jobs/{id}/pause", Role("operator")),
    ("POST /api/v1/jobs/{id}/resume", Role("operator")),
    ("POST /api/v1/jobs/{id}/trigger", Role("operator")),
    ("GET /api/v1/executions", Role("viewer")),
    ("GET /api/v1/executions/{id}", Role("viewer")),
    ("POST /api/v1/executions/{id}/kill", Role("operator")),
    ("POST /api/v1/executions/{id}/result", ReportToken),
    ("GET /api/v1/cron/preview", Role("viewer")),
    ("GET /api/v1/alerts", Role("viewer")),
    ("POST /api/v1/alerts/test", Role("operator")),
    ("GET /api/v1/stats/summary", Role("viewer")),
    ("GET /api/v1/stats/daily", Role("viewer")),
    ("POST /api/v1/auth/login", Public),
    ("POST /api/v1/auth/logout", Public),
    ("GET /api/v1/auth/me", Role("viewer")),
    ("POST /api/v1/auth/setup", Public),
    ("GET /api/v1/users", Role("admin")),
    ("POST /api/v1/users", Role("admin")),
    ("GET /api/v1/users/{id}", Role("admin")),
    ("PATCH /api/v1/users/{id}", Role("admin")),
    ("DELETE /api/v1/users/{id}", Role("admin")),
    ("GET /api/v1/tokens", Role("admin")),
    ("POST /api/v1/tokens", Role("admin")),
    ("DELETE /api/v1/tokens/{id}", Role("admin")),
    ("GET /api/v1/audit", Role("operator")),
    ("GET /api/v1/openapi.json", Public),
    ("GET /healthz", Public),
    ("GET /readyz", Public),
    ("GET /metrics", Public),
];
