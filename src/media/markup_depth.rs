//! How deeply an XML text nests its elements, measured on the raw text before any parser sees
//! it.
//!
//! roxmltree's tokenizer recurses once per nesting level (`parse_element` → `parse_content`),
//! so a 21 KB document of ~3,000 nested `<g>` overflows a worker's stack inside the parser,
//! before a walk of the parsed tree could refuse it. This scan is a loop over the bytes: it
//! skips comments, CDATA, processing instructions and quoted attribute values, and measures
//! markup written inside the DTD's quoted entity values too, since expanding an entity parses
//! its text the same recursive way.

/// The deepest element nesting in `text`, stopping early (with `limit + 1`) once `limit` is
/// exceeded. Malformed text is not judged here: the parser reports it afterwards.
pub fn max_depth(text: &[u8], limit: u32) -> u32 {
    let mut depth: u32 = 0;
    let mut deepest: u32 = 0;
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &text[i..];
        if rest.starts_with(b"<!--") {
            i = skip_past(text, i + 4, b"-->");
        } else if rest.starts_with(b"<![CDATA[") {
            i = skip_past(text, i + 9, b"]]>");
        } else if rest.starts_with(b"<?") {
            i = skip_past(text, i + 2, b"?>");
        } else if rest.starts_with(b"<!") {
            let (end, inner) = skip_declaration(text, i + 2, limit);
            deepest = deepest.max(depth.saturating_add(inner));
            i = end;
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            i = skip_past(text, i + 2, b">");
        } else {
            let (end, self_closing) = skip_tag(text, i + 1);
            if !self_closing {
                depth += 1;
                deepest = deepest.max(depth);
            }
            i = end;
        }
        if deepest > limit {
            return deepest;
        }
    }
    deepest
}

/// The index just past `needle` at or after `from`, or the end of the text.
fn skip_past(text: &[u8], from: usize, needle: &[u8]) -> usize {
    text.get(from..)
        .and_then(|tail| tail.windows(needle.len()).position(|w| w == needle))
        .map_or(text.len(), |at| from + at + needle.len())
}

/// Skips a start tag's name and attributes; returns the index past its `>` and whether it
/// closed itself (`/>`). Quoted values may hold `>` and `/`.
fn skip_tag(text: &[u8], mut i: usize) -> (usize, bool) {
    let mut previous = 0u8;
    while i < text.len() {
        match text[i] {
            quote @ (b'"' | b'\'') => {
                i = skip_past(text, i + 1, &[quote]);
                previous = quote;
                continue;
            }
            b'>' => return (i + 1, previous == b'/'),
            byte if !byte.is_ascii_whitespace() => previous = byte,
            _ => {}
        }
        i += 1;
    }
    (text.len(), false)
}

/// Skips a `<!DOCTYPE …>` (with its `[ … ]` internal subset) or another `<!…>` declaration;
/// returns the index past it and the deepest nesting found in its quoted values.
fn skip_declaration(text: &[u8], mut i: usize, limit: u32) -> (usize, u32) {
    let mut brackets = 0u32;
    let mut inner = 0u32;
    while i < text.len() {
        match text[i] {
            quote @ (b'"' | b'\'') => {
                let end = skip_past(text, i + 1, &[quote]);
                let value = &text[i + 1..end.saturating_sub(1).max(i + 1)];
                inner = inner.max(max_depth(value, limit));
                i = end;
                continue;
            }
            b'<' if text[i..].starts_with(b"<!--") => {
                i = skip_past(text, i + 4, b"-->");
                continue;
            }
            b'[' => brackets += 1,
            b']' => brackets = brackets.saturating_sub(1),
            b'>' if brackets == 0 => return (i + 1, inner),
            _ => {}
        }
        i += 1;
    }
    (text.len(), inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}{}", "<g>".repeat(levels), "</g>".repeat(levels))
    }

    #[test]
    fn counts_open_elements_not_siblings() {
        assert_eq!(max_depth(b"<svg><g/><g><rect/></g><g></g></svg>", 10), 2);
        assert_eq!(max_depth(nested(50).as_bytes(), 100), 50);
    }

    #[test]
    fn stops_early_once_past_the_limit() {
        assert_eq!(max_depth(nested(3_100).as_bytes(), 128), 129);
    }

    #[test]
    fn ignores_markup_in_comments_cdata_and_attribute_values() {
        let text =
            br#"<svg a="<g><g>" b='/>'><!-- <g><g><g> --><![CDATA[<g><g>]]><?pi <g>?><g/></svg>"#;
        assert_eq!(max_depth(text, 10), 1);
    }

    #[test]
    fn measures_markup_hidden_in_entity_values() {
        let text = format!(
            r#"<!DOCTYPE svg [ <!ENTITY deep "{}"> ]><svg>&deep;</svg>"#,
            nested(500)
        );
        assert!(max_depth(text.as_bytes(), 128) > 128);
    }

    #[test]
    fn a_doctype_without_markup_adds_nothing() {
        let text = br#"<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd" [ <!ENTITY a ">"> ]><svg><g/></svg>"#;
        assert_eq!(max_depth(text, 10), 1);
    }
}
