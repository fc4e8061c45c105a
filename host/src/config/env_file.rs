//! The `.env` format: `KEY=value` lines, `#` comments, optional `export `,
//! single quotes (literal) and double quotes (with `\n`, `\"`, `\\` escapes).

use std::path::Path;
use std::time::SystemTime;

use super::ConfigError;

/// Modification time and length, to notice a changed file cheaply.
pub fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

pub fn read(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|(line, reason)| ConfigError::Parse {
        path: path.to_path_buf(),
        line,
        reason,
    })
}

pub fn parse(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut vars = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            return Err((index + 1, "expected KEY=value".into()));
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err((index + 1, "invalid key name".into()));
        }
        let value = unquote(value.trim()).map_err(|reason| (index + 1, reason))?;
        vars.push((name.to_string(), value));
    }
    Ok(vars)
}

fn unquote(value: &str) -> Result<String, String> {
    if let Some(rest) = value.strip_prefix('\'') {
        let end = rest.find('\'').ok_or("unterminated single quote")?;
        return Ok(rest[..end].to_string());
    }
    if let Some(rest) = value.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Ok(out),
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => break,
                },
                c => out.push(c),
            }
        }
        return Err("unterminated double quote".into());
    }
    // An unquoted value ends at ` #`, the start of a trailing comment.
    let value = match value.find(" #") {
        Some(at) => &value[..at],
        None => value,
    };
    Ok(value.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        let vars = parse(
            "# comment\n\nA=1\nexport B = two words # note\nC='lit # \\n'\nD=\"x\\ny \\\"q\\\"\"\nE=\nF=a=b\n",
        )
        .unwrap();
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("B"), Some("two words"));
        assert_eq!(get("C"), Some("lit # \\n"));
        assert_eq!(get("D"), Some("x\ny \"q\""));
        assert_eq!(get("E"), Some(""));
        assert_eq!(get("F"), Some("a=b"));
    }

    #[test]
    fn reports_the_line_of_a_bad_entry() {
        assert_eq!(parse("A=1\nnot an assignment\n").unwrap_err().0, 2);
        assert_eq!(parse("A=\"open\n").unwrap_err().0, 1);
        assert_eq!(parse("BAD KEY=1\n").unwrap_err().0, 1);
    }
}
