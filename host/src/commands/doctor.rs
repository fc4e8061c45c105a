//! `calplanebot doctor`: the guest's checks (`/_host/doctor`), printed one
//! per line with ✓ or ✗ and, for each failure, what to change.

use serde_json::Value;

use crate::local;
use crate::runtime::Runtime;

pub struct Options {
    pub json: bool,
    pub write_test: bool,
}

/// Runs the checks; `Ok(true)` when all passed.
pub async fn run(runtime: &Runtime, options: &Options) -> anyhow::Result<bool> {
    let path = if options.write_test {
        "/_host/doctor".to_string()
    } else {
        "/_host/doctor?write=0".to_string()
    };
    let answer = local::call(runtime, "GET", &path).await?;
    let report = answer.json()?;
    if answer.status != 200 {
        let message = report["message"].as_str().unwrap_or("no message");
        anyhow::bail!("the checks did not run (HTTP {}): {message}", answer.status);
    }
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(report["ok"].as_bool().unwrap_or(false))
}

/// `✓ name: found` per check, the fix indented under a failure.
fn render(report: &Value) -> String {
    let mut out = String::new();
    for check in report["checks"].as_array().into_iter().flatten() {
        let mark = if check["ok"].as_bool() == Some(true) {
            "✓"
        } else {
            "✗"
        };
        let name = check["name"].as_str().unwrap_or("?");
        let found = check["found"].as_str().unwrap_or("");
        out.push_str(&format!("{mark} {name}: {found}\n"));
        if let Some(fix) = check["fix"].as_str() {
            out.push_str(&format!("    → {fix}\n"));
        }
    }
    let failed = report["checks"]
        .as_array()
        .map(|checks| {
            checks
                .iter()
                .filter(|c| c["ok"] != Value::Bool(true))
                .count()
        })
        .unwrap_or(0);
    if failed == 0 {
        out.push_str("All checks passed.\n");
    } else {
        out.push_str(&format!("{failed} check(s) failed.\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_carry_their_fix_and_a_count() {
        let report = serde_json::json!({"ok": false, "checks": [
            {"name": "configuration", "ok": true, "found": "fine"},
            {"name": "Plane API key", "ok": false, "found": "refused (403)", "fix": "set PLANE_API_TOKEN"},
        ]});
        let text = render(&report);
        assert_eq!(
            text,
            "✓ configuration: fine\n✗ Plane API key: refused (403)\n    → set PLANE_API_TOKEN\n1 check(s) failed.\n"
        );
    }
}
