//! Bounded, redacted echoes of what callers send: the one place that decides how much of a
//! user-supplied string may reach an error message or a log line.
//!
//! A caller's string is echoed so they can see what was refused, not to hand it back whole:
//! a 1 MB value would be copied into every reply and log line, and a 16 KB one pushes the
//! gRPC status past the header limit so the caller sees `RESOURCE_EXHAUSTED` instead of the
//! real error. URLs lose their query, fragment and userinfo, where presigned links carry
//! their signatures (`X-Amz-Signature`, `sig=`, `token=`).

use std::borrow::Cow;

/// The most characters of one user-supplied string an error or a log line repeats.
pub const MAX_ECHO_CHARS: usize = 200;

/// The most characters of a whole error message; a backstop for messages that quote several
/// echoes or a provider's own long answer.
pub const MAX_MESSAGE_CHARS: usize = 2_000;

/// `text` cut to [`MAX_ECHO_CHARS`] characters (on a char boundary), with a marker saying how
/// much was left out.
pub fn echo(text: &str) -> Cow<'_, str> {
    truncate(text, MAX_ECHO_CHARS)
}

/// `text` cut to `max` characters, with `…(N more bytes)` appended when it was cut.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => {
            let rest = text.len() - cut;
            Cow::Owned(format!("{}…({rest} more bytes)", &text[..cut]))
        }
    }
}

/// A URL as it may appear in a log line or an error: scheme, host, port and path only (the
/// path bounded like any echo). `?…` marks a dropped query so a reader knows there was one.
/// Text that does not parse as a URL is cut at its first `?` or `#` and bounded.
pub fn url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(parsed) if parsed.has_host() => url_parsed(&parsed),
        Ok(_) | Err(_) => {
            let end = text.find(['?', '#']).unwrap_or(text.len());
            let marker = if end < text.len() { "?…" } else { "" };
            format!("{}{marker}", echo(&text[..end]))
        }
    }
}

/// [`url`] for an already parsed URL.
pub fn url_parsed(parsed: &url::Url) -> String {
    let mut bare = parsed.clone();
    // Both setters fail only for URLs without a host, which carry no credentials anyway.
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    bare.set_query(None);
    bare.set_fragment(None);
    let marker = if parsed.query().is_some() || parsed.fragment().is_some() {
        "?…"
    } else {
        ""
    };
    format!("{}{marker}", echo(bare.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_echoed_whole() {
        assert!(matches!(echo("abc"), Cow::Borrowed("abc")));
        let exact = "x".repeat(MAX_ECHO_CHARS);
        assert_eq!(echo(&exact), exact);
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary_with_a_marker() {
        let long = "é".repeat(1_000);
        let cut = echo(&long);
        assert!(cut.starts_with(&"é".repeat(MAX_ECHO_CHARS)));
        assert!(cut.ends_with("…(1600 more bytes)"), "{cut}");
        assert_eq!(cut.chars().filter(|&c| c == 'é').count(), MAX_ECHO_CHARS);
    }

    #[test]
    fn urls_lose_query_fragment_and_userinfo() {
        let signed = "https://user:pw@bucket.example.com/a/b.png?X-Amz-Signature=abc&token=t#f";
        assert_eq!(url(signed), "https://bucket.example.com/a/b.png?…");
        assert_eq!(url("http://h/p.png"), "http://h/p.png");
        assert_eq!(url("not a url?sig=secret"), "not a url?…");
    }

    #[test]
    fn long_urls_are_bounded() {
        let long = format!("http://h/{}?sig=secret", "p".repeat(20_000));
        let shown = url(&long);
        assert!(shown.len() < MAX_ECHO_CHARS + 40, "{}", shown.len());
        assert!(!shown.contains("secret"));
    }
}
