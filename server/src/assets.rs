//! The browser bundle under `/pkg`: the build's brotli and gzip copies (`cargo leptos build
//! --precompress`) chosen by the request's `Accept-Encoding`, and cached for a year when the
//! build hashed the file names (`hash-files`: a new build gets new names, so nothing stale is
//! ever served). A build without hashes is revalidated on every load instead.

use std::path::{Path, PathBuf};

use axum::{
    http::{header, HeaderValue, Response},
    Router,
};
use tower_http::{services::ServeDir, set_header::SetResponseHeaderLayer};

const FOR_A_YEAR: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// Where `cargo leptos` lists the hashed names: next to the server binary (Leptos reads it there).
pub fn hash_file() -> Option<PathBuf> {
    let path = std::env::current_exe().ok()?.parent()?.join("hash.txt");
    path.exists().then_some(path)
}

pub fn router<S: Clone + Send + Sync + 'static>(site_root: &Path, hashed: bool) -> Router<S> {
    let files = ServeDir::new(site_root.join("pkg")).precompressed_br().precompressed_gzip();
    let cache = HeaderValue::from_static(if hashed { FOR_A_YEAR } else { REVALIDATE });
    // Only on files found: a 404 must not be cached for a year.
    let cache_found = move |response: &Response<_>| response.status().is_success().then(|| cache.clone());
    Router::new()
        .nest_service("/pkg", files)
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, cache_found))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;

    use super::*;

    async fn get(router: Router, path: &str, accept: Option<&str>) -> (u16, Option<String>, Option<String>, Vec<u8>) {
        let mut request = Request::get(path);
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT_ENCODING, accept);
        }
        let response = router.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let header = |name| response.headers().get(name).map(|v: &HeaderValue| v.to_str().unwrap().to_string());
        let (status, encoding, cache) =
            (response.status().as_u16(), header(header::CONTENT_ENCODING), header(header::CACHE_CONTROL));
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec();
        (status, encoding, cache, body)
    }

    #[tokio::test]
    async fn the_bundle_is_served_precompressed_by_negotiation_and_cached_when_hashed() {
        let site = std::env::temp_dir().join(format!("healthchat-assets-{}", std::process::id()));
        std::fs::create_dir_all(site.join("pkg")).unwrap();
        std::fs::write(site.join("pkg/app.abc123.wasm"), b"plain").unwrap();
        std::fs::write(site.join("pkg/app.abc123.wasm.br"), b"brotli").unwrap();
        std::fs::write(site.join("pkg/app.abc123.wasm.gz"), b"gzip").unwrap();
        let hashed = router::<()>(&site, true);

        let (status, encoding, cache, body) = get(hashed.clone(), "/pkg/app.abc123.wasm", Some("gzip, br")).await;
        assert_eq!((status, encoding.as_deref(), body.as_slice()), (200, Some("br"), &b"brotli"[..]));
        assert_eq!(cache.as_deref(), Some(FOR_A_YEAR));
        let (_, encoding, _, body) = get(hashed.clone(), "/pkg/app.abc123.wasm", Some("gzip")).await;
        assert_eq!((encoding.as_deref(), body.as_slice()), (Some("gzip"), &b"gzip"[..]));
        let (_, encoding, _, body) = get(hashed.clone(), "/pkg/app.abc123.wasm", None).await;
        assert_eq!((encoding, body.as_slice()), (None, &b"plain"[..]));
        // Nothing outside the bundle's folder is reachable.
        std::fs::write(site.join("secret.txt"), b"outside").unwrap();
        for path in ["/pkg/../secret.txt", "/pkg/..%2fsecret.txt", "/pkg/%2e%2e/secret.txt"] {
            let (status, _, _, body) = get(hashed.clone(), path, None).await;
            assert!(status >= 400 && body != b"outside", "{path}: {status}");
        }
        let (status, _, cache, _) = get(hashed, "/pkg/missing.wasm", Some("br")).await;
        assert_eq!((status, cache), (404, None), "a miss is not cached for a year");

        let (_, _, cache, _) = get(router::<()>(&site, false), "/pkg/app.abc123.wasm", Some("br")).await;
        assert_eq!(cache.as_deref(), Some(REVALIDATE), "unhashed names are revalidated");
        let _ = std::fs::remove_dir_all(&site);
    }
}
