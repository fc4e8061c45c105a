//! The little URL handling the clients need: an origin, and resolving the
//! hrefs a server returns (absolute paths, usually) against a base URL.

/// `scheme://authority` of an absolute URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    pub fn of(url: &str) -> Option<Origin> {
        let (scheme, rest) = url.split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next()?;
        if scheme.is_empty() || authority.is_empty() {
            return None;
        }
        Some(Origin(format!(
            "{}://{authority}",
            scheme.to_ascii_lowercase()
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Resolves `href` against `base` (RFC 3986 §5.2, for the forms servers use:
/// absolute URLs, absolute paths and simple relative paths).
pub fn join(base: &str, href: &str) -> String {
    if href.contains("://") {
        return href.to_string();
    }
    let Some(origin) = Origin::of(base) else {
        return href.to_string();
    };
    if href.starts_with('/') {
        return format!("{}{href}", origin.as_str());
    }
    let path = &base[origin.as_str().len()..];
    let path = path.split(['?', '#']).next().unwrap_or("");
    let directory = match path.rfind('/') {
        Some(at) => &path[..=at],
        None => "/",
    };
    format!("{}{directory}{href}", origin.as_str())
}

/// The path and query of an absolute URL (`/` when it has none).
pub fn path_of(url: &str) -> &str {
    match Origin::of(url) {
        Some(origin) => match &url[origin.as_str().len()..] {
            "" => "/",
            path => path,
        },
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            Origin::of("http://127.0.0.1:5232/user/").unwrap().as_str(),
            "http://127.0.0.1:5232"
        );
        assert_eq!(
            Origin::of("HTTPS://dav.example.com").unwrap().as_str(),
            "https://dav.example.com"
        );
        assert!(Origin::of("/relative").is_none());
    }

    #[test]
    fn joins_like_a_browser() {
        let base = "http://h:1/dav/cal/";
        assert_eq!(join(base, "/user/x/"), "http://h:1/user/x/");
        assert_eq!(join(base, "event.ics"), "http://h:1/dav/cal/event.ics");
        assert_eq!(
            join("http://h:1/dav/cal", "other/"),
            "http://h:1/dav/other/"
        );
        assert_eq!(join(base, "https://elsewhere/x"), "https://elsewhere/x");
        assert_eq!(join("http://h", "a"), "http://h/a");
    }

    #[test]
    fn paths() {
        assert_eq!(path_of("http://h:1/a/b?c=d"), "/a/b?c=d");
        assert_eq!(path_of("http://h:1"), "/");
    }
}
