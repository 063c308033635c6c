//! Images in requests: `data:` URIs and URLs, as providers want them.

/// An image reference from an OpenAI `image_url` part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image<'a> {
    /// Inline base64 data with its media type.
    Inline { media_type: &'a str, data: &'a str },
    /// An `http(s)` URL the provider fetches itself.
    Url {
        url: &'a str,
        media_type: &'static str,
    },
}

/// Parses an `image_url.url`; `None` for anything that is neither a base64
/// `data:` URI nor an `http(s)` URL.
pub fn parse_image(url: &str) -> Option<Image<'_>> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest.split_once(',')?;
        let media_type = meta.strip_suffix(";base64")?;
        if media_type.is_empty() || data.is_empty() {
            return None;
        }
        return Some(Image::Inline { media_type, data });
    }
    let lower = url
        .get(..8)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return Some(Image::Url {
            url,
            media_type: media_type_from_path(url),
        });
    }
    None
}

/// A media type guessed from a URL's extension (JPEG when unknown).
fn media_type_from_path(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    match path.rsplit('.').next() {
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("heic") => "image/heic",
        Some("heif") => "image/heif",
        _ => "image/jpeg",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_data_uris_and_urls() {
        assert_eq!(
            parse_image("data:image/png;base64,iVBORw0KGgo="),
            Some(Image::Inline {
                media_type: "image/png",
                data: "iVBORw0KGgo="
            })
        );
        assert_eq!(
            parse_image("https://example.com/cat.webp?size=2"),
            Some(Image::Url {
                url: "https://example.com/cat.webp?size=2",
                media_type: "image/webp"
            })
        );
        assert!(matches!(
            parse_image("HTTPS://example.com/x"),
            Some(Image::Url {
                media_type: "image/jpeg",
                ..
            })
        ));
        assert_eq!(parse_image("data:image/png,notbase64"), None);
        assert_eq!(parse_image("ftp://example.com/x.png"), None);
        assert_eq!(parse_image("data:;base64,AAAA"), None);
    }
}
