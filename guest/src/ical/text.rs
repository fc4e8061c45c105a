//! Which characters may reach an event. RFC 5545 §3.3.11 allows no control
//! characters in TEXT other than tab (line breaks are escaped), and the
//! calendar is read back through XML (RFC 4791 REPORTs), which has no place
//! for noncharacters such as U+FFFE and U+FFFF (XML 1.0 §2.2): one of them
//! in a stored event makes a server's whole REPORT unreadable.

/// Unicode noncharacters: U+FDD0..U+FDEF and the last two code points of
/// every plane.
pub fn is_noncharacter(c: char) -> bool {
    let code = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&code) || code & 0xFFFE == 0xFFFE
}

/// Whether `c` may stand on one content line: no control but tab, no
/// noncharacter.
pub fn is_line_char(c: char) -> bool {
    (!c.is_control() || c == '\t') && !is_noncharacter(c)
}

/// Text for a TEXT property: line breaks normalised to `\n` (so it reads
/// back exactly as written), other controls and noncharacters dropped.
pub fn clean_text(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|&c| c == '\n' || is_line_char(c))
        .collect()
}

/// A property value as written on one content line: no line break, no
/// other control but tab, no noncharacter, whatever the value's source.
pub fn content_line_value(value: &str) -> String {
    value.chars().filter(|&c| is_line_char(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noncharacters_and_controls_are_dropped() {
        assert_eq!(
            clean_text("a\u{FFFF}b\u{FFFE}c\u{FDD0}d\u{10FFFF}e\u{1FFFE}f"),
            "abcdef"
        );
        assert_eq!(clean_text("x\r\ny\rz\u{7}\u{0}\tw"), "x\ny\nz\tw");
        assert_eq!(content_line_value("u\r\nATTENDEE:x"), "uATTENDEE:x");
        // Private-use and ordinary astral characters stay.
        assert_eq!(clean_text("\u{E000}🚀\u{FFFD}"), "\u{E000}🚀\u{FFFD}");
    }
}
