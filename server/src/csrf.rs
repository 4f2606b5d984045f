//! Cross-site request forgery: every request that can change something (anything but
//! GET, HEAD and OPTIONS — server functions included) must show that it comes from a
//! page of this site. Browsers say so in `Sec-Fetch-Site` (all current ones) and
//! `Origin` (all of them, on POST); a request that shows neither, or shows another
//! site, is refused with 403 before it reaches any handler.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chronicle_app::error::AppError;

/// The site's own origin, `scheme://host[:port]`, from its configured public URL.
#[derive(Debug, Clone)]
pub struct SiteOrigin(pub String);

impl SiteOrigin {
    pub fn from_public_url(url: &str) -> Self {
        // Keep scheme://authority, drop any path.
        let trimmed = url.trim_end_matches('/');
        let origin = match trimmed.find("://") {
            Some(i) => match trimmed[i + 3..].find('/') {
                Some(j) => &trimmed[..i + 3 + j],
                None => trimmed,
            },
            None => trimmed,
        };
        SiteOrigin(origin.to_ascii_lowercase())
    }
}

/// Why a request was refused, or `None` if it may pass.
pub fn refusal(method: &Method, headers: &HeaderMap, site: &SiteOrigin) -> Option<&'static str> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    if let Some(fetch_site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        // `none`: the person typed or bookmarked it; not something another site can do.
        return match fetch_site {
            "same-origin" | "none" => None,
            _ => Some("cross-site request refused: it came from another site"),
        };
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) if origin.eq_ignore_ascii_case(&site.0) => None,
        Some(_) => Some("cross-site request refused: it came from another site"),
        None => Some(
            "cross-site request refused: the request does not say where it comes from \
             (no Origin or Sec-Fetch-Site header)",
        ),
    }
}

pub async fn check(State(site): State<SiteOrigin>, req: Request, next: Next) -> Response {
    match refusal(req.method(), req.headers(), &site) {
        None => next.run(req).await,
        Some(message) => {
            tracing::warn!(method = %req.method(), uri = %req.uri(), "{message}");
            let body = serde_json::to_string(&AppError::Forbidden {
                message: message.to_owned(),
            })
            .unwrap_or_default();
            (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "application/json")],
                Body::from(body),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn reads_pass_and_writes_need_proof_of_origin() {
        let site = SiteOrigin::from_public_url("http://127.0.0.1:3000/");
        assert_eq!(site.0, "http://127.0.0.1:3000");
        assert!(refusal(&Method::GET, &headers(&[]), &site).is_none());
        assert!(refusal(&Method::POST, &headers(&[]), &site).is_some());
        assert!(refusal(
            &Method::POST,
            &headers(&[("sec-fetch-site", "same-origin")]),
            &site
        )
        .is_none());
        assert!(refusal(
            &Method::POST,
            &headers(&[("sec-fetch-site", "cross-site")]),
            &site
        )
        .is_some());
        assert!(refusal(
            &Method::POST,
            &headers(&[("sec-fetch-site", "same-site")]),
            &site
        )
        .is_some());
        assert!(refusal(
            &Method::POST,
            &headers(&[("origin", "http://127.0.0.1:3000")]),
            &site
        )
        .is_none());
        assert!(refusal(
            &Method::DELETE,
            &headers(&[("origin", "http://evil.example")]),
            &site
        )
        .is_some());
        // Sec-Fetch-Site wins over a matching Origin.
        assert!(refusal(
            &Method::POST,
            &headers(&[
                ("origin", "http://127.0.0.1:3000"),
                ("sec-fetch-site", "cross-site")
            ]),
            &site
        )
        .is_some());
        let https = SiteOrigin::from_public_url("https://Board.Example.com/app");
        assert_eq!(https.0, "https://board.example.com");
    }
}
