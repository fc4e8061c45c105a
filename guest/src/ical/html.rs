//! Plane's `description_html` as plain text for DESCRIPTION.
//!
//! A single pass over the input (linear in its size): tags are dropped,
//! block elements become line breaks, list items get a bullet, entities are
//! decoded, and the content of `<script>`/`<style>` is skipped.

const BLOCK_TAGS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "blockquote",
    "pre",
    "hr",
    "table",
];

pub fn to_plain_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    let mut skipping: Option<String> = None;
    while let Some(start) = rest.find('<') {
        if skipping.is_none() {
            push_text(&mut text, &rest[..start]);
        }
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else {
            // A lone '<' is text.
            if skipping.is_none() {
                push_text(&mut text, &rest[start..]);
            }
            rest = "";
            break;
        };
        let tag = &after[..end];
        rest = &after[end + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(skipped) = &skipping {
            if closing && &name == skipped {
                skipping = None;
            }
            continue;
        }
        if !closing && (name == "script" || name == "style") {
            skipping = Some(name);
            continue;
        }
        if BLOCK_TAGS.contains(&name.as_str()) {
            text.push('\n');
            if name == "li" && !closing {
                text.push_str("- ");
            }
        }
    }
    if skipping.is_none() {
        push_text(&mut text, rest);
    }
    tidy(&text)
}

fn push_text(out: &mut String, raw: &str) {
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match after.find(';').filter(|&end| end <= 10) {
            Some(end) => match decode_entity(&after[..end]) {
                Some(c) => {
                    out.push(c);
                    rest = &after[end + 1..];
                }
                None => {
                    out.push('&');
                    rest = after;
                }
            },
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

fn decode_entity(entity: &str) -> Option<char> {
    match entity {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => {
            let number = entity.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// Collapses runs of spaces within lines, trims lines and drops blank ones:
/// calendar clients show descriptions in small panes.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if !line.is_empty() {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::to_plain_text;

    #[test]
    fn converts_common_markup() {
        assert_eq!(
            to_plain_text("<p>Hello <strong>world</strong></p><p>Second</p>"),
            "Hello world\nSecond"
        );
        assert_eq!(
            to_plain_text("<ul><li>one</li><li>two</li></ul>"),
            "- one\n- two"
        );
        assert_eq!(to_plain_text("a<br>b<br/>c"), "a\nb\nc");
        assert_eq!(
            to_plain_text("<p>&lt;tag&gt; &amp; &#x1F680; &#233; &bogus; & x</p>"),
            "<tag> & 🚀 é &bogus; & x"
        );
    }

    #[test]
    fn drops_scripts_styles_and_broken_markup() {
        assert_eq!(
            to_plain_text("<style>p{}</style><script>alert(1)</script>ok"),
            "ok"
        );
        assert_eq!(to_plain_text("1 < 2"), "1 < 2");
        assert_eq!(to_plain_text(""), "");
        assert_eq!(to_plain_text("<p></p><p>   </p>"), "");
        assert_eq!(to_plain_text("plain text only"), "plain text only");
    }

    #[test]
    fn large_inputs_are_linear() {
        let html: String = (0..10_000).map(|i| format!("<p>line {i}</p>")).collect();
        let text = to_plain_text(&html);
        assert_eq!(text.lines().count(), 10_000);
    }
}
