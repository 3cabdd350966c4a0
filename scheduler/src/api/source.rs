//! `X-Crony-Source`: which tool made a change (`crony-cli apply`, say), recorded with it in the
//! audit log.

use axum::http::HeaderMap;

use super::error::ApiError;

pub const SOURCE_HEADER: &str = "x-crony-source";
/// The longest `X-Crony-Source` the audit log keeps (its column's width).
pub const MAX_SOURCE: usize = 64;

/// `X-Crony-Source`: printable ASCII, at most [`MAX_SOURCE`] characters. A bad one is refused
/// rather than cut, so the audit log never records something the caller did not send.
pub(super) fn source(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(SOURCE_HEADER) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    let printable = text.bytes().all(|b| (0x20..0x7f).contains(&b));
    if text.is_empty() || text.len() > MAX_SOURCE || !printable {
        return Err(ApiError::invalid(
            SOURCE_HEADER,
            format!("must be 1 to {MAX_SOURCE} printable ASCII characters"),
        ));
    }
    Ok(Some(text.to_owned()))
}
