//! Downloads written while they are read from the database, so an export of any size costs
//! the server little memory: a JSON object whose last field is an array filled from a
//! cursor, or text made piece by piece.

use axum::body::{Body, Bytes};
use futures::{stream, Stream, StreamExt};
use serde::Serialize;

use crate::error::{AppError, AppResult};

/// `head` serialised with its last field an empty array, then that array filled with the
/// items of `rest` as they arrive.
pub fn json_with_streamed_array<H, T, E>(
    head: &H,
    rest: impl Stream<Item = Result<T, E>> + Send + 'static,
) -> AppResult<Body>
where
    H: Serialize,
    T: Serialize,
    E: std::error::Error + Send + Sync + 'static,
{
    let head = serde_json::to_string(head).map_err(AppError::internal)?;
    let open = head.strip_suffix("[]}").ok_or_else(|| AppError::internal("the last field is not an empty array"))?;
    let open = Bytes::from(format!("{open}["));
    let items = rest.enumerate().map(|(i, item)| {
        let json = serde_json::to_string(&item.map_err(std::io::Error::other)?).map_err(std::io::Error::other)?;
        Ok::<_, std::io::Error>(Bytes::from(if i == 0 { json } else { format!(",{json}") }))
    });
    let body =
        stream::once(async move { Ok(open) }).chain(items).chain(stream::once(async { Ok(Bytes::from_static(b"]}")) }));
    Ok(Body::from_stream(body))
}

/// `first`, then each piece of `rest` as it arrives.
pub fn text<E>(first: String, rest: impl Stream<Item = Result<String, E>> + Send + 'static) -> Body
where
    E: std::error::Error + Send + Sync + 'static,
{
    let rest = rest.map(|piece| piece.map(Bytes::from).map_err(std::io::Error::other));
    Body::from_stream(stream::once(async move { Ok(Bytes::from(first)) }).chain(rest))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Head {
        name: &'static str,
        items: Vec<u32>,
    }

    async fn collect(body: Body) -> String {
        String::from_utf8(axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_last_array_is_filled_from_the_stream() {
        let items = stream::iter([1u32, 2, 3].map(Ok::<_, std::io::Error>));
        let body = json_with_streamed_array(&Head { name: "x", items: vec![] }, items).unwrap();
        assert_eq!(collect(body).await, r#"{"name":"x","items":[1,2,3]}"#);
        let none = stream::iter(Vec::<Result<u32, std::io::Error>>::new());
        let body = json_with_streamed_array(&Head { name: "x", items: vec![] }, none).unwrap();
        assert_eq!(collect(body).await, r#"{"name":"x","items":[]}"#);
    }
}
