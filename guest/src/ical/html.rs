//! Plane's `description_html` as plain text for DESCRIPTION.
//!
//! A single pass over the input (linear in its size): tags are dropped,
//! block elements become line breaks, entities are decoded, and the content
//! of `<script>`/`<style>` is skipped. Lists read as Plane's editor (TipTap)
//! shows them: `<ul><li><p>one</p></li></ul>` is `- one`, `<ol>` items are
//! numbered, task items are `- [x] done`, and a mention is `@label`.

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

/// The text being built, with the marker of a list item that has not shown
/// any text yet: it is written before the item's first text, so that the
/// paragraph TipTap wraps every item in does not split it from its bullet,
/// and an empty item leaves no lone `-`.
#[derive(Default)]
struct Text {
    out: String,
    /// One entry per open list: `None` for `<ul>`, the last number for `<ol>`.
    lists: Vec<Option<u32>>,
    marker: Option<String>,
}

impl Text {
    fn push_str(&mut self, text: &str) {
        if text.trim().is_empty() {
            if self.marker.is_none() {
                self.out.push_str(text);
            }
            return;
        }
        if let Some(marker) = self.marker.take() {
            self.out.push_str(&marker);
        }
        self.out.push_str(text);
    }

    fn push(&mut self, c: char) {
        self.push_str(c.encode_utf8(&mut [0; 4]));
    }

    fn line_break(&mut self) {
        if self.marker.is_none() {
            self.out.push('\n');
        }
    }

    fn open_item(&mut self, tag: &str) {
        self.out.push('\n');
        let bullet = match self.lists.last_mut() {
            Some(Some(number)) => {
                *number = number.saturating_add(1);
                format!("{number}. ")
            }
            _ => "- ".to_string(),
        };
        let task = match attribute(tag, "data-checked").as_deref() {
            Some("true") => "[x] ",
            Some(_) => "[ ] ",
            None => "",
        };
        self.marker = Some(format!("{bullet}{task}"));
    }
}

pub fn to_plain_text(html: &str) -> String {
    let mut text = Text::default();
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
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(skipped) = &skipping {
            if closing && &name == skipped {
                skipping = None;
            }
            continue;
        }
        match (name.as_str(), closing) {
            ("script" | "style", false) => skipping = Some(name),
            ("ul", false) => {
                text.lists.push(None);
                text.line_break();
            }
            ("ol", false) => {
                let first = attribute(tag, "start").and_then(|s| s.parse::<u32>().ok());
                text.lists.push(Some(first.unwrap_or(1).saturating_sub(1)));
                text.line_break();
            }
            ("ul" | "ol", true) => {
                text.lists.pop();
                text.marker = None;
                text.out.push('\n');
            }
            ("li", false) => text.open_item(tag),
            ("li", true) => {
                text.marker = None;
                text.out.push('\n');
            }
            ("mention-component", false) => {
                if let Some(label) = attribute(tag, "label").filter(|l| !l.trim().is_empty()) {
                    text.push_str(&format!("@{}", decode(&label)));
                }
            }
            (name, _) if BLOCK_TAGS.contains(&name) => text.line_break(),
            _ => {}
        }
    }
    if skipping.is_none() {
        push_text(&mut text, rest);
    }
    tidy(&text.out)
}

/// The value of `name="…"` (or `'…'`) in a start tag's text.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let mut rest = tag;
    while let Some(at) = rest.find(name) {
        let before = rest[..at].chars().last();
        let after = rest[at + name.len()..].trim_start();
        rest = &rest[at + name.len()..];
        if !before.is_some_and(char::is_whitespace) {
            continue;
        }
        let Some(value) = after.strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        let quote = value.chars().next()?;
        if quote == '"' || quote == '\'' {
            let inner = &value[1..];
            return inner.find(quote).map(|end| inner[..end].to_string());
        }
        return Some(
            value
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or("")
                .to_string(),
        );
    }
    None
}

fn decode(raw: &str) -> String {
    let mut text = Text::default();
    push_text(&mut text, raw);
    text.out
}

fn push_text(out: &mut Text, raw: &str) {
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
    fn reads_lists_as_the_editor_shows_them() {
        // As Plane's TipTap editor writes them.
        let html = r#"<ul class="list-disc pl-7 space-y-[--list-spacing-y] tight" data-tight="true"><li class="not-prose space-y-2"><p class="editor-paragraph-block">one</p></li><li class="not-prose space-y-2"><p class="editor-paragraph-block">two &amp; more</p></li></ul><ol class="list-decimal pl-7 space-y-[--list-spacing-y] tight" data-tight="true"><li class="not-prose space-y-2"><p class="editor-paragraph-block">first</p></li><li class="not-prose space-y-2"><p class="editor-paragraph-block">second</p><ul><li><p>nested</p></li></ul></li><li><p></p></li></ol><ul data-type="taskList"><li data-checked="true" data-type="taskItem"><label><input type="checkbox" checked="checked"><span></span></label><div><p>done</p></div></li><li data-checked="false" data-type="taskItem"><label><input type="checkbox"><span></span></label><div><p>todo</p></div></li></ul><p class="editor-paragraph-block">Ping <mention-component entity_identifier="0b1c" entity_name="user_mention" label="Ada &amp; co"></mention-component> now</p>"#;
        assert_eq!(
            to_plain_text(html),
            "- one\n- two & more\n1. first\n2. second\n- nested\n- [x] done\n- [ ] todo\nPing @Ada & co now"
        );
        assert_eq!(
            to_plain_text(r#"<ol start="4"><li>d</li><li>e</li></ol>"#),
            "4. d\n5. e"
        );
        let huge = to_plain_text(r#"<ol start="4294967295"><li>a</li><li>b</li></ol>"#);
        assert_eq!(huge, "4294967295. a\n4294967295. b");
    }

    #[test]
    fn large_inputs_are_linear() {
        let html: String = (0..10_000).map(|i| format!("<p>line {i}</p>")).collect();
        let text = to_plain_text(&html);
        assert_eq!(text.lines().count(), 10_000);
    }
}
