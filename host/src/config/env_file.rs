//! The `.env` format as python-dotenv reads it (the original service's
//! loader, so an operator's file means the same here): `KEY=value` lines,
//! `#` comments, optional `export `, single quotes (literal but for `\'` and
//! `\\`), double quotes (with `\n`, `\t`, `\"`… escapes), quoted values over
//! several lines, `${VAR}` and `${VAR:-default}` expansion outside single
//! quotes, the last of duplicate keys winning, a leading BOM ignored, a bare
//! `KEY` meaning unset. Unlike python-dotenv, which skips a line it cannot
//! parse, a bad line is an error: skipping it could silently drop a secret.

use std::path::Path;
use std::time::SystemTime;

use super::ConfigError;

/// Modification time and length, to notice a changed file cheaply.
pub fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// A file as read: its entries, and whether it ends mid-line (as a file
/// caught half-written does).
pub struct EnvFile {
    pub vars: Vec<(String, String)>,
    pub ends_mid_line: bool,
}

pub fn read(path: &Path, process: &[(String, String)]) -> Result<EnvFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    let vars = parse(&text, process).map_err(|(line, reason)| ConfigError::Parse {
        path: path.to_path_buf(),
        line,
        reason,
    })?;
    Ok(EnvFile {
        vars,
        ends_mid_line: !text.is_empty() && !text.ends_with('\n'),
    })
}

/// Entries in file order (duplicates kept: the last wins when looked up),
/// with `${…}` expanded. `process` wins over earlier file entries in an
/// expansion, as python-dotenv's `load_dotenv` (without `override`) does.
pub fn parse(
    text: &str,
    process: &[(String, String)],
) -> Result<Vec<(String, String)>, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser {
        chars: text.chars().collect(),
        at: 0,
        line: 1,
    };
    let mut vars: Vec<(String, String)> = Vec::new();
    while let Some(entry) = parser.entry()? {
        let (key, value) = entry;
        let Some(value) = value else { continue };
        let value = match value {
            Value::Literal(text) => text,
            Value::Expanding(text) => expand(&text, |name| {
                process
                    .iter()
                    .find(|(k, _)| k == name)
                    .or_else(|| vars.iter().rev().find(|(k, _)| k == name))
                    .map(|(_, v)| v.clone())
            }),
        };
        vars.push((key, value));
    }
    Ok(vars)
}

enum Value {
    Literal(String),
    Expanding(String),
}

struct Parser {
    chars: Vec<char>,
    at: usize,
    line: usize,
}

type Entry = (String, Option<Value>);

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    fn skip_to_line_end(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' || c == '\r' {
                break;
            }
            self.bump();
        }
    }

    /// After a value: blanks, an optional comment, then the end of a line.
    fn end_of_entry(&mut self) -> Result<(), (usize, String)> {
        self.skip_blanks();
        if self.peek() == Some('#') {
            self.skip_to_line_end();
        }
        match self.peek() {
            None | Some('\n' | '\r') => Ok(()),
            Some(_) => Err((self.line, "unexpected text after the value".into())),
        }
    }

    fn entry(&mut self) -> Result<Option<Entry>, (usize, String)> {
        // Blank lines and comments.
        loop {
            match self.peek() {
                None => return Ok(None),
                Some(' ' | '\t' | '\n' | '\r') => {
                    self.bump();
                }
                Some('#') => self.skip_to_line_end(),
                Some(_) => break,
            }
        }
        let line = self.line;
        if self.chars[self.at..].starts_with(&['e', 'x', 'p', 'o', 'r', 't'])
            && matches!(self.chars.get(self.at + 6), Some(' ' | '\t'))
        {
            self.at += 6;
            self.skip_blanks();
        }
        let key = if self.peek() == Some('\'') {
            self.bump();
            let mut key = String::new();
            loop {
                match self.bump() {
                    Some('\'') => break,
                    Some(c) => key.push(c),
                    None => return Err((line, "unterminated quoted key".into())),
                }
            }
            key
        } else {
            let mut key = String::new();
            while let Some(c) = self.peek() {
                if c == '=' || c == '#' || c.is_whitespace() {
                    break;
                }
                key.push(c);
                self.bump();
            }
            key
        };
        if key.is_empty() {
            return Err((line, "expected KEY=value".into()));
        }
        self.skip_blanks();
        if self.peek() != Some('=') {
            // `KEY` alone: named, without a value.
            self.end_of_entry()
                .map_err(|_| (line, "expected KEY=value".to_string()))?;
            return Ok(Some((key, None)));
        }
        self.bump();
        self.skip_blanks();
        let value = match self.peek() {
            Some('\'') => {
                self.bump();
                let value = self.quoted('\'', line)?;
                Value::Literal(unescape(&value, &['\\', '\'']))
            }
            Some('"') => {
                self.bump();
                let value = self.quoted('"', line)?;
                Value::Expanding(unescape(
                    &value,
                    &['\\', '\'', '"', 'a', 'b', 'f', 'n', 'r', 't', 'v'],
                ))
            }
            _ => {
                let start = self.at;
                self.skip_to_line_end();
                let raw: String = self.chars[start..self.at].iter().collect();
                Value::Expanding(strip_comment(&raw).to_string())
            }
        };
        self.end_of_entry()?;
        Ok(Some((key, Some(value))))
    }

    /// The raw text up to the closing `quote` (a backslash escapes it).
    fn quoted(&mut self, quote: char, line: usize) -> Result<String, (usize, String)> {
        let mut raw = String::new();
        loop {
            match self.bump() {
                Some('\\') => {
                    raw.push('\\');
                    match self.bump() {
                        Some(c) => raw.push(c),
                        None => break,
                    }
                }
                Some(c) if c == quote => return Ok(raw),
                Some(c) => raw.push(c),
                None => break,
            }
        }
        let which = if quote == '"' { "double" } else { "single" };
        Err((line, format!("unterminated {which} quote")))
    }
}

/// An unquoted value ends at whitespace followed by `#`.
fn strip_comment(raw: &str) -> &str {
    let bytes = raw.as_bytes();
    let cut = (1..bytes.len())
        .find(|&i| bytes[i] == b'#' && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t'))
        .unwrap_or(bytes.len());
    raw[..cut].trim_end()
}

/// Decodes `\c` for the characters in `escapable`; any other backslash
/// stays as written.
fn unescape(raw: &str, escapable: &[char]) -> String {
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek().copied()) {
            ('\\', Some(next)) if escapable.contains(&next) => {
                chars.next();
                out.push(match next {
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'v' => '\u{b}',
                    other => other,
                });
            }
            _ => out.push(c),
        }
    }
    out
}

/// `${NAME}` and `${NAME:-default}`; an unknown name without a default is
/// empty.
fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let inner = &rest[start + 2..start + 2 + len];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        match lookup(name).filter(|v| !v.is_empty()) {
            Some(value) => out.push_str(&value),
            None => out.push_str(default.unwrap_or("")),
        }
        rest = &rest[start + 3 + len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Vec<(String, String)> {
        parse(text, &[]).unwrap()
    }

    fn get<'a>(vars: &'a [(String, String)], key: &str) -> Option<&'a str> {
        vars.iter()
            .rev()
            .find(|(n, _)| n == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn parses_the_usual_forms() {
        let vars = vars(
            "# comment\n\nA=1\nexport B = two words # note\nC='lit # \\n'\nD=\"x\\ny \\\"q\\\"\"\nE=\nF=a=b\nG=x#not-a-comment\n",
        );
        assert_eq!(get(&vars, "A"), Some("1"));
        assert_eq!(get(&vars, "B"), Some("two words"));
        assert_eq!(get(&vars, "C"), Some("lit # \\n"));
        assert_eq!(get(&vars, "D"), Some("x\ny \"q\""));
        assert_eq!(get(&vars, "E"), Some(""));
        assert_eq!(get(&vars, "F"), Some("a=b"));
        assert_eq!(get(&vars, "G"), Some("x#not-a-comment"));
    }

    #[test]
    fn follows_python_dotenv_where_loaders_differ() {
        let vars = vars(
            "\u{feff}SECRET=first\nSECRET=second\nQ='it\\'s'\nT=\"a\\tb\\\\c\\d\"\nM=\"line one\nline two\"\nBARE\nexport X=1 # c\n",
        );
        assert_eq!(
            get(&vars, "SECRET"),
            Some("second"),
            "the last duplicate wins"
        );
        assert_eq!(get(&vars, "Q"), Some("it's"));
        assert_eq!(get(&vars, "T"), Some("a\tb\\c\\d"));
        assert_eq!(get(&vars, "M"), Some("line one\nline two"));
        assert_eq!(get(&vars, "BARE"), None, "a bare key is unset");
        assert_eq!(get(&vars, "X"), Some("1"));
    }

    #[test]
    fn expands_variables_outside_single_quotes() {
        let process = vec![("HOME_HOST".to_string(), "from-process".to_string())];
        let vars = parse(
            "HOME_HOST=from-file\nBASE=https://plane.test\nA=${BASE}/api\nB=\"${HOME_HOST}\"\nC='${BASE}'\nD=${MISSING:-fallback}\nE=${MISSING}x\n",
            &process,
        )
        .unwrap();
        assert_eq!(get(&vars, "A"), Some("https://plane.test/api"));
        assert_eq!(get(&vars, "B"), Some("from-process"));
        assert_eq!(get(&vars, "C"), Some("${BASE}"));
        assert_eq!(get(&vars, "D"), Some("fallback"));
        assert_eq!(get(&vars, "E"), Some("x"));
    }

    #[test]
    fn reports_the_line_of_a_bad_entry() {
        assert_eq!(parse("A=1\nnot an assignment\n", &[]).unwrap_err().0, 2);
        assert_eq!(parse("A=\"open\n", &[]).unwrap_err().0, 1);
        assert_eq!(parse("A='x' trailing\n", &[]).unwrap_err().0, 1);
        assert_eq!(parse("=1\n", &[]).unwrap_err().0, 1);
    }
}
