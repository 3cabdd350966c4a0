//! Parsers of the value kinds several settings share; each error says what a good value
//! looks like.

use std::collections::BTreeMap;

/// `http://a:2379,b:2379` → `["http://a:2379", "http://b:2379"]` (scheme defaults to http).
pub fn parse_endpoints(raw: &str) -> Result<Vec<String>, String> {
    let endpoints: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let with_scheme = if s.contains("://") {
                s.to_owned()
            } else {
                format!("http://{s}")
            };
            let rest = with_scheme
                .strip_prefix("http://")
                .or_else(|| with_scheme.strip_prefix("https://"))
                .ok_or_else(|| format!("endpoint {s:?} must use http:// or https://"))?;
            match rest.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                    Ok(with_scheme)
                }
                _ => Err(format!("endpoint {s:?} must be host:port")),
            }
        })
        .collect::<Result<_, _>>()?;
    if endpoints.is_empty() {
        return Err("at least one endpoint is required".into());
    }
    Ok(endpoints)
}

/// An etcd key prefix: starts with `/`, no trailing `/`, no spaces.
pub fn parse_prefix(raw: &str) -> Result<String, String> {
    if !raw.starts_with('/')
        || raw.len() < 2
        || raw.ends_with('/')
        || raw.contains(char::is_whitespace)
    {
        return Err(format!(
            "{raw:?} must look like /crony (leading /, no trailing /, no spaces)"
        ));
    }
    Ok(raw.to_owned())
}

/// `zone=a,tier=batch` → a map. Keys and values are `[A-Za-z0-9._-]`, keys non-empty.
pub fn parse_labels(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let valid = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
    };
    let mut labels = BTreeMap::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("label {pair:?} is not key=value"))?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || !valid(k) || !valid(v) || k.len() > 63 || v.len() > 63 {
            return Err(format!(
                "label {pair:?}: keys and values use letters, digits, . _ - / (at most 63 characters), keys are non-empty"
            ));
        }
        if labels.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(format!("label key {k:?} appears twice"));
        }
    }
    Ok(labels)
}

pub fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{raw:?} is not a boolean (true/false)")),
    }
}

/// An integer within `min..=max`.
pub fn parse_in_range(raw: &str, min: u64, max: u64) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{raw:?} must be a whole number from {min} to {max}"
        )),
    }
}

pub fn parse_socket_addr(raw: &str) -> Result<std::net::SocketAddr, String> {
    raw.parse()
        .map_err(|_| format!("{raw:?} is not an ip:port address (e.g. 0.0.0.0:8080)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_parsers() {
        assert_eq!(
            parse_endpoints("a:1, https://b:2").unwrap(),
            ["http://a:1", "https://b:2"]
        );
        assert!(parse_endpoints("a").is_err());
        assert!(parse_endpoints("ftp://a:1").is_err());
        assert!(parse_prefix("crony").is_err());
        assert!(parse_prefix("/crony/").is_err());
        assert_eq!(parse_prefix("/crony").unwrap(), "/crony");
        assert!(parse_labels("a=b,a=c").is_err());
        assert!(parse_labels("a b=c").is_err());
        assert!(parse_bool("maybe").is_err());
        assert!(parse_in_range("1", 2, 3).is_err());
    }
}
