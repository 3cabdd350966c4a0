//! What a job calls, parsed: HTTP method, URL and headers, gRPC endpoint, method path and
//! metadata, shell command. Each is checked once when the job arrives, with the same parsers
//! the scheduler validates with, so an executor only puts the pieces together.
//!
//! Maps arrive as proto maps (in no particular order) and are kept sorted, so that two pushes
//! of the same job compare equal.

use std::path::PathBuf;

use crony_proto::v1 as pb;
use reqwest::header::{HeaderName, HeaderValue};
use tonic::codegen::http::Uri;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};

use super::JobError;

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Http(HttpTarget),
    Grpc(GrpcTarget),
    Shell(ShellTarget),
}

impl Target {
    /// `http`, `grpc` or `shell`, as the job model names the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Http(_) => "http",
            Target::Grpc(_) => "grpc",
            Target::Shell(_) => "shell",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpTarget {
    pub(crate) method: reqwest::Method,
    pub(crate) url: reqwest::Url,
    /// Sorted by name (lower case, as `HeaderName` keeps them).
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: String,
    /// The one status that succeeds; `None`: any 2xx.
    pub(crate) success_status: Option<reqwest::StatusCode>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GrpcTarget {
    pub(crate) endpoint: Uri,
    pub(crate) path: PathAndQuery,
    /// Sorted by key.
    pub(crate) metadata: Vec<(AsciiMetadataKey, AsciiMetadataValue)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ShellTarget {
    pub(crate) command: String,
    pub(crate) workdir: Option<PathBuf>,
    /// Sorted by name. Not checked: a variable the shell cannot take fails its runs, which say
    /// why, rather than the whole push.
    pub(crate) env: Vec<(String, String)>,
}

impl TryFrom<&pb::Target> for Target {
    type Error = JobError;

    fn try_from(target: &pb::Target) -> Result<Self, JobError> {
        match &target.kind {
            Some(pb::target::Kind::Http(http)) => http_target(http).map(Target::Http),
            Some(pb::target::Kind::Grpc(grpc)) => grpc_target(grpc).map(Target::Grpc),
            Some(pb::target::Kind::Shell(shell)) => shell_target(shell).map(Target::Shell),
            None => Err(JobError::field(
                "target",
                "has no kind (http, grpc or shell)",
            )),
        }
    }
}

fn http_target(http: &pb::HttpTarget) -> Result<HttpTarget, JobError> {
    // Unset means GET; methods are case-insensitive for users, not on the wire.
    let method = if http.method.is_empty() {
        reqwest::Method::GET
    } else {
        reqwest::Method::from_bytes(http.method.to_ascii_uppercase().as_bytes()).map_err(|_| {
            JobError::field(
                "target.http.method",
                format!("{:?} is not an HTTP method", http.method),
            )
        })?
    };
    let url = reqwest::Url::parse(&http.url).map_err(|e| {
        JobError::field(
            "target.http.url",
            format!("{:?} is not a URL: {e}", http.url),
        )
    })?;
    let mut headers = Vec::with_capacity(http.headers.len());
    for (name, value) in &http.headers {
        let bad = || {
            JobError::field(
                "target.http.headers",
                format!("{name:?} is not a header Crony can send"),
            )
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        let value = HeaderValue::from_str(value).map_err(|_| bad())?;
        headers.push((name, value));
    }
    headers.sort_by(|a, b| {
        (a.0.as_str().cmp(b.0.as_str())).then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    let success_status = match http.success_status {
        0 => None,
        code => Some(
            u16::try_from(code)
                .ok()
                .and_then(|code| reqwest::StatusCode::from_u16(code).ok())
                .ok_or_else(|| {
                    JobError::field(
                        "target.http.success_status",
                        format!("{code} is not an HTTP status"),
                    )
                })?,
        ),
    };
    Ok(HttpTarget {
        method,
        url,
        headers,
        body: http.body.clone(),
        success_status,
    })
}

fn grpc_target(grpc: &pb::GrpcTarget) -> Result<GrpcTarget, JobError> {
    let bad_endpoint = |e: &dyn std::fmt::Display| {
        JobError::field(
            "target.grpc.endpoint",
            format!("{:?} is not a URL: {e}", grpc.endpoint),
        )
    };
    // Read as a URL first, as the scheduler validated it: its ASCII form (punycode,
    // percent-escapes) is then a URI even where the text as written is not.
    let url = reqwest::Url::parse(&grpc.endpoint).map_err(|e| bad_endpoint(&e))?;
    let endpoint = Uri::try_from(url.as_str()).map_err(|e| bad_endpoint(&e))?;
    let method = if grpc.method.is_empty() {
        crony_proto::DEFAULT_CALLBACK_METHOD
    } else {
        grpc.method.as_str()
    };
    let bad_method = |why: String| {
        JobError::field(
            "target.grpc.method",
            format!("{method:?} is not a method path like /package.Service/Method: {why}"),
        )
    };
    if !method.starts_with('/') {
        return Err(bad_method("it must start with /".into()));
    }
    let path = PathAndQuery::try_from(method).map_err(|e| bad_method(e.to_string()))?;
    let mut metadata = Vec::with_capacity(grpc.metadata.len());
    for (key, value) in &grpc.metadata {
        let bad = || {
            JobError::field(
                "target.grpc.metadata",
                format!("{key:?} is not valid gRPC metadata"),
            )
        };
        let key = AsciiMetadataKey::from_bytes(key.as_bytes()).map_err(|_| bad())?;
        let value = AsciiMetadataValue::try_from(value.as_str()).map_err(|_| bad())?;
        metadata.push((key, value));
    }
    metadata.sort_by(|a, b| {
        (a.0.as_str().cmp(b.0.as_str())).then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    Ok(GrpcTarget {
        endpoint,
        path,
        metadata,
    })
}

fn shell_target(shell: &pb::ShellTarget) -> Result<ShellTarget, JobError> {
    if shell.command.trim().is_empty() {
        return Err(JobError::field("target.shell.command", "is empty"));
    }
    let mut env: Vec<(String, String)> = shell
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.sort();
    Ok(ShellTarget {
        command: shell.command.clone(),
        workdir: (!shell.workdir.is_empty()).then(|| PathBuf::from(&shell.workdir)),
        env,
    })
}

/// Back to the proto, for the held-jobs file: converting the result again gives an equal
/// target (header names come back in lower case, URLs normalised).
impl From<&Target> for pb::Target {
    fn from(target: &Target) -> Self {
        let kind = match target {
            Target::Http(http) => pb::target::Kind::Http(pb::HttpTarget {
                method: http.method.to_string(),
                url: http.url.as_str().to_owned(),
                headers: http
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                        (k.as_str().to_owned(), value)
                    })
                    .collect(),
                body: http.body.clone(),
                success_status: http.success_status.map_or(0, |s| u32::from(s.as_u16())),
            }),
            Target::Grpc(grpc) => pb::target::Kind::Grpc(pb::GrpcTarget {
                endpoint: grpc.endpoint.to_string(),
                method: grpc.path.to_string(),
                metadata: grpc
                    .metadata
                    .iter()
                    .map(|(k, v)| {
                        let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                        (k.as_str().to_owned(), value)
                    })
                    .collect(),
            }),
            Target::Shell(shell) => pb::target::Kind::Shell(pb::ShellTarget {
                command: shell.command.clone(),
                workdir: shell
                    .workdir
                    .as_ref()
                    .map(|w| w.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                env: shell.env.iter().cloned().collect(),
            }),
        };
        pb::Target { kind: Some(kind) }
    }
}
