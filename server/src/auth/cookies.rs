//! The browser's session cookies: an access token and a refresh token, both HttpOnly and
//! SameSite=Lax, so page scripts never see them and other sites cannot send them.

use axum::http::{header, HeaderMap, HeaderValue};

pub const ACCESS: &str = "hc_access";
pub const REFRESH: &str = "hc_refresh";

/// The value of cookie `name` in the request, if any.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

pub fn set(name: &str, value: &str, max_age_secs: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"))
        .ok()
}

pub fn clear(name: &str, secure: bool) -> Option<HeaderValue> {
    set(name, "", 0, secure)
}

/// Adds both session cookies to a response.
pub fn append_session(
    headers: &mut HeaderMap,
    access: &str,
    access_ttl: u64,
    refresh: &str,
    refresh_days: i64,
    secure: bool,
) {
    if let Some(v) = set(ACCESS, access, access_ttl as i64, secure) {
        headers.append(header::SET_COOKIE, v);
    }
    if let Some(v) = set(REFRESH, refresh, refresh_days * 86_400, secure) {
        headers.append(header::SET_COOKIE, v);
    }
}

pub fn append_clear(headers: &mut HeaderMap, secure: bool) {
    for name in [ACCESS, REFRESH] {
        if let Some(v) = clear(name, secure) {
            headers.append(header::SET_COOKIE, v);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cookie_among_several() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; hc_access=tok; b=2"));
        assert_eq!(get(&h, ACCESS), Some("tok"));
        assert_eq!(get(&h, REFRESH), None);
    }
}
